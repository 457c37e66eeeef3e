"""IntakeFunction: CloudWatch Logs subscription batches (direct, or through a Kinesis stream fed by a
cross-account Logs destination) and CloudWatch Alarm state changes → incidents."""

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
    return Intake(get_settings(), wiring.incident_store(), wiring.event_publisher(), notifier=wiring.slack_notifier,
                  templates=wiring.template_learner())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        result = _intake().handle(event, region=os.environ.get("AWS_REGION"))
    except InputError as exc:
        count("IntakeRejected")
        logger().warning("intake rejected the event", extra={"error": str(exc)[:300]})
        raise
    for name, value in result.get("metrics", {}).items():
        count(name, value)
    if result.get("dropped"):
        logger().warning("batch set aside", extra={"reason": result["dropped"], "account": result.get("account")})
    logger().info("intake done", extra={k: v for k, v in result.items() if k not in ("counted", "metrics")})
    if "batchItemFailures" in result:
        return {"batchItemFailures": result["batchItemFailures"]}
    return result
