"""IntakeFunction: CloudWatch Logs subscription batches and CloudWatch Alarm state changes → incidents."""

from __future__ import annotations

import functools
import os
from typing import Any

from opsloop import wiring
from opsloop.config import get_settings
from opsloop.errors import InputError
from opsloop.intake import Intake
from opsloop.observability import count, logger


@functools.lru_cache(maxsize=1)
def _intake() -> Intake:
    return Intake(get_settings(), wiring.incident_store(), wiring.aws_client("events"), notifier=wiring.slack_notifier,
                  templates=wiring.template_learner())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    intake = _intake()
    if isinstance(event, dict) and isinstance(event.get("awslogs"), dict):
        result = intake.handle_subscription(str(event["awslogs"].get("data", "")), region=os.environ.get("AWS_REGION"))
    elif isinstance(event, dict) and event.get("detail-type") == "CloudWatch Alarm State Change":
        result = intake.handle_alarm(event)
    else:
        count("IntakeRejected")
        raise InputError("not a CloudWatch Logs subscription event or a CloudWatch Alarm State Change")
    for name, value in (("LinesReceived", result.lines), ("LinesIgnored", result.ignored),
                        ("LinesMalformed", result.bad_lines), ("IncidentsOpened", len(result.opened)),
                        # lines counted against an incident already open (storm control), not announced again
                        ("LinesDeduplicated", max(0, result.lines - result.ignored - result.bad_lines - len(result.opened)))):
        if value:
            count(name, value)
    logger().info("intake done", extra={k: v for k, v in result.to_dict().items() if k != "counted"})
    return result.to_dict()
