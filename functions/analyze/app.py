"""AnalyzeFunction: root cause, fix steps and cited sources from the team's knowledge."""

from __future__ import annotations

from typing import Any

from opsloop import wiring
from opsloop.step_handler import incident_of, step
from opsloop.lifecycle import analyze_step
from opsloop.models import Classification


@step("analyze")
def handler(event: dict[str, Any]) -> Any:
    return analyze_step(incident_of(event), Classification.from_dict(event.get("classification")), wiring.analyst())
