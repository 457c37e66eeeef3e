"""Map Bedrock failures onto opsloop's two error classes, so Step Functions can retry or give up.

Bedrock reports a failure three ways: a ``ClientError`` from the call itself, an ``EventStreamError``
(a ``ClientError`` subclass) raised while an agent's answer is being streamed, or a botocore transport
error (timeouts, refused connections). Throttles, quota bursts, cold models, 429 and 5xx are worth a retry
with backoff (:class:`~opsloop.errors.TransientError`); a denied model, a bad request or a missing
agent/knowledge base will fail the same way every time (:class:`~opsloop.errors.PermanentError`), so the
message says what to fix. Messages carry the operation, the error code and AWS's own (bounded) message;
never the request parameters, which may contain log text.
"""

from __future__ import annotations

import re
from typing import Any, Callable, TypeVar

from ..errors import OpsloopError, PermanentError, TransientError

R = TypeVar("R")

#: Error codes (compared case-insensitively: event-stream errors arrive as ``throttlingException``).
TRANSIENT_CODES = frozenset(code.lower() for code in (
    "ThrottlingException",
    "ServiceQuotaExceededException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "InternalServerException",
    "ServiceUnavailableException",
    "dependencyFailedException",
    "BadGatewayException",
    "TooManyRequestsException",
    "RequestTimeout",
    "RequestTimeoutException",
    # invoke_agent answers ConflictException while another request holds the same session: it clears.
    "ConflictException",
))

MAX_MESSAGE_CHARS = 300

# AWS error messages do not carry secrets, but they may echo an access key id or a signature on a
# misconfigured client; strip those shapes before the message reaches a log or a Slack failure notice.
_SECRETISH = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b|\b[A-Za-z0-9/+=]{40,}\b")


def _clean(message: str) -> str:
    message = _SECRETISH.sub("[redacted]", " ".join(str(message).split()))
    return message[:MAX_MESSAGE_CHARS]


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ``ClientError`` ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return _clean((response.get("Error") or {}).get("Message") or "")
    return _clean(str(exc))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        try:
            return int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        except (TypeError, ValueError):
            return 0
    return 0


def map_error(exc: BaseException, operation: str, *, model_id: str = "") -> OpsloopError:
    """Translate a botocore/Bedrock exception into TransientError or PermanentError (returned, not raised).

    Anything already an :class:`OpsloopError` is returned unchanged.
    """
    if isinstance(exc, OpsloopError):
        return exc
    from botocore.exceptions import (  # lazy: keeps this module importable without botocore loaded
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)):
        return TransientError(f"bedrock {operation}: {type(exc).__name__}: the service did not answer in time")
    if isinstance(exc, NoCredentialsError):
        return PermanentError(f"bedrock {operation}: no AWS credentials available to the function")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        lowered = code.lower()
        status = _status(exc)
        detail = error_message(exc).rstrip(". ")
        what = f"bedrock {operation}: {code or status or 'error'}"
        if lowered in TRANSIENT_CODES or status == 429 or status >= 500:
            return TransientError(f"{what}: {detail}" if detail else what)
        if lowered == "accessdeniedexception":
            return PermanentError(
                f"{what}: {detail}. Enable model access in the Bedrock console for {model_id or 'the model'} "
                "and check that the function's IAM role allows this call")
        if lowered == "resourcenotfoundexception":
            return PermanentError(f"{what}: {detail}. Check the configured agent, alias, knowledge base, data "
                                  "source or model id, and the region")
        return PermanentError(f"{what}: {detail}" if detail else what)
    return PermanentError(f"bedrock {operation}: {type(exc).__name__}: {_clean(str(exc))}")


def call(operation: str, fn: Callable[..., R], *, model_id: str = "", **kwargs: Any) -> R:
    """Call ``fn(**kwargs)`` and raise any failure as an opsloop error (the cause stays chained)."""
    try:
        return fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure leaves as Transient or Permanent
        raise map_error(exc, operation, model_id=model_id) from exc


__all__ = ["TRANSIENT_CODES", "call", "error_code", "error_message", "map_error"]
