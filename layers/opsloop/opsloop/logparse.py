"""Decoding what Lambda receives from a CloudWatch Logs subscription filter.

The event is ``{"awslogs": {"data": "<base64 of gzip of JSON>"}}``; the JSON names the log group and
stream and carries up to 10,000 ``logEvents``. Everything in it is untrusted: the envelope may be
corrupt, and a message may be megabytes long, carry ANSI colour codes, invalid UTF-8 or a structured
JSON record. A broken envelope raises :class:`opsloop.errors.InputError` (retrying cannot fix it);
a problem with one line is recorded in ``problems`` and the rest of the batch is still delivered, so a
single odd line never hides the errors around it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import InputError

MAX_ENVELOPE_BYTES = 8 * 1024 * 1024  # base64 text; Lambda's own event limit is far below this
# A subscription batch is at most one PutLogEvents batch (1 MiB of messages, 10,000 events) plus its JSON
# framing. Decoded, a payload costs roughly ten times its size in Python objects, so both bounds keep the
# intake function (512 MB) far from an out-of-memory kill: a bigger payload is not CloudWatch's, it is rejected.
MAX_DECOMPRESSED_BYTES = 6 * 1024 * 1024  # gzip bomb guard
MAX_LOG_EVENTS = 10_000
MAX_JSON_LINE_CHARS = 2 * 1024 * 1024  # larger "JSON" lines are treated as plain text
MAX_PROBLEMS = 100
_MIN_BYTES_FOR_MARKER = 64
_HEAD_CHARS = 256  # where level_of looks for a level


@dataclass(frozen=True)
class LogLine:
    id: str
    timestamp_ms: int
    message: str  # cleaned, UTF-8 safe, at most max_message_bytes bytes
    level: str | None  # FATAL | CRITICAL | ERROR | WARN | INFO | DEBUG | TRACE, or None when unknown
    truncated: bool


@dataclass(frozen=True)
class SubscriptionBatch:
    message_type: str  # DATA_MESSAGE | CONTROL_MESSAGE
    owner: str
    log_group: str
    log_stream: str
    subscription_filters: list[str] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # per-line issues, e.g. "line 3: not UTF-8, ..."


# --------------------------------------------------------------------------------------------------
# Levels
# --------------------------------------------------------------------------------------------------
_CANONICAL = {
    "FATAL": "FATAL", "EMERG": "FATAL", "EMERGENCY": "FATAL", "PANIC": "FATAL", "ALERT": "FATAL",
    "CRITICAL": "CRITICAL", "CRIT": "CRITICAL",
    "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR",
    "WARN": "WARN", "WARNING": "WARN",
    "NOTICE": "INFO", "INFO": "INFO",
    "DEBUG": "DEBUG", "FINE": "DEBUG", "TRACE": "TRACE",
}
_LEVEL_WORDS = "FATAL|EMERGENCY|EMERG|PANIC|ALERT|CRITICAL|CRIT|ERROR|ERR|SEVERE|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE"
# Upper-case level words as tokens ("ERROR", "[WARN]", "E/ERROR:"), any case inside brackets or after
# level= ("[error]", "level=warning", "\"level\": \"error\"").
_LEVEL_RE = re.compile(
    r"(?<![A-Za-z0-9_])(" + _LEVEL_WORDS + r")(?![A-Za-z0-9_])"
    r"|\[(?i:(" + _LEVEL_WORDS + r"))\]"
    r"|(?i:level\"?\s{0,3}[=:]\s{0,3}\"?(" + _LEVEL_WORDS + r"))(?![A-Za-z])")
_ERROR_SHAPES = ("Traceback (most recent call last)", "Exception in thread ", "Unhandled Promise Rejection",
                 "Task timed out after ", "Runtime exited with error", "Runtime.")


def level_of(message: str) -> str | None:
    """The severity a plain-text line announces near its start, canonicalised; None when it says none.

    Only the head of the line is examined: loggers put the level first, and a word such as "error" deep
    inside a message ("retrying after error") says nothing about the line's own severity.
    """
    head = message[:_HEAD_CHARS]
    m = _LEVEL_RE.search(head)
    if m:
        word = next(g for g in m.groups() if g)
        return _CANONICAL.get(word.upper())
    if any(shape in head for shape in _ERROR_SHAPES):
        return "ERROR"
    return None


def _level_field(value: Any) -> str | None:
    if isinstance(value, str):
        return _CANONICAL.get(value.strip().upper(), value.strip().upper()[:16] or None)
    if isinstance(value, int) and not isinstance(value, bool):  # pino/bunyan numeric levels
        return "FATAL" if value >= 60 else "ERROR" if value >= 50 else "WARN" if value >= 40 else \
            "INFO" if value >= 30 else "DEBUG" if value >= 20 else "TRACE"
    return None


# --------------------------------------------------------------------------------------------------
# One message
# --------------------------------------------------------------------------------------------------
_ANSI_RE = re.compile(r"\x1b\[[0-?]{0,32}[ -/]{0,8}[@-~]|\x1b\][^\x07\x1b]{0,1024}(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_MESSAGE_KEYS = ("message", "msg", "@message", "errorMessage", "error.message", "err.message")
_LEVEL_KEYS = ("level", "levelname", "severity", "@level", "log.level", "loglevel", "lvl")
_STACK_KEYS = ("exception", "stack_trace", "stackTrace", "stack", "error.stack", "err.stack", "exc_info", "traceback")


def clean_text(text: str) -> str:
    """Remove terminal escapes and control characters (keeping newlines and tabs), fix lone surrogates."""
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    if _SURROGATE_RE.search(text):
        text = _SURROGATE_RE.sub("\ufffd", text)
    return text


def truncate_utf8(text: str, max_bytes: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes, never inside a character, with a marker that
    says how much was dropped. The marker is counted in the budget when the budget allows it."""
    if len(text) * 4 <= max_bytes:  # cannot exceed the budget whatever the characters
        return text, False
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text, False
    marker_room = 40 if max_bytes >= _MIN_BYTES_FOR_MARKER else 0
    kept = data[: max(0, max_bytes - marker_room)].decode("utf-8", "ignore")
    dropped = len(data) - len(kept.encode("utf-8"))
    marker = f"…[truncated {dropped} bytes]" if marker_room else ""
    return kept + marker, True


def _lookup(record: Mapping[str, Any], dotted: str) -> Any:
    if dotted in record:
        return record[dotted]
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(v.rstrip("\n") for v in value)  # stackTrace as a list of frames
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _structured(raw: str) -> tuple[str, str | None] | None:
    """(message, level) of a JSON log record, or None when the line is not one."""
    s = raw.strip()
    if not (s.startswith("{") and s.endswith("}")) or len(s) > MAX_JSON_LINE_CHARS:
        return None
    try:
        record = json.loads(s)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    message = next((m for k in _MESSAGE_KEYS if (m := _lookup(record, k)) not in (None, "")), None)
    level = next((lv for k in _LEVEL_KEYS if (lv := _level_field(_lookup(record, k))) is not None), None)
    text = s if message is None else _as_text(message)
    if message is not None and isinstance(record.get("errorType"), str) and record["errorType"] not in text:
        text = f"{record['errorType']}: {text}"  # Lambda's own error record
    stack = next((st for k in _STACK_KEYS if (st := _lookup(record, k)) not in (None, "", [])), None)
    if stack is not None:
        stack_text = _as_text(stack)
        if stack_text and stack_text not in text:
            text = f"{text}\n{stack_text}"
    if level is None:
        level = level_of(text)
    return text, level


def extract_message(raw: str, max_bytes: int) -> tuple[str, str | None, bool]:
    """(message, level, truncated) for one raw log message.

    Structured JSON lines contribute their message field, level field and any exception / stack field;
    plain lines are taken as they are and their level guessed from the text. The result has no ANSI
    codes or control characters other than newline and tab, is valid UTF-8, and is at most
    ``max_bytes`` bytes long (with a visible ``…[truncated N bytes]`` marker when it was cut).
    """
    parsed = _structured(raw)
    if parsed is None:
        text, level = raw, None
    else:
        text, level = parsed
    text = clean_text(text).strip("\n")
    if level is None:
        level = level_of(text)
    text, truncated = truncate_utf8(text, max_bytes)
    return text, level, truncated


# --------------------------------------------------------------------------------------------------
# The envelope
# --------------------------------------------------------------------------------------------------
def _b64(data: str | bytes) -> bytes:
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeEncodeError as exc:
            raise InputError("awslogs.data is not base64: it contains non-ASCII characters") from exc
    if not isinstance(data, bytes):
        raise InputError(f"awslogs.data must be a string, got {type(data).__name__}")
    data = data.strip()
    if not data:
        raise InputError("awslogs.data is empty")
    if len(data) > MAX_ENVELOPE_BYTES:
        raise InputError(f"awslogs.data is larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"awslogs.data is not base64: {exc}") from exc


def _gunzip(raw: bytes) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        raise InputError("awslogs.data is not gzip (no gzip header)")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise InputError(f"awslogs.data is corrupt gzip: {exc}") from exc
    if len(out) > MAX_DECOMPRESSED_BYTES:
        raise InputError(f"awslogs.data expands beyond {MAX_DECOMPRESSED_BYTES} bytes")
    if not d.eof:
        raise InputError("awslogs.data is truncated gzip (the stream ends early)")
    return out


def _json(payload: bytes) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        # Keep the bad bytes as lone surrogates so each line can report them; clean_text replaces them.
        text = payload.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"awslogs.data is not JSON: {str(exc)[:200]}") from exc


def _str_field(doc: Mapping[str, Any], key: str, required: bool) -> str:
    value = doc.get(key)
    if value is None:
        if required:
            raise InputError(f"subscription payload: missing {key}")
        return ""
    if not isinstance(value, str):
        raise InputError(f"subscription payload: {key} must be a string")
    return clean_text(value)[:1024]


def decode_subscription(data_b64: str, *, max_message_bytes: int = 8192) -> SubscriptionBatch:
    """Decode ``awslogs.data`` into a batch of cleaned, bounded log lines.

    Raises InputError for non-base64, non-gzip, truncated or corrupt gzip, non-JSON and a payload of the
    wrong shape. A CONTROL_MESSAGE (CloudWatch's reachability check) comes back with no lines.
    """
    if max_message_bytes < 1:
        raise InputError("max_message_bytes must be positive")
    doc = _json(_gunzip(_b64(data_b64)))
    if not isinstance(doc, dict):
        raise InputError(f"subscription payload must be a JSON object, got {type(doc).__name__}")
    message_type = _str_field(doc, "messageType", required=True)
    filters_raw = doc.get("subscriptionFilters") or []
    if not isinstance(filters_raw, list):
        raise InputError("subscription payload: subscriptionFilters must be a list")
    filters = [clean_text(f)[:256] for f in filters_raw if isinstance(f, str)]
    control = message_type == "CONTROL_MESSAGE"
    owner = _str_field(doc, "owner", required=not control)
    log_group = _str_field(doc, "logGroup", required=not control)
    log_stream = _str_field(doc, "logStream", required=not control)
    if control:
        return SubscriptionBatch(message_type, owner, log_group, log_stream, filters, [], [])
    if message_type != "DATA_MESSAGE":
        raise InputError(f"subscription payload: unknown messageType {message_type[:40]!r}")
    events = doc.get("logEvents", [])
    if not isinstance(events, list):
        raise InputError("subscription payload: logEvents must be a list")
    if len(events) > MAX_LOG_EVENTS:
        raise InputError(f"subscription payload: {len(events)} logEvents, more than the {MAX_LOG_EVENTS} "
                         "a CloudWatch Logs batch can carry")
    lines: list[LogLine] = []
    problems: list[str] = []

    def problem(text: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)
        elif len(problems) == MAX_PROBLEMS:
            problems.append("more problems not listed")

    for n, ev in enumerate(events, start=1):
        line = _event(n, ev, max_message_bytes, problem)
        if line is not None:
            lines.append(line)
    return SubscriptionBatch(message_type, owner, log_group, log_stream, filters, lines, problems)


def _event(n: int, ev: Any, max_bytes: int, problem: Any) -> LogLine | None:
    if not isinstance(ev, dict):
        problem(f"line {n}: not an object, skipped")
        return None
    raw = ev.get("message")
    if not isinstance(raw, str):
        problem(f"line {n}: no message, skipped")
        return None
    ts = ev.get("timestamp", 0)
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        try:
            ts = int(str(ts))
        except ValueError:
            problem(f"line {n}: timestamp is not a number, using 0")
            ts = 0
    if _SURROGATE_RE.search(raw):
        problem(f"line {n}: not UTF-8, decoded with replacement")
    message, level, truncated = extract_message(raw, max_bytes)
    if truncated:
        problem(f"line {n}: longer than {max_bytes} bytes, truncated")
    return LogLine(id=str(ev.get("id", ""))[:128], timestamp_ms=int(ts), message=message, level=level, truncated=truncated)


def decode_event(event: Mapping[str, Any], *, max_message_bytes: int = 8192) -> SubscriptionBatch:
    """Decode a whole Lambda event ``{"awslogs": {"data": ...}}``."""
    awslogs = event.get("awslogs") if isinstance(event, Mapping) else None
    if not isinstance(awslogs, Mapping) or "data" not in awslogs:
        raise InputError("event has no awslogs.data: not a CloudWatch Logs subscription event")
    return decode_subscription(awslogs["data"], max_message_bytes=max_message_bytes)


__all__ = ["LogLine", "SubscriptionBatch", "clean_text", "decode_event", "decode_subscription", "extract_message",
           "level_of", "truncate_utf8", "MAX_DECOMPRESSED_BYTES", "MAX_LOG_EVENTS"]
