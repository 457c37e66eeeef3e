"""Map Bedrock failures onto opsloop's two error classes, so Step Functions can retry or give up.

Bedrock reports a failure three ways: a ``ClientError`` from the call itself, an ``EventStreamError``
(a ``ClientError`` subclass) raised while an agent's answer is being streamed, or a botocore transport
error (timeouts, refused connections). Throttles, quota bursts, cold models, 429 and 5xx are worth a retry
with backoff (:class:`~opsloop.errors.TransientError`); a denied model, a bad request or a missing
agent/knowledge base will fail the same way every time (:class:`~opsloop.errors.PermanentError`), so the
message says what to fix. Messages carry the operation, the error code and AWS's own (bounded) message;
never the request parameters, which may contain log text. The mapping itself is :mod:`opsloop.aws_errors`,
shared with every other AWS call; this module adds what only Bedrock needs: one more transient code and
the sentences that say what to fix.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from ..aws_errors import TRANSIENT_CODES as AWS_TRANSIENT_CODES
from ..aws_errors import error_code, error_message, map_aws_error
from ..errors import OpsloopError

R = TypeVar("R")

#: Transient for Bedrock only: invoke_agent answers ConflictException while another request holds the same
#: session, and that clears. (Every other transient code is opsloop.aws_errors' one list.)
BEDROCK_TRANSIENT = frozenset({"conflictexception"})
TRANSIENT_CODES = AWS_TRANSIENT_CODES | BEDROCK_TRANSIENT


def _hints(model_id: str) -> dict[str, str]:
    return {
        "accessdeniedexception": f"Enable model access in the Bedrock console for {model_id or 'the model'} "
                                 "and check that the function's IAM role allows this call",
        "resourcenotfoundexception": "Check the configured agent, alias, knowledge base, data source or model "
                                     "id, and the region",
    }


def map_error(exc: BaseException, operation: str, *, model_id: str = "") -> OpsloopError:
    """Translate a botocore/Bedrock exception into TransientError or PermanentError (returned, not raised).

    Anything already an :class:`OpsloopError` is returned unchanged.
    """
    return map_aws_error(exc, f"bedrock {operation}", extra_transient=BEDROCK_TRANSIENT, hints=_hints(model_id))


def call(operation: str, fn: Callable[..., R], *, model_id: str = "", **kwargs: Any) -> R:
    """Call ``fn(**kwargs)`` and raise any failure as an opsloop error (the cause stays chained)."""
    try:
        return fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure leaves as Transient or Permanent
        raise map_error(exc, operation, model_id=model_id) from exc


__all__ = ["TRANSIENT_CODES", "call", "error_code", "error_message", "map_error"]
