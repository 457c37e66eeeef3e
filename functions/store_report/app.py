"""StoreReportFunction: the report as Markdown + Bedrock KB metadata in the knowledge bucket (drafts apart)."""

from __future__ import annotations

from typing import Any

from opsloop import wiring
from opsloop.config import get_settings
from opsloop.step_handler import incident_of, step
from opsloop.lifecycle import store_step
from opsloop.models import Report


@step("store")
def handler(event: dict[str, Any]) -> Any:
    s = get_settings()
    return store_step(incident_of(event), Report.from_dict(event.get("report")), event.get("page") or {},
                      wiring.report_archive(), s.reports_prefix, wiring.incident_store(),
                      drafts_prefix=s.drafts_prefix)
