"""Redaction: every known kind of secret is replaced, ordinary log content is left alone."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.errors import ConfigError
from opsloop import redact as redact_module
from opsloop.redact import Redacted, clear_caches, compile_extra, redact

# (canary as it appears in a log, the part that must never survive, kind)
CANARIES = [
    ("AKIAZ3MPLE7EXAMPLE2Q", "AKIAZ3MPLE7EXAMPLE2Q", "aws_access_key_id"),
    ("ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", "aws_access_key_id"),
    ("q9Vb3+Xr8Tn2Lw5Yc7Pd1Mf6Hj4Kg0Sz9Ae2Ru8Wt", "q9Vb3+Xr8Tn2Lw5Yc7Pd1Mf6Hj4Kg0Sz9Ae2Ru8Wt", "aws_secret_access_key"),
    ("xoxp-112233445566-778899001122-334455667788-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
     "112233445566-778899001122-334455667788-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "slack_token"),
    ("xapp-1-A0123456789-1234567890123-abcdef0123456789", "A0123456789-1234567890123-abcdef0123456789", "slack_token"),
    ("jdbc:mysql://admin:correct-horse-battery-staple-42@orders-db:3306/orders", "correct-horse-battery-staple-42", "url_password"),
    ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwdWJsaWMtY2hlY2siLCJleHAiOjQxMDI0NDQ4MDB9.ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz",
     "eyJzdWIiOiJwdWJsaWMtY2hlY2siLCJleHAiOjQxMDI0NDQ4MDB9", "jwt"),
    ("ghp_0123456789abcdefghijABCDEFGHIJ012345", "0123456789abcdefghijABCDEFGHIJ012345", "github_token"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU",
     "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU", "github_token"),
    # a fine-grained token whose random part happens to hold no "gh"
    ("github_pat_11ABCDEFX0123456789_XYZabcdefijklmnopqrstuvwxyzAB", "XYZabcdefijklmnopqrstuvwxyzAB", "github_token"),
    ("sk_live_51HxQ2bKz9f8d7c6b5a4Z3Y2X1W", "51HxQ2bKz9f8d7c6b5a4Z3Y2X1W", "stripe_key"),
    ("password=Tr0ub4dor&3x", "Tr0ub4dor", "password"),
    ('"client_secret": "9f8e7d6c5b4a-secret-value"', "9f8e7d6c5b4a-secret-value", "secret"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "private_key"),
    ("4111 1111 1111 1111", "4111 1111 1111 1111", "card_number"),
]


@pytest.mark.parametrize(("text", "secret", "kind"), CANARIES, ids=[c[2] + str(i) for i, c in enumerate(CANARIES)])
def test_each_kind_is_replaced_with_its_marker(text: str, secret: str, kind: str) -> None:
    r = redact(f"request failed: {text} (retrying)")
    assert secret not in r.text
    assert f"[REDACTED:{kind}]" in r.text
    assert kind in r.kinds and r.count >= 1
    assert r.text.startswith("request failed: ") and r.text.endswith(" (retrying)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 next", "password=[REDACTED:password] next"),
        ("passwd: hunter2", "passwd: [REDACTED:password]"),
        ("pwd=hunter2", "pwd=[REDACTED:password]"),
        ("secret='a b c'", "secret='[REDACTED:secret]'"),
        ('{"password": "hunter2", "user": "bob"}', '{"password": "[REDACTED:password]", "user": "bob"}'),
        ("DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED:password]"),
        ("token=abc.def", "token=[REDACTED:token]"),
        ("api_key: k-123", "api_key: [REDACTED:api_key]"),
        ("apikey=k-123", "apikey=[REDACTED:api_key]"),
        ("client_secret=zz9", "client_secret=[REDACTED:secret]"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
         "aws_secret_access_key = [REDACTED:aws_secret_access_key]"),
        ("SecretAccessKey: abc", "SecretAccessKey: [REDACTED:aws_secret_access_key]"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [REDACTED:authorization]"),
        ("curl -H 'Authorization: token 0123abcd'", "curl -H 'Authorization: token [REDACTED:authorization]'"),
        ("sent Bearer abcdefgh12345678", "sent Bearer [REDACTED:authorization]"),
        ("postgres://app:s3cr3t@db:5432/x", "postgres://app:[REDACTED:url_password]@db:5432/x"),
        ("card 5500-0000-0000-0004 ok", "card [REDACTED:card_number] ok"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQ (cut)", "[REDACTED:private_key]"),
    ],
)
def test_redaction_cases(text: str, expected: str) -> None:
    assert redact(text).text == expected

@pytest.mark.parametrize("text", ["paid with 4111 1111 1111 1111 0 times", "qty 2 4111 1111 1111 1111",
                                  "cards 4111-1111-1111-1111 7", "1 5500 0000 0000 0004 2"])
def test_a_spaced_card_next_to_another_number_is_still_replaced(text: str) -> None:
    # a number right before or after a spaced or dashed card number once hid the card
    out = redact(text)
    assert "[REDACTED:card_number]" in out.text
    assert "1111 1111" not in out.text and "1111-1111" not in out.text and "0000 0000" not in out.text



@pytest.mark.parametrize(
    "text",
    [
        "jk2_init() Found child 6725 in scoreboard slot 10",
        "Received block blk_-1608999687919862906 of size 67108864 from /10.251.42.84",
        "PacketResponder 1 for block blk_38865049064139660 terminating",
        "commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b deployed",  # a SHA-1 is not a secret key
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "order 1234567812345678 not found",  # fails Luhn
        "Fan speeds ( 3552 3534 3375 4245 3515 3479 )",
        "Accepted password for fztu from 119.137.62.142 port 49116 ssh2",
        "Kerberos authentication failed",
        "token bucket empty, retry later",
        "Basic auth is disabled",
        "https://example.com/path?q=1",
        "/opt/hdfs/nodemanager/usercache/curi/appcache/application_1485248649253_0147",
        "request 0f9e8d7c-1111-2222-3333-444455556666 took 3001 ms",
        "/Users/SomeBody/Library/Application/Support1",
    ],
)
def test_ordinary_log_content_survives(text: str) -> None:
    r = redact(text)
    assert r == Redacted(text=text, count=0, kinds=())


def test_user_patterns_are_applied_and_validated() -> None:
    r = redact("customer CUST-12345 failed", extra_patterns=[r"CUST-\d+"])
    assert r.text == "customer [REDACTED:custom] failed" and r.kinds == ("custom",)
    with pytest.raises(ConfigError, match=r"#2 '\(unclosed'"):
        compile_extra([r"ok\d+", "(unclosed"])
    with pytest.raises(ConfigError, match="empty string"):
        compile_extra(["x*"])
    with pytest.raises(ConfigError):
        redact("x", extra_patterns=["[z-a]"])


def test_count_and_kinds_summarise_what_was_replaced() -> None:
    r = redact("AKIAZ3MPLE7EXAMPLE2Q and AKIAZ3MPLE7EXAMPLE3Q with password=x")
    assert r.count == 3 and r.kinds == ("aws_access_key_id", "password")


def test_long_lines_are_fast() -> None:
    lines = [
        "a" * 1_000_000,
        "A" * 300_000,
        "1" * 300_000,
        "1 " * 200_000,
        "password=" * 50_000,
        "://a:" * 50_000,
        "-----BEGIN RSA PRIVATE KEY-----" + "-" * 200_000,
        "Authorization: " * 30_000,
        "eyJ" + "a" * 100_000 + "." * 5,
    ]
    t0 = time.perf_counter()
    for line in lines:
        redact(line)
    assert time.perf_counter() - t0 < 3.0


# ---------------------------------------------------------------------------- properties

SEPARATORS = st.sampled_from([" ", "\n", "\t", ", ", "; ", " | ", " (", ") ", ' "', '" ', " '", "' ", " [", "] ", " = ", ": "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.text(max_size=80), sep1=SEPARATORS, canary=st.sampled_from(CANARIES), sep2=SEPARATORS,
       after=st.text(max_size=80))
def test_a_canary_secret_never_survives_whatever_surrounds_it(before: str, sep1: str, canary: tuple[str, str, str],
                                                               sep2: str, after: str) -> None:
    text, secret, _ = canary
    out = redact(before + sep1 + text + sep2 + after)
    assert secret not in out.text
    assert out.count >= 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text).text
    assert redact(once).text == once


# ---------------------------------------------------------------------------- prefilters and memo

FRAGMENTS = [c[0] for c in CANARIES] + [
    " ", " ", ", ", "=", ": ", "\"", "'", "@", "://", "/", "_", "-", "password", "Token", "KEY", "basic ", "Bearer ",
    "authorization", "1", "2005", "4111", "5500-0000", "A", "AKIA", "eyJ", "xox", "gh", "whsec_", "_test_", "\n",
    "[REDACTED:jwt]", "blk_-1608999687919862906", "10.251.42.84:50010", "-----BEGIN", "q9Vb3+Xr8Tn2Lw5Yc7Pd1",
    "4111111111111111", "5500 0000 0000 0004", ".", "x", "1111 ", "-1111",
]


def _every_family(text: str) -> Redacted:
    """What redact() would return if no prefilter ever skipped a family."""
    c = redact_module._Counter()
    low = text.lower()
    for family in (redact_module._PEM, redact_module._JWT, redact_module._auth, redact_module._AWS_KEY_ID,
                   redact_module._SLACK, redact_module._GITHUB, redact_module._STRIPE, redact_module._url_password,
                   redact_module._kv, redact_module._aws_secret, redact_module._cards):
        text = family(text, low, c)
        low = text.lower()
    return Redacted(text=text, count=c.count, kinds=tuple(sorted(c.kinds)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=12).map("".join))
def test_prefilters_never_skip_a_family_that_would_match(text: str) -> None:
    # GIVEN any mix of secret fragments, near misses and noise
    # WHEN it is redacted with the cheap prefilters, and with every family forced to run
    # THEN the results are the same: a prefilter only ever skips work that would find nothing
    clear_caches()
    assert redact(text) == _every_family(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=10).map("".join))
def test_memoised_results_equal_freshly_computed_ones(text: str) -> None:
    redact(text)
    warm = redact(text)
    clear_caches()
    assert warm == redact(text)


def test_user_patterns_still_apply_to_a_line_already_seen_without_them() -> None:
    # GIVEN a line redacted once with the built-in rules only (now memoised)
    line = "customer CUST-12345 sent password=hunter2"
    assert redact(line).kinds == ("password",)
    # WHEN the same line is redacted with a user pattern
    r = redact(line, extra_patterns=[r"CUST-\d+"])
    # THEN both the built-in and the user's secrets are gone, and the memoised result is unchanged
    assert r.text == "customer [REDACTED:custom] sent password=[REDACTED:password]"
    assert r.count == 2 and r.kinds == ("custom", "password")
    assert redact(line).text == "customer CUST-12345 sent password=[REDACTED:password]"


def test_a_secret_exposed_by_another_replacement_is_replaced_too() -> None:
    # GIVEN a card number glued to an access key id (no word boundary until the key id is replaced)
    r = redact("charge 4111 1111 1111 1111AKIAZ3MPLE7EXAMPLE2Q failed")
    # THEN both are gone in one pass, so redacting the output again changes nothing
    assert r.text == "charge [REDACTED:card_number][REDACTED:aws_access_key_id] failed"
    assert r.kinds == ("aws_access_key_id", "card_number")
    assert redact(r.text).text == r.text


def test_a_line_without_secrets_comes_back_as_an_equal_immutable_result() -> None:
    # GIVEN a line with no secret (the common case, built on a fast path)
    r = redact("PacketResponder 1 for block blk_38865049064139660 terminating")
    # THEN it equals, hashes like and is as frozen as a Redacted built the ordinary way
    expected = Redacted(text="PacketResponder 1 for block blk_38865049064139660 terminating", count=0, kinds=())
    assert r == expected and hash(r) == hash(expected) and repr(r) == repr(expected)
    with pytest.raises(AttributeError):
        r.text = "changed"  # type: ignore[misc]


# --- batches ----------------------------------------------------------------------------------------
def _one_by_one(lines: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    clear_caches()
    out = [redact(line, extra).text for line in lines]
    clear_caches()
    return out


def test_a_batch_is_redacted_exactly_like_each_of_its_lines() -> None:
    # GIVEN a batch mixing clean lines, every kind of secret, secrets at the start and end of lines,
    # non-ASCII lines and a multi-line private key
    lines = ["Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
             "Deleting block blk_1781953582842324563 file /mnt/hadoop/dfs/data/current/subdir5/blk_1781953582842324563",
             "Failed password for invalid user test from 10.0.0.1 port 22 ssh2",
             "connection reset — ünïcode line with password=hunter2 inside",
             "plain line 2065"]
    lines += [c[0] for c in CANARIES] + [f"prefix {c[0]}" for c in CANARIES] + [f"{c[0]} suffix" for c in CANARIES]
    # WHEN it is redacted as one batch
    # THEN each line comes back as redact() alone gives it
    assert redact_module.redact_texts(lines) == _one_by_one(lines)


def test_a_secret_after_a_long_path_on_the_same_line_is_still_found() -> None:
    # long runs that start with "/" are paths and never secrets, but they must not hide a secret after them
    secret = "q9Vb3+Xr8Tn2Lw5Yc7Pd1Mf6Hj4Kg0Sz9Ae2Ru8Wt"
    lines = ["copy /mnt/hadoop/dfs/data/current/subdir5/blk_1781953582842324563 done"] * 8
    lines += [f"copy /mnt/hadoop/dfs/data/current/subdir5/blk_1781953582842324563 with {secret}"]
    out = redact_module.redact_texts(lines)
    assert out == _one_by_one(lines)
    assert secret not in out[-1] and out[0] == lines[0]


def test_a_card_at_the_start_of_a_line_is_found_after_a_line_ending_in_digits() -> None:
    # A card-shaped run that begins right after the previous line's trailing digits must not be read as
    # one run across the line break (it hid the card from the batch scan once).
    lines = ["slot 10 pid 2065"] * 5 + ["5425-7950-1331-58 is the card", "4213 4483 1416 8390: next", "done 1"] * 3
    out = redact_module.redact_texts(lines)
    assert out == _one_by_one(lines)
    assert out[5].startswith("[REDACTED:card_number]")


def test_lines_holding_nul_characters_do_not_hide_a_later_secret_in_a_batch() -> None:
    # Lines of a batch are searched joined by NUL characters; a line holding NULs itself must not shift
    # which line a later secret is found on.
    lines = ["binary\x00\x00\x00junk\x00 in a log line"] * 4 + ["plain line 2065"] * 4
    lines += ["login with password=hunter2 failed", "header Authorization: Bearer abcdefgh12345678", "done 1"]
    out = redact_module.redact_texts(lines)
    assert out == _one_by_one(lines)
    assert "hunter2" not in out[8] and "abcdefgh12345678" not in out[9]


def test_a_batch_finds_keys_with_quotes_and_spaces_before_their_value() -> None:
    # keys with quotes and spaces before "=" or ":" are found in a batch as on their own; lines with a
    # key word and no value after it ("check pass; user unknown") are left alone
    lines = ["pam_unix(sshd:auth): check pass; user unknown", "Accepted publickey for root: ok"] * 4
    lines += ["login password   = hunter2 ok", "API-KEY: 'abc123def'", 'cfg "client_secret"  :  s3cr3tvalue', "token\t= tkn-42"]
    out = redact_module.redact_texts(lines)
    assert out == _one_by_one(lines)
    assert out[:8] == lines[:8]
    assert not any(v in line for v, line in zip(["hunter2", "abc123def", "s3cr3tvalue", "tkn-42"], out[8:]))


def test_user_patterns_apply_to_every_line_of_a_batch() -> None:
    lines = [f"request {i} canary-{i} ok" for i in range(20)] + ["start123 at the start"] * 3
    extra = (r"canary-\d+", r"^start\w*")
    out = redact_module.redact_texts(lines, extra)
    assert out == _one_by_one(lines, extra)
    assert all("canary-" not in line for line in out)


def test_an_empty_batch_gives_an_empty_list() -> None:
    assert redact_module.redact_texts([]) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=8).map("".join),
                min_size=8, max_size=40))
def test_batch_scans_never_pass_over_a_line_holding_a_secret(lines: list[str]) -> None:
    # GIVEN any batch of lines made of secret fragments, near misses and noise (line breaks included)
    # THEN redacting it as a batch gives, line by line, what redact() gives
    assert redact_module.redact_texts(lines) == _one_by_one(lines)
