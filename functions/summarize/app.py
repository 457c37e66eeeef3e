"""SummarizeFunction: the incident's Slack thread → a structured incident report (a draft with ``draft``)."""

from __future__ import annotations

from typing import Any

from opsloop import wiring
from opsloop.step_handler import incident_of, step
from opsloop.lifecycle import summarize_step
from opsloop.models import Analysis, Classification


@step("summarize")
def handler(event: dict[str, Any]) -> Any:
    return summarize_step(incident_of(event), Classification.from_dict(event.get("classification")),
                          Analysis.from_dict(event.get("analysis")), event.get("resolution") or {},
                          wiring.incident_store(), wiring.slack_notifier(), wiring.summarizer(),
                          draft=event.get("draft") is True)
