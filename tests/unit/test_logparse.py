"""Decoding CloudWatch Logs subscription payloads: hostile envelopes fail clearly, odd lines survive."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import pytest

from opsloop.errors import InputError
from opsloop.logparse import decode_event, decode_subscription, extract_message, level_of


def payload(events: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/orders-api",
        "logStream": "2024/05/01/[$LATEST]abcdef0123456789",
        "subscriptionFilters": ["opsloop-errors"],
        "logEvents": events if events is not None else [],
    }
    doc.update(overrides)
    return doc


def encode(doc: Any = None, raw_json: bytes | None = None) -> str:
    body = raw_json if raw_json is not None else json.dumps(doc).encode()
    return base64.b64encode(gzip.compress(body)).decode()


def ev(message: str, i: int = 1) -> dict[str, Any]:
    return {"id": f"3765{i:04d}", "timestamp": 1714550400000 + i, "message": message}


# ---------------------------------------------------------------------------- envelope


def test_data_message_decodes_into_lines_in_order() -> None:
    batch = decode_event({"awslogs": {"data": encode(payload([ev("ERROR boom", 1), ev("INFO ok", 2)]))}})
    assert batch.message_type == "DATA_MESSAGE"
    assert (batch.owner, batch.log_group) == ("123456789012", "/aws/lambda/orders-api")
    assert batch.log_stream.endswith("abcdef0123456789")
    assert batch.subscription_filters == ["opsloop-errors"]
    assert [(ln.id, ln.timestamp_ms, ln.message, ln.level) for ln in batch.lines] == [
        ("37650001", 1714550400001, "ERROR boom", "ERROR"),
        ("37650002", 1714550400002, "INFO ok", "INFO"),
    ]
    assert batch.problems == []


def test_control_message_has_no_lines() -> None:
    doc = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
           "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}
    batch = decode_subscription(encode(doc))
    assert batch.message_type == "CONTROL_MESSAGE"
    assert batch.lines == []


def test_empty_log_events_give_an_empty_batch() -> None:
    batch = decode_subscription(encode(payload([])))
    assert batch.lines == [] and batch.problems == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("this is not base64!!", "not base64"),
        ("", "empty"),
        (base64.b64encode(b"plain bytes, no gzip").decode(), "not gzip"),
        (base64.b64encode(gzip.compress(b'{"messageType": "DATA_MESSAGE"')).decode(), "not JSON"),
        (base64.b64encode(gzip.compress(b"[1, 2, 3]")).decode(), "JSON object"),
        (base64.b64encode(gzip.compress(b'{"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", '
                                        b'"logStream": "s", "logEvents": {"id": 1}}')).decode(), "logEvents must be a list"),
        (base64.b64encode(gzip.compress(b'{"owner": "1"}')).decode(), "missing messageType"),
        (base64.b64encode(gzip.compress(b'{"messageType": "DATA_MESSAGE", "owner": "1"}')).decode(), "missing logGroup"),
    ],
)
def test_broken_envelopes_raise_input_error_saying_what_is_wrong(data: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        decode_subscription(data)


def test_truncated_gzip_is_reported_as_truncated() -> None:
    full = gzip.compress(json.dumps(payload([ev("x" * 5000)])).encode())
    with pytest.raises(InputError, match="truncated gzip"):
        decode_subscription(base64.b64encode(full[: len(full) // 2]).decode())


def test_corrupt_gzip_is_reported_as_corrupt() -> None:
    full = bytearray(gzip.compress(json.dumps(payload([ev("hello world " * 50)])).encode()))
    full[12:40] = b"\xff" * 28  # damage the deflate stream, keep the header
    with pytest.raises(InputError, match="corrupt gzip|truncated gzip"):
        decode_subscription(base64.b64encode(bytes(full)).decode())


def test_event_without_awslogs_is_rejected() -> None:
    with pytest.raises(InputError, match="awslogs.data"):
        decode_event({"detail-type": "CloudWatch Alarm State Change"})


# ---------------------------------------------------------------------------- lines


def test_non_utf8_bytes_are_replaced_and_reported_for_that_line() -> None:
    good = json.dumps(ev("ERROR first", 1))
    bad = json.dumps(ev("ERROR caf@ broken", 2)).replace("@", "\\u0040").encode().replace(b"\\u0040", b"\xe9\xff")
    raw = (b'{"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s", '
           b'"subscriptionFilters": [], "logEvents": [' + good.encode() + b", " + bad + b"]}")
    batch = decode_subscription(encode(raw_json=raw))
    assert [ln.message for ln in batch.lines] == ["ERROR first", "ERROR caf\ufffd\ufffd broken"]
    assert batch.problems == ["line 2: not UTF-8, decoded with replacement"]
    for ln in batch.lines:
        ln.message.encode("utf-8")  # would raise on a lone surrogate


def test_malformed_event_is_skipped_but_the_rest_is_delivered() -> None:
    batch = decode_subscription(encode(payload([ev("ERROR a", 1), {"id": "x"}, "junk", ev("ERROR b", 4)])))
    assert [ln.message for ln in batch.lines] == ["ERROR a", "ERROR b"]
    assert batch.problems == ["line 2: no message, skipped", "line 3: not an object, skipped"]


def test_256kb_line_is_bounded_and_fast() -> None:
    line = "ERROR " + ("abc123 " * (256 * 1024 // 7))
    t0 = time.perf_counter()
    batch = decode_subscription(encode(payload([ev(line)])), max_message_bytes=8192)
    elapsed = time.perf_counter() - t0
    (only,) = batch.lines
    assert only.truncated and len(only.message.encode()) <= 8192
    assert only.message.startswith("ERROR abc123")
    assert batch.problems == ["line 1: longer than 8192 bytes, truncated"]
    assert elapsed < 1.0


def test_1mb_message_is_cut_utf8_safely_with_a_visible_marker() -> None:
    raw = "€" * (1024 * 1024 // 3)  # 3 bytes each: a cut can easily land inside a character
    t0 = time.perf_counter()
    message, level, truncated = extract_message(raw, 1000)
    assert time.perf_counter() - t0 < 1.0
    assert truncated and level is None
    assert len(message.encode("utf-8")) <= 1000
    body, marker = message.split("…")
    assert set(body) == {"€"}
    dropped = len(raw.encode()) - len(body.encode())
    assert marker == f"[truncated {dropped} bytes]"


def test_ansi_colour_codes_and_control_characters_are_removed_but_newlines_and_tabs_kept() -> None:
    raw = "\x1b[31mERROR\x1b[0m\tdb down\x07\x00\r\n  at x (/app/x.js:1:2)\x1b]0;title\x07"
    message, level, truncated = extract_message(raw, 8192)
    assert message == "ERROR\tdb down\n  at x (/app/x.js:1:2)"
    assert level == "ERROR" and not truncated


def test_structured_json_line_contributes_message_level_and_exception() -> None:
    raw = json.dumps({"level": "ERROR", "location": "handler:12", "message": "payment failed",
                      "exception": "Traceback (most recent call last):\n  File \"/var/task/app.py\", line 3, in h\nValueError: bad",
                      "service": "payments"})
    message, level, _ = extract_message(raw, 8192)
    assert level == "ERROR"
    assert message.startswith("payment failed\nTraceback (most recent call last):")
    assert message.endswith("ValueError: bad")


@pytest.mark.parametrize(
    ("record", "message", "level"),
    [
        ({"msg": "timeout calling stripe", "levelname": "WARNING"}, "timeout calling stripe", "WARN"),
        ({"@message": "disk full", "severity": "critical"}, "disk full", "CRITICAL"),
        ({"error": {"message": "ECONNRESET", "stack": "Error: ECONNRESET\n    at TLSWrap (node:net:1:2)"}, "level": 50},
         "ECONNRESET\nError: ECONNRESET\n    at TLSWrap (node:net:1:2)", "ERROR"),
        ({"errorType": "Runtime.ImportModuleError", "errorMessage": "No module named 'x'", "stackTrace": ["line1", "line2"]},
         "Runtime.ImportModuleError: No module named 'x'\nline1\nline2", "ERROR"),
    ],
)
def test_structured_variants(record: dict[str, Any], message: str, level: str) -> None:
    got_message, got_level, _ = extract_message(json.dumps(record), 8192)
    assert (got_message, got_level) == (message, level)


def test_json_without_a_message_field_is_kept_whole() -> None:
    raw = '{"event": "charge", "status": 500}'
    assert extract_message(raw, 8192)[0] == raw


def test_invalid_json_that_looks_like_json_is_plain_text() -> None:
    raw = "{ERROR not json}"
    assert extract_message(raw, 8192) == ("{ERROR not json}", "ERROR", False)


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2024-05-01T10:00:00.000Z\tabc\tERROR\tInvoke Error", "ERROR"),
        ("[WARNING]\t2024-05-01T10:00:00Z\tslow", "WARN"),
        ("FATAL: out of memory", "FATAL"),
        ("[error] upstream timed out", "ERROR"),
        ("level=warn msg=retrying", "WARN"),
        ("CRIT disk", "CRITICAL"),
        ("Traceback (most recent call last):", "ERROR"),
        ("Task timed out after 3.00 seconds", "ERROR"),
        ("all good, no errors", None),
        ("terrorist ERRORS INFORMATION", None),
        ("DEBUG cache miss", "DEBUG"),
    ],
)
def test_level_of_plain_text(line: str, level: str | None) -> None:
    assert level_of(line) == level


def test_level_far_into_a_long_line_is_ignored() -> None:
    assert level_of("x" * 1000 + " ERROR") is None
