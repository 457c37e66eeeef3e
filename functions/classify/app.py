"""ClassifyFunction: category and severity of the incident."""

from __future__ import annotations

from typing import Any

from opsloop.step_handler import incident_of, step
from opsloop.lifecycle import classify_step


@step("classify")
def handler(event: dict[str, Any]) -> Any:
    return classify_step(incident_of(event))
