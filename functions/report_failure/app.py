"""ReportFailureFunction: the state machine's one visible failure path (Slack message + metric)."""

from __future__ import annotations

import time
from typing import Any

from opsloop import wiring
from opsloop.step_handler import incident_of, step
from opsloop.lifecycle import report_failure


@step("report_failure")
def handler(event: dict[str, Any]) -> Any:
    return report_failure(incident_of(event), event.get("failure") or {}, wiring.incident_store(),
                          wiring.slack_notifier, now=time.time())
