"""DemoErrorsFunction: logs one realistic application error per run (scheduled when EnableDemoErrors is
"true"), so a fresh deploy can be seen working end to end (the scenarios are :mod:`opsloop.demo_errors`)."""

from __future__ import annotations

from typing import Any

from opsloop.demo_errors import log_demo_error


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    return log_demo_error(str(getattr(context, "aws_request_id", "local")))
