"""One mapping of AWS SDK failures onto opsloop's two error classes, for every AWS service opsloop calls.

Step Functions decides by the error's class name: :class:`~opsloop.errors.TransientError` is retried with
jitter and a cap, :class:`~opsloop.errors.PermanentError` goes to the failure path. botocore reports a failure
as a ``ClientError`` (with an error code and an HTTP status; an ``EventStreamError`` while a response is being
streamed is one too) or as a transport error (timeouts, refused or dropped connections). Throttles, 429, 5xx
and transport errors are worth a retry; everything else will fail the same way again, so the message says
what failed and, where the caller knows, what to fix.

Messages carry the operation, the error code and AWS's own message, bounded and with anything shaped like
a credential removed; never the request parameters, which may hold log text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, TypeVar

from .errors import OpsloopError, PermanentError, TransientError

R = TypeVar("R")

#: Error codes that say "try again later", compared case-insensitively (event-stream errors arrive as
#: ``throttlingException``). One list for every service: a code one service never sends costs nothing.
TRANSIENT_CODES = frozenset(code.lower() for code in (
    # throttling and bursts
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "RequestThrottled",
    "RequestThrottledException", "SlowDown", "ServiceQuotaExceededException", "LimitExceededException",
    # the service is momentarily unable to answer
    "InternalServerError", "InternalServerException", "InternalError", "InternalFailure", "ServiceUnavailable",
    "ServiceUnavailableException", "ServiceFailure", "BadGatewayException", "dependencyFailedException",
    "RequestTimeout", "RequestTimeoutException", "ModelNotReadyException", "ModelTimeoutException",
    # a concurrent writer won; the next attempt sees the new state
    "TransactionConflictException",
))

#: The code DynamoDB answers when a condition does not hold: not a failure but an answer, left to the caller.
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"

MAX_MESSAGE_CHARS = 300

# AWS error messages do not carry secrets, but they may echo an access key id or a signature on a
# misconfigured client; strip those shapes before the message reaches a log or a Slack failure notice.
_SECRETISH = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b|\b[A-Za-z0-9/+=]{40,}\b")


def _clean(message: str) -> str:
    message = _SECRETISH.sub("[redacted]", " ".join(str(message).split()))
    return message[:MAX_MESSAGE_CHARS]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def error_message(exc: BaseException) -> str:
    """AWS's own message of a ``ClientError`` (or the exception's text), bounded and cleaned."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return _clean((response.get("Error") or {}).get("Message") or "")
    return _clean(str(exc))


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        try:
            return int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        except (TypeError, ValueError):
            return 0
    return 0


def is_conditional_check_failed(exc: BaseException) -> bool:
    return error_code(exc) == CONDITIONAL_CHECK_FAILED


def map_aws_error(exc: BaseException, operation: str, *, extra_transient: Iterable[str] = (),
                  hints: Mapping[str, str] | None = None) -> OpsloopError:
    """Translate a botocore exception into TransientError or PermanentError (returned, not raised).

    ``operation`` names the call for the message (e.g. ``"DynamoDB update_item on incidents"``);
    ``extra_transient`` adds codes that are transient for this caller only (e.g. Bedrock's ConflictException
    while an agent session is busy); ``hints`` maps a lower-cased error code to the sentence that tells the
    operator what to fix. Anything already an :class:`OpsloopError` is returned unchanged.
    """
    if isinstance(exc, OpsloopError):
        return exc
    from botocore.exceptions import (  # lazy: keeps this module importable without botocore loaded
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
    )

    if isinstance(exc, (ConnectionError, HTTPClientError)):  # timeouts, refused and dropped connections
        return TransientError(f"{operation}: {type(exc).__name__}: the service did not answer in time")
    if isinstance(exc, NoCredentialsError):
        return PermanentError(f"{operation}: no AWS credentials available to the function")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        lowered = code.lower()
        status = http_status(exc)
        detail = error_message(exc).rstrip(". ")
        what = f"{operation}: {code or status or 'error'}"
        transient = lowered in TRANSIENT_CODES or lowered in {c.lower() for c in extra_transient}
        if transient or status == 429 or status >= 500:
            return TransientError(f"{what}: {detail}" if detail else what)
        hint = (hints or {}).get(lowered)
        if hint:
            return PermanentError(f"{what}: {detail}. {hint}" if detail else f"{what}. {hint}")
        return PermanentError(f"{what}: {detail}" if detail else what)
    return PermanentError(f"{operation}: {type(exc).__name__}: {_clean(str(exc))}")


def aws_call(operation: str, fn: Callable[..., R], *, extra_transient: Iterable[str] = (),
             hints: Mapping[str, str] | None = None, **kwargs: Any) -> R:
    """Call ``fn(**kwargs)`` and raise any failure as an opsloop error (the cause stays chained)."""
    try:
        return fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure leaves as Transient or Permanent
        raise map_aws_error(exc, operation, extra_transient=extra_transient, hints=hints) from exc


__all__ = ["CONDITIONAL_CHECK_FAILED", "TRANSIENT_CODES", "aws_call", "error_code", "error_message",
           "http_status", "is_conditional_check_failed", "map_aws_error"]
