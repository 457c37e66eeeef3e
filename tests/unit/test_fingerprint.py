"""Fingerprints: one key per kind of error, stable across values, processes, prefixes and redeploys."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop import fingerprint as fingerprint_module
from opsloop.fingerprint import PLACEHOLDER, Fingerprint, clear_caches, fingerprint, fingerprint_rows, mask

ROOT = Path(__file__).resolve().parents[2]

PY_TRACE = """[ERROR] ValueError: invalid order id 123
Traceback (most recent call last):
  File "/var/runtime/bootstrap.py", line 60, in handle_event_request
    response = request_handler(event, lambda_context)
  File "/var/task/app.py", line 12, in handler
    return process(event)
  File "/var/task/orders/service.py", line 88, in process
    raise ValueError(f"invalid order id {oid}")
ValueError: invalid order id 123"""

JAVA_TRACE = """java.lang.IllegalStateException: Connection pool exhausted after 30000ms
\tat com.acme.orders.Repo.save(Repo.java:42)
\tat com.acme.orders.Service.place(Service.java:17)
\tat org.springframework.aop.framework.ReflectiveMethodInvocation.proceed(ReflectiveMethodInvocation.java:186)
\tat com.acme.orders.Handler.handleRequest(Handler.java:9)
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available
\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:696)
\t... 12 more"""

NODE_TRACE = """TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/var/task/src/users.js:10:15)
    at async Runtime.handler (/var/task/index.js:5:3)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"""


def test_result_shape() -> None:
    fp = fingerprint("payment 42 failed")
    assert isinstance(fp, Fingerprint)
    assert len(fp.fingerprint) == 16 and int(fp.fingerprint, 16) >= 0
    assert fp.template == "payment <*> failed"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("payment 42 failed for order 77", "payment 9 failed for order 1000001"),
        ("Connection refused to 10.0.3.7:5432", "Connection refused to 192.168.1.20:6432"),
        ("request 0f9e8d7c-1111-2222-3333-444455556666 timed out after 3001ms",
         "request a1b2c3d4-aaaa-bbbb-cccc-ddddeeeeffff timed out after 29000ms"),
        ("cannot open /var/task/data/2024/05/01.json", "cannot open /tmp/x/y.json"),
        ("GET https://api.example.com/v1/orders/42?x=1 returned 503", "GET https://api.example.com/v1/users/7 returned 502"),
        ("mail to alice@example.com bounced", "mail to bob.smith@corp.example.org bounced"),
        ("KeyError: 'customer_id'", "KeyError: 'shipping_address'"),
        ("retry budget: attempt=3 delay=250ms", "retry budget: attempt=7 delay=1s"),
        ("object 0x7f3a2b1c9d80 freed twice", "object 0xdeadbeef freed twice"),
        ("upload of 5.2 KB took 160 ms", "upload of 93.0 B took 7 ms"),
        ("login failed for user alice", "login failed for user bob"),
        ("resolve db-primary.internal failed", "resolve cache-7.example.com failed"),
        ("checksum 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 mismatch",
         "checksum 3c9909afec25354d551dae21590bb26e38d53f2173b8d3dc3eee4c047e7ab1c1 mismatch"),
        ("job started at Fri Jun 17 07:07:00 2005 failed", "job started at Sat Jul  2 13:52:21 2005 failed"),
        ("deleting blk_1 blk_2 blk_3", "deleting blk_9"),
    ],
)
def test_same_template_with_different_values_gives_the_same_fingerprint(a: str, b: str) -> None:
    assert fingerprint(a).fingerprint == fingerprint(b).fingerprint, (fingerprint(a).template, fingerprint(b).template)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("payment failed: card declined", "payment failed: insufficient funds"),
        ("ValueError: bad input", "TypeError: bad input"),
        ("connection to database refused", "connection to cache refused"),
        ("interface eth0 down", "interface eth1 down"),
    ],
)
def test_different_static_words_or_exceptions_give_different_fingerprints(a: str, b: str) -> None:
    assert fingerprint(a).fingerprint != fingerprint(b).fingerprint


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "2024-05-01T10:00:00.123Z\t0f9e8d7c-1111-2222-3333-444455556666\tERROR\t",
        "[ERROR]\t2024-05-01T10:00:00.123Z\t0f9e8d7c-1111-2222-3333-444455556666\t",
        "2024-05-01 10:00:00,123 ERROR ",
        "May 01 10:00:00 WARN ",
        "[2024-05-01T10:00:00Z] [FATAL] ",
        "ERROR: ",
    ],
)
def test_leading_timestamps_levels_and_request_ids_do_not_change_the_fingerprint(prefix: str) -> None:
    assert fingerprint(prefix + "payment 42 failed for order 77").fingerprint == fingerprint("payment 1 failed for order 2").fingerprint


def _strip_with_the_regex_alone(message: str) -> str:
    for _ in range(fingerprint_module._MAX_PREFIX_STEPS):
        m = fingerprint_module._PREFIX_RE.match(message)
        if not m or m.end() == 0:
            break
        message = message[m.end():]
    return message


_PREFIX_PIECES = ["[", "]", " ", "2024", "-", "05", ":", "1", "/", ".", "T", "Z", "+02:00", ",123", "ERROR", "Jan",
                  "Mon", "RequestId:", "0f9e8d7c", "-1111", "ab", "٢٠٢٤", "x", "10.251.42.84", "63543"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["[", "0", "1", "2", "9", "[1", "[٣", "2024-05-01", "[2024/05/01", "1:00:00", "[12:00:01",
                        "0f9e8d7c-1111-2222-3333-444455556666", "[0f9e8d7c-1111-2222-3333-444455556666]:",
                        "[ab9e8d7c-1111-2222-3333-444455556666]", "[ERROR]", "[Jan 5"]),
       st.lists(st.sampled_from(_PREFIX_PIECES), max_size=10))
def test_lines_starting_with_a_digit_or_bracket_lose_exactly_what_the_prefix_pattern_matches(head: str, rest: list[str]) -> None:
    # the cheap test that spares the prefix pattern on lines starting with a number or a "[" never spares it
    # on a line where it matches
    message = head + "".join(rest) + " payment 42 failed"
    assert fingerprint_module.strip_prefix(message) == _strip_with_the_regex_alone(message)


def test_static_words_and_exception_class_stay_in_the_template() -> None:
    fp = fingerprint("botocore.exceptions.ClientError: An error occurred (ThrottlingException) when calling PutItem")
    assert fp.exception == "botocore.exceptions.ClientError"
    assert "ThrottlingException" in fp.template and "PutItem" in fp.template


def test_python_traceback_uses_exception_and_innermost_app_frames_without_line_numbers() -> None:
    fp = fingerprint(PY_TRACE)
    assert fp.exception == "ValueError"
    assert fp.frames == ["orders/service.py:process", "task/app.py:handler"]  # runtime frame dropped
    assert fp.template == "ValueError: invalid order id <*>"
    moved = PY_TRACE.replace("line 12", "line 30").replace("line 88", "line 91").replace("123", "456")
    assert fingerprint(moved).fingerprint == fp.fingerprint


def test_python_traceback_from_a_different_place_is_a_different_incident() -> None:
    elsewhere = PY_TRACE.replace("orders/service.py", "orders/refunds.py")
    assert fingerprint(elsewhere).fingerprint != fingerprint(PY_TRACE).fingerprint


def test_java_trace_keeps_app_frames_and_cause_and_ignores_line_numbers_and_tail() -> None:
    fp = fingerprint(JAVA_TRACE)
    assert fp.exception == "java.lang.IllegalStateException"
    assert fp.frames[:3] == ["com.acme.orders.Repo.save", "com.acme.orders.Service.place", "com.acme.orders.Handler.handleRequest"]
    assert "caused by java.sql.SQLTransientConnectionException" in fp.frames
    other = JAVA_TRACE.replace("Repo.java:42", "Repo.java:44").replace("... 12 more", "... 40 more").replace("30000ms", "5000ms")
    assert fingerprint(other).fingerprint == fp.fingerprint


def test_node_trace_drops_node_internals_and_line_columns() -> None:
    fp = fingerprint(NODE_TRACE)
    assert fp.exception == "TypeError"
    assert fp.frames == ["getUser (src/users.js)", "Runtime.handler (task/index.js)"]
    shifted = NODE_TRACE.replace("users.js:10:15", "users.js:12:3").replace("'id'", "'email'")
    assert fingerprint(shifted).fingerprint == fp.fingerprint


def test_stack_trace_with_only_library_frames_still_uses_them() -> None:
    trace = "Traceback (most recent call last):\n  File \"/var/lang/lib/python3.13/json/decoder.py\", line 3, in decode\n    x\njson.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    fp = fingerprint(trace)
    assert fp.exception == "json.decoder.JSONDecodeError" and fp.frames == ["json/decoder.py:decode"]


def test_same_input_same_output_in_another_process() -> None:
    messages = ["payment 42 failed", PY_TRACE, JAVA_TRACE, "x"]
    here = [fingerprint(m).fingerprint for m in messages]
    code = ("import json,sys; from opsloop.fingerprint import fingerprint; "
            "print(json.dumps([fingerprint(m).fingerprint for m in json.load(sys.stdin)]))")
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT / "layers" / "opsloop"))
    import json

    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(messages), capture_output=True, text=True,
                         env=env, check=True, timeout=60)
    assert json.loads(out.stdout) == here


def test_order_of_calls_does_not_matter() -> None:
    a = fingerprint("disk 3 is 97% full").fingerprint
    for i in range(200):
        fingerprint(f"noise {i} token{i}x{i}")
    assert fingerprint("disk 3 is 97% full").fingerprint == a


def test_huge_and_hostile_input_is_fast() -> None:
    import time

    t0 = time.perf_counter()
    fingerprint("a" * 1_000_000)
    fingerprint("9" * 300_000)
    fingerprint("'" * 100_000 + "\"" * 100_000)
    fingerprint("at x\n" * 50_000)
    assert time.perf_counter() - t0 < 2.0


def test_mask_keeps_words_and_masks_values() -> None:
    assert mask("Invalid user webmaster from 173.234.31.186") == "Invalid user <*> from <*>"
    assert mask("Failed password for root from 5.36.59.76 port 42393 ssh2") == "Failed password for <*> from <*> port <*> ssh2"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fingerprint_is_total_and_deterministic(text: str) -> None:
    a, b = fingerprint(text), fingerprint(text)
    assert a == b and len(a.fingerprint) == 16


def test_java_exception_below_a_logger_header_line_is_the_identity() -> None:
    # GIVEN logback's usual shape: a header line with varying values, then the exception, then frames
    def event(n: int, thread: int) -> str:
        return (f"2026-11-25T09:14:0{n}.112Z ERROR [http-nio-8080-exec-{thread}] c.e.orders.OrderRepository - "
                f"Failed to load order {84213 + n}\n"
                f"java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request "
                f"timed out after {30000 + n}ms.\n"
                "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)\n"
                f"\tat com.example.orders.OrderRepository.findById(OrderRepository.java:{57 + n})")

    a, b = fingerprint(event(1, 7)), fingerprint(event(2, 3))
    assert a.exception == "java.sql.SQLTransientConnectionException"
    assert a.fingerprint == b.fingerprint
    assert "com.example.orders.OrderRepository.findById" in a.frames


# ---------------------------------------------------------------------------- stability and memos

# Keys of incidents already stored must keep matching: these values are pinned, a change here splits
# every open incident of that kind in two.
PINNED = [
    ("payment 42 failed for order 77", "c31f2a152c22c93c", "payment <*> failed for order <*>"),
    ("Connection refused to 10.0.3.7:5432", "2d032e53940338eb", "Connection refused to <*>"),
    ("2024-05-01T10:00:00.123Z\t0f9e8d7c-1111-2222-3333-444455556666\tERROR\tpayment 42 failed", "a7fad92666e54804",
     "payment <*> failed"),
    ("af9e8d7c-1111-2222-3333-444455556666 upstream 503 after 12 ms", "aaba5e05fdb9102d", "upstream <*> after <*>"),
    ("Failed password for root from 5.36.59.76 port 42393 ssh2", "86009f106dfe7e36",
     "Failed password for <*> from <*> port <*> ssh2"),
    ("upload of 5.2 KB took 160 ms", "4dff170f0587c7a6", "upload of <*> took <*>"),
    ("job started at Fri Jun 17 07:07:00 2005 failed", "2b6b035d993a7fed", "job started at <*> failed"),
    ("range 1..2 <*>-<*> ok", "578c3bce3ca08124", "range <*> ok"),
    ("KeyError: 'customer_id'", "10976f2840ef567d", "KeyError: <*>"),
    ("Received block blk_-1608999687919862906 of size 67108864 from /10.251.42.84", "872716ce59b80069",
     "Received block <*> of size <*> from <*>"),
    ("", "b8c9e440ead3ddac", ""),
    ("x", "a94d036e7c8a144f", "x"),
    (PY_TRACE, "cc85d8388e9feb9b", "ValueError: invalid order id <*>"),
    (JAVA_TRACE, "2be0fe899e8c8dbb", "java.lang.IllegalStateException: Connection pool exhausted after <*>"),
    (NODE_TRACE, "aebb117686558702", "TypeError: Cannot read properties of undefined (reading <*>)"),
]


@pytest.mark.parametrize(("message", "key", "template"), PINNED, ids=[str(i) for i in range(len(PINNED))])
def test_fingerprints_of_known_messages_never_change(message: str, key: str, template: str) -> None:
    clear_caches()
    cold = fingerprint(message)
    warm = fingerprint(message)  # now served from the memos
    assert (cold.fingerprint, cold.template) == (key, template)
    assert warm == cold


def _fields(fp: Fingerprint) -> tuple[str, str, str | None, list[str]]:
    return fp.fingerprint, fp.template, fp.exception, fp.frames


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["payment", "42", "10.0.0.1:80", "user", "bob", "for", "Jun", "5", "ms", "ERROR",
                                 "Error:", "x=1", "/tmp/a", "'q'", "\n", "  at f (/a/b.js:1:2)", "TypeError: boom",
                                 "0f9e8d7c-1111-2222-3333-444455556666", "..", "<*>", "-", ","]),
                max_size=14).map(" ".join))
def test_memoised_results_equal_freshly_computed_ones(text: str) -> None:
    # GIVEN a message seen before (memo hit) and the same message after the memos are forgotten
    fingerprint(text)
    warm = fingerprint(text)
    clear_caches()
    cold = fingerprint(text)
    # THEN both are the same, field by field
    assert _fields(warm) == _fields(cold)


def test_lines_sharing_a_template_get_the_template_s_key_whatever_was_seen_first() -> None:
    clear_caches()
    first = fingerprint("TimeoutError after 30 s on shard 7")
    second = fingerprint("TimeoutError after 12 s on shard 3")
    clear_caches()
    alone = fingerprint("TimeoutError after 12 s on shard 3")
    assert _fields(second) == _fields(alone) and second.fingerprint == first.fingerprint
    assert alone.exception == "TimeoutError"


def test_a_returned_fingerprint_can_be_changed_without_affecting_later_results() -> None:
    a = fingerprint(PY_TRACE)
    a.frames.append("mutated")
    b = fingerprint(PY_TRACE)
    assert "mutated" not in b.frames and b.frames == ["orders/service.py:process", "task/app.py:handler"]


@pytest.mark.parametrize(
    ("text", "template"),
    [
        ("copied 10 20 30 files", "copied <*> files"),
        ("range 3 - 4 ok", "range <*> ok"),
        ("ids 1, 2, 3 done", "ids <*> done"),
        ("took 5 KB, 6 ms", "took <*>"),
        ("node 10.0.0.1:8080 up", "node <*> up"),
        # leader dots: the unit rule sees "<*>..<*>" before the run is merged, so "KB" stays
        ("1..2 KB", "<*> KB"),
        ("depth.........0 ok", "depth.........<*> ok"),
    ],
)
def test_runs_of_values_merge_within_and_across_tokens(text: str, template: str) -> None:
    clear_caches()
    assert mask(text) == template
    assert mask(text) == template  # and the same from the token memo


_RUN_FRAGMENTS = ["<*>", "<*>,", "-", ",", "..", "...", ":", "1", "2.5", "KB", "ms", "Jun", "user", "for", "x", "(", ")",
                  "1..2", "a=1", "/p/1", "10.0.0.1:80", "'q'", "eth0", "host.example.com", " "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_RUN_FRAGMENTS) | st.text(max_size=4), max_size=14),
       st.sampled_from([" ", "", ", ", " - "]))
def test_a_template_never_holds_a_run_of_placeholders_left_to_merge(parts: list[str], sep: str) -> None:
    # GIVEN any mix of values, separators and words
    from opsloop.fingerprint import _RUN_RE

    template = mask(sep.join(parts))
    # THEN the line-level merge (run only where a run can cross a space) left nothing for the full pass
    assert _RUN_RE.sub("<*>", template) == template


def test_a_long_value_that_is_not_simple_is_masked_in_linear_time() -> None:
    import time

    # GIVEN a 40,000-character token of digits and dots ending in ":x" (every digit used to be a retry)
    token = "1." * 20_000 + ":x"
    t0 = time.perf_counter()
    template = mask("value " + token)
    # THEN it is one value, found fast (the backtracking form took seconds)
    assert template == "value <*>:x"
    assert time.perf_counter() - t0 < 0.5


# Tokens are decided once per *shape* (digits, hex letters, other letters and case told apart, lengths
# and punctuation kept): the tests below hold that to the plain cascade of rules, token by token.
_SAME_CLASS = ["0123456789", "abcdef", "ABCDEF", "ghijklmnopqrstuvwxyz", "GHIJKLMNOPQRSTUVWXYZ"]


def _same_shape(tok: str, pick: random.Random) -> str:
    """Another token of tok's shape: every ASCII digit or letter swapped for one of its class."""
    return "".join(next((pick.choice(c) for c in _SAME_CLASS if ch in c), ch) for ch in tok)


def _cascade(tok: str) -> str:
    from opsloop.fingerprint import _mask_token

    return _mask_token(tok)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789abcfxyzABFXZ.:-_/@=()[]{},;!?'\"`<*>~#$%+&|\\", min_size=1, max_size=24)
       | st.sampled_from(["10.251.73.220:50010", "blk_-6952295868487656571", "0x14ed93111f20005,", "failure;",
                          "(5)", "20,", "eth0", "core.2275", "uid=0", "/10.10.34.11:48373", "rhost=1.2.3.4",
                          "07:07:02", "[173.234.31.186]", "1..2", "abcdefabcdef;", "()", "x86_64"]),
       st.randoms(use_true_random=False))
def test_a_token_s_mask_does_not_depend_on_tokens_of_the_same_shape_seen_before(tok: str, pick: random.Random) -> None:
    # GIVEN a token seen first, which teaches the memo how to mask its shape
    from opsloop.fingerprint import _MEMO

    clear_caches()
    sibling = _same_shape(tok, pick)
    assert _MEMO[tok] == _cascade(tok)
    # WHEN a different token of the same shape comes next
    # THEN it is masked exactly as the full cascade of rules masks it
    assert _MEMO[sibling] == _cascade(sibling)


@pytest.mark.parametrize(
    ("first", "then", "then_template"),
    [
        # a host name's mask depends on its last letters, which a shape does not keep
        ("resolve cache.example.com failed", "resolve cache.example.cxm failed", "resolve cache.example.cxm failed"),
        ("resolve cache.example.cxm failed", "resolve cache.example.com failed", "resolve <*> failed"),
        # twelve hex letters before a delimiter are an id; with one other letter, a word
        ("digest abcdefabcdef; ok", "digest abcdefabcdeg; ok", "digest abcdefabcdeg; ok"),
        ("digest abcdefabcdeg; ok", "digest fedcbafedcba; ok", "digest <*>; ok"),
        ("port (5) and 20, up", "port (7) and 31, up", "port (<*>) and <*>, up"),
        ("nic eth0 up", "nic ab1 up", "nic ab1 up"),
        ("nic eth0 up", "nic a1 up", "nic <*> up"),
    ],
)
def test_what_a_shape_memo_learned_never_leaks_into_a_token_it_does_not_fit(first: str, then: str,
                                                                            then_template: str) -> None:
    clear_caches()
    fingerprint(first)
    warm = fingerprint(then)
    clear_caches()
    cold = fingerprint(then)
    assert warm.template == cold.template == then_template
    assert _fields(warm) == _fields(cold)


# --- batches ----------------------------------------------------------------------------------------
def _rows_one_by_one(messages: list[str]) -> list[tuple[str, str, str | None, tuple[str, ...]]]:
    clear_caches()
    out = [(fp.fingerprint, fp.template, fp.exception, tuple(fp.frames)) for fp in map(fingerprint, messages)]
    clear_caches()
    return out


_BATCH_LINES = [
    "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
    "Receiving block blk_7503483334202473044 src: /10.251.215.16:55695 dest: /10.251.215.16:50010",
    "2026-11-25 12:00:01 ERROR payment 42 failed for order 'A-17' after 350 ms",
    "[ERROR] 0f9e8d7c-1111-2222-3333-444455556666 timeout talking to db-7.internal",
    "0f9e8d7c-1111-2222-3333-444455556666 first word of 36 characters",
    "Failed password for invalid user test from 10.0.0.1 port 22 ssh2",
    "Failed password for root from 10.0.0.2 port 2222 ssh2",
    "Invalid user bob from 10.0.0.3",
    "session opened for user alice by (uid=0)",
    "Sat Jun 18 02:08:10 2005 cupsd shutdown succeeded",
    "Stored block 5 of size 12.5 KB, free 1.2 MB (estimated size 3.0 KB)",
    "done in 5 ms,) and 7 s.",
    'user "bob smith" said \'hello world\' at the door',
    "depth.........0 and 1..2 and <*> <*>, <*> - <*>",
    "",
    "   ",
    "\tleading tab 17",
    "ünïcode wörds 42 and  ٣ digits",
    "NUL \x00 inside 5",
    "Traceback (most recent call last):\n  File \"/var/task/app.py\", line 7, in handler\n    x()\nValueError: bad 42",
    "java.lang.IllegalStateException: boom 17\n\tat com.acme.orders.Service.run(Service.java:42)",
    "x" * 70_000 + " 5",
]


def test_a_batch_gets_exactly_the_fingerprints_of_its_messages_one_by_one() -> None:
    # GIVEN a batch with prefixes, quotes, neighbour rules (user, for, dates, units), runs, empty and blank
    # lines, non-ASCII, a NUL, traces and a line longer than what a fingerprint reads
    # WHEN it is fingerprinted as a batch, cold and again warm
    expected = _rows_one_by_one(_BATCH_LINES)
    cold = fingerprint_rows(_BATCH_LINES)
    warm = fingerprint_rows(_BATCH_LINES)
    # THEN every row is what fingerprint() gives that message alone
    assert cold == expected
    assert warm == expected


def test_for_and_units_in_a_batch_without_authentication_words_are_masked_as_one_by_one() -> None:
    # GIVEN a batch where "for" never follows an authentication word (the name rule of "for" cannot fire),
    # one line also holding a unit with two trailing characters, which mask() rewrites only on a line
    # that has a word of a neighbour rule, such as "for"
    lines = ["request for job 5 ms,) done", "request 5 ms,) done"] + [f"PacketResponder {i} for block blk_{i}7 terminating"
                                                                   for i in range(10)]
    rows = fingerprint_rows(lines)
    # THEN every row is what the message alone gets, and the unit is part of the value only beside "for"
    assert rows == _rows_one_by_one(lines)
    assert [r[1] for r in rows[:3]] == ["request for job <*>,) done", "request <*> ms,) done",
                                        "PacketResponder <*> for block <*> terminating"]


def test_a_storm_of_repeated_lines_gets_a_row_for_every_line_and_one_key() -> None:
    lines = ["disk full on /dev/sda1 at 93%"] * 5000 + ["disk full on /dev/sdb1 at 95%"] * 5000
    rows = fingerprint_rows(lines)
    assert len(rows) == 10_000
    assert {r[0] for r in rows} == {fingerprint(lines[0]).fingerprint}


def test_an_empty_batch_gives_an_empty_list() -> None:
    assert fingerprint_rows([]) == []


def test_the_batch_sentinel_masks_to_itself_and_every_space_is_known() -> None:
    # the batch joins lines around the sentinel token and splits the masked text on it again
    assert fingerprint_module._masked(fingerprint_module._SENTINEL) == fingerprint_module._SENTINEL
    assert fingerprint_module.mask(f"a {fingerprint_module._SENTINEL} b") == f"a {fingerprint_module._SENTINEL} b"
    # the batch's first-character test lists every character str.isspace() accepts
    assert fingerprint_module._SPACES == {chr(c) for c in range(0x110000) if chr(c).isspace()}


_BATCH_WORDS = ["payment", "42", "10.0.0.1:80", "user", "bob", "for", "password", "Jun", "Sat", "5", "ms", "ms,)",
                "KB,", "ERROR", "INFO", "2026-11-25", "12:00:01", "[WARN]", "Error:", "x=1", "/tmp/a", "'q'", '"a b"',
                "0f9e8d7c-1111-2222-3333-444455556666", "..", "<*>", "-", ",", "\t", "\n", "  at f (/a/b.js:1:2)",
                "TypeError: boom", "eth0", "blk_-42", "0x1f", "db-7.internal", "é", "\x00", ""]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_BATCH_WORDS), max_size=10).map(" ".join), min_size=8, max_size=30))
def test_batch_rows_equal_one_by_one_rows_for_any_batch(messages: list[str]) -> None:
    assert fingerprint_rows(messages) == _rows_one_by_one(messages)


def test_lines_that_differ_only_in_digits_get_the_rows_they_get_one_by_one() -> None:
    # GIVEN lines with one skeleton (the same text with other digits): where the template keeps a digit
    # (a name such as eth0, ssh2) each line keeps its own; elsewhere they share one template
    lines = [f"eth{i} link down after {i}{i} ms for user bob{i} on 10.0.{i}.1:80{i}0 Jun 1{i} ssh2" for i in range(10)]
    lines += [f"PacketResponder {i} for block blk_-{i}{i}{i}{i} terminating" for i in range(10)]
    lines += [f"x86_64 v{i}.{i} cpu{i} 0x{i}f {i}.{i} KB" for i in range(10)]
    rows = fingerprint_rows(lines)
    again = fingerprint_rows(lines)  # now every skeleton is known
    # THEN every row is what the message alone gets, cold or warm
    expected = _rows_one_by_one(lines)
    assert rows == expected and again == expected
    assert rows[3][1] == "eth3 link down after <*> for user <*> on <*> ssh2"
    assert rows[4][1] == "eth4 link down after <*> for user <*> on <*> ssh2"
    assert {r[1] for r in rows[10:20]} == {"PacketResponder <*> for block <*> terminating"}
    assert (rows[21][1], rows[22][1]) == ("<*> cpu1 <*>", "<*> cpu2 <*>")  # names keep their digit


def test_lines_keeping_digits_get_their_own_rows_in_later_batches_too() -> None:
    # GIVEN a skeleton whose template keeps a digit (ssh2, tty7), first seen alone in a batch, then again in
    # later batches once, a few times, and many times (where its recipe is learned and then reused)
    def batch(port_digits: list[str], tty: str) -> list[str]:
        lines = [f"Failed password for root from 10.0.0.1 port 5{d}{d}9 ssh2" for d in port_digits]
        lines += [f"ROOT LOGIN ON tty{tty}"] + [f"filler line number {n} here" for n in range(100, 108)]
        return lines

    batches = [batch(["1"], "1"), batch(["2"], "2"), batch(["3", "4"], "3"), batch(list("5678"), "4"),
               batch(list("90123"), "5"), batch(["4"], "6")]
    clear_caches()
    rows = [fingerprint_rows(b) for b in batches]
    # THEN each batch's rows are what every line gets alone
    for b, got in zip(batches, rows):
        assert got == _rows_one_by_one(b)
    assert rows[4][0][1] == "Failed password for <*> from <*> port <*> ssh2"
    assert rows[5][1][1] == "ROOT LOGIN ON tty6"


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(_BATCH_WORDS[:20] + ["eth0", "ssh2", "cpu7", "12", "345", "x86_64", "v2.1", "a1b2",
                                                    "0x1f", "10.0.0.1:80", "blk_-42", "Jun", "18", "KB,"]),
                min_size=1, max_size=10).map(" ".join),
       st.lists(st.integers(0, 2**32), min_size=8, max_size=30))
def test_batch_rows_equal_one_by_one_rows_when_lines_share_a_skeleton(base: str, seeds: list[int]) -> None:
    # every variant of the base line has the same skeleton: the same characters with other digits
    variants = ["".join(str((int(c) + seed // (k + 1)) % 10) if c.isdigit() else c for k, c in enumerate(base))
                for seed in seeds]
    assert fingerprint_rows(variants) == _rows_one_by_one(variants)


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="0123456789abcfxyzABFXZ.:-_/@=()[]{},;!?'\"`<*>~#$%+&|\\", min_size=1, max_size=24)
       | st.builds(lambda a, b, c: "".join(a) + b + "".join(c), st.lists(st.sampled_from(["(", ")", "[", "]", ":", ",", ";", "'", '"', "|", "!", "?"]),
                                     max_size=3),
                   st.sampled_from(["183.62.140.253", "0x34ed9ac1c1e0033", "blk_-42", "16K", "eth0", "1.com", "a.b1",
                                    "1:2", "10.0.0.1", "x86_64", "v2.x", "9.a", "/10.251.42.84:50010", "/var/x.log",
                                    "/a/b:c", "/x:1:2", "/a@b", "/a=b", "/a'b", "/:1", "/a|b!~", "rhost=10.0.0.1",
                                    "tty=NODEVssh", "uid2=5", "abcdefabcdef=1", "k=v=w", "k=<*>", "k=a,b", "_k=(x",
                                    "user=root.example.com", "K=a@b", "k=a/b", "kk=\"q\"", "/bin/x.rts:", "/a:b:",
                                    "/:", "(softheader=00131db8", "[k=v", "((abcdefabcdef=1", "{_=x", "(=1",
                                    "hdfs://10.10.34.11:9000/a/b.log:12+7", "x://", "averyveryverylongscheme://x",
                                    "h://a(b", "9a://x", "172.16.96.116:33569", "eth0:1", "a.com:80", "abc:123",
                                    "1:2:3", "10.0.0.1:x1", "alignment.........0", "depth.....12", "..5", "a..b..c",
                                    "1..2", "x.....10.0.0.1", "p...../a:1", "e...a.com", "(9=a,9=b).......9",
                                    "00:1a:2b:3c:4d:5e", "fe80::1:2", "12:34:56", "(AB:C1:2D:EF),", "2001:db8::ff00:42",
                                    "ABCDE:1:2", "a:b:c", "1::2::3", "fe80::", "[12:34:56]", "1:2:3::", "12:34:5g",
                                    "'0:0:0:0:0:0:0:2181'"]),
                   st.lists(st.sampled_from(["(", ")", "]", ":", ",", ";", "'", "::", ".", "}"]), max_size=3)))
def test_a_shape_decided_without_the_cascade_masks_like_the_cascade(tok: str) -> None:
    # GIVEN a token whose recipe is read off its shape alone (None: the cascade decides, nothing to check)
    from opsloop.fingerprint import _KEEP, _SHAPE_TABLE, _WHOLE, _shape_decision

    if not tok.isascii() or tok.isalpha() or tok.isdigit():
        return
    how = _shape_decision(tok.encode().translate(_SHAPE_TABLE))
    if how is None:
        return
    made = tok if how == _KEEP else PLACEHOLDER if how == _WHOLE else tok[:how[0]] + PLACEHOLDER + tok[how[1]:]
    # THEN the recipe gives what the full cascade of rules gives that token
    assert made == _cascade(tok)
