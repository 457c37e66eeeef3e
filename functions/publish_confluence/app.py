"""PublishConfluenceFunction: create the report page, or update the page of the same fingerprint."""

from __future__ import annotations

import dataclasses
from typing import Any

from opsloop import wiring
from opsloop.step_handler import step
from opsloop.lifecycle import publish_step
from opsloop.models import Analysis, Report


@step("publish")
def handler(event: dict[str, Any]) -> Any:
    analysis = Analysis.from_dict(event["analysis"]) if isinstance(event.get("analysis"), dict) else None
    return dataclasses.asdict(publish_step(Report.from_dict(event.get("report")), wiring.wiki(), analysis))
