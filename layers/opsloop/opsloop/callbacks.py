"""Task callbacks over Step Functions: how a click in Slack ends the execution's wait.

The wait's task token is kept server side (never sent to Slack); a click sends it back once with
SendTaskSuccess. Step Functions answers a token that no longer waits (the wait timed out, the reminder
wait replaced it, the execution ended) with an error code; that is :class:`~opsloop.errors.CallbackRefused`
here, and the caller decides (retry with the fresh token, or give the click back). Other failures leave
through :mod:`opsloop.aws_errors`.
"""

from __future__ import annotations

from typing import Any

from .aws_errors import error_code, map_aws_error
from .errors import CallbackRefused


class StepFunctionsCallbacks:
    """:class:`opsloop.ports.TaskCallbacks` over a Step Functions client."""

    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn

    def succeed(self, token: str, output: str) -> None:
        try:
            self.sfn.send_task_success(taskToken=token, output=output)
        except Exception as exc:  # noqa: BLE001 - a refusal by code, or an opsloop error
            code = error_code(exc)
            if code:
                raise CallbackRefused(code) from exc
            raise map_aws_error(exc, "Step Functions SendTaskSuccess") from exc


__all__ = ["StepFunctionsCallbacks"]
