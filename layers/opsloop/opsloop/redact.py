"""Secret redaction for everything opsloop copies out of a log line (Slack, Confluence, S3, model prompts).

Each secret becomes ``[REDACTED:<kind>]``. The patterns are precompiled, each family is one regex pass,
and each pass is skipped when a cheap substring test shows the family cannot occur, because redaction
runs on every log line that reaches intake. Every pattern is linear in the input (no nested
quantifiers, no unbounded lazy prefixes), so a 1 MB line costs milliseconds, not minutes.

Over-redaction matters too: an incident whose ids and numbers are all blacked out cannot be debugged.
So generic rules ask for evidence: a 40-character token must look random (mixed case plus digits or
``+/``) to count as an AWS secret key, a card number must pass the Luhn check and look like a card.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Iterable, Pattern, Sequence

from .joined_lines import line_starts, lines_with
from .errors import ConfigError

MAX_EXTRA_PATTERN_CHARS = 1000


@dataclass(frozen=True)
class Redacted:
    text: str
    count: int  # how many secrets were replaced
    kinds: tuple[str, ...]  # sorted, distinct kinds replaced


def _mark(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# --- token formats with a recognisable shape --------------------------------------------------------
_PEM_RE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[^-]|-(?!----END ))*(?:-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----|\Z)")
_AWS_KEY_ID_RE = re.compile(r"(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")
_SLACK_RE = re.compile(
    r"xox[abposre]-[A-Za-z0-9\-]{10,250}|xapp-\d-[A-Za-z0-9\-]{10,250}"
    r"|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{8,250}")
_GITHUB_RE = re.compile(r"gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}")
_STRIPE_RE = re.compile(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9]{16,247}")
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_\-]{4,8192}\.[A-Za-z0-9_\-]{4,16384}\.[A-Za-z0-9_\-]{0,8192}")
_AUTH_RE = re.compile(
    r"(?i)(authorization[\"']?\s{0,8}[:=]\s{0,8}[\"']?(?:(?:bearer|basic|digest|token|apikey|aws4-hmac-sha256|negotiate)\s+)?+)"
    r"(?!\[REDACTED)([^\s\"',;]{1,4096})"
    r"|\b(bearer|basic)\s+(?!\[REDACTED)([A-Za-z0-9\-._~+/]{8,4096}=*)")
_URL_PASSWORD_RE = re.compile(r"(://[^\s:/@\"'<>]{0,256}:)(?!\[REDACTED)([^\s@/\"'<>]{1,256})(@)")

# --- key = value pairs --------------------------------------------------------------------------
_KEY = (r"(?:passw(?:or)?d|passphrase|pwd|client[_\-]?secret|secret(?:[_\-]?access)?(?:[_\-]?key)?"
        r"|(?:access|refresh|id|auth|session|api|bearer)?[_\-]?token|api[_\-]?key|apikey|private[_\-]?key"
        r"|credentials?)")
_KV_RE = re.compile(
    r"(?i)(" + _KEY + r"[\"']?\s{0,8}(?:=|:(?!//))\s{0,8})(?!\[REDACTED)"
    r"(\"(?:[^\"\\\n]|\\.){1,1024}\"|'[^'\n]{1,1024}'|[^\s,;&\"'}\])<>]{1,1024})")
_KV_GATE = ("pass", "pwd", "secret", "token", "key", "credential")

# --- generic secrets ---------------------------------------------------------------------------
# 40 characters is an AWS secret access key; up to 64 covers other random API secrets of that alphabet.
_AWS_SECRET_RE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,64}={0,2}(?![A-Za-z0-9+/=])")
# Starts with the digit class so the regex engine can skip to candidate digits quickly.
# No guard against another digit group before or after a spaced card ("qty 2 4111 1111 1111 1111 0"): such
# a guard let real cards through, and the Luhn check already keeps most random digit groups out.
_CARD_RE = re.compile(
    r"[2-6](?<![\w\-.][2-6])"
    r"(?:\d{12,18}|\d{3}([ \-])\d{4}\1\d{4}\1\d{1,7}|\d{3}([ \-])\d{6}\2\d{5})"
    r"(?![\w\-])")
_LONG_RUN_RE = re.compile(r"[A-Za-z0-9+/]{40}")


def _looks_random(token: str) -> bool:
    """An AWS secret key is 40 random base64 characters: mixed case, digits or +/, high entropy.

    token is a match of _AWS_SECRET_RE, so its characters are [A-Za-z0-9+/] and "=": that makes the
    tests below exact, and the cheapest rejections (paths, which are common in logs) come first.
    """
    token = token.rstrip("=")
    n = len(token)
    if token.startswith("/") or (token.count("/") >= 3 and sum(map(token.count, "0123456789")) < n // 10):
        return False  # a path such as /Users/SomeBody/Library/Support1
    if token.lower() == token or token.upper() == token:
        return False  # not mixed case
    if token.isalpha():
        return False  # neither a digit nor "+" or "/"
    entropy = -sum(k / n * math.log2(k / n) for k in map(token.count, dict.fromkeys(token)))
    return entropy >= 4.2


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _kv_kind(key: str) -> str:
    k = key.lower()
    if "pass" in k or "pwd" in k:
        return "password"
    if "token" in k:
        return "token"
    if "secret" in k and "access" in k:
        return "aws_secret_access_key"
    if "secret" in k:
        return "secret"
    if "key" in k:
        return "api_key"
    return "credential"


class _Counter:
    """Collects what one redact() call replaced."""

    def __init__(self) -> None:
        self.count = 0
        self.kinds: set[str] = set()

    def hit(self, kind: str) -> str:
        self.count += 1
        self.kinds.add(kind)
        return _mark(kind)


Family = Callable[[str, str, _Counter], str]  # (text, lowered text, counter) -> text


def _simple(pattern: Pattern[str], kind: str, gate: Callable[[str, str], bool]) -> Family:
    def run(text: str, low: str, c: _Counter) -> str:
        if not gate(text, low):
            return text
        return pattern.sub(lambda m: c.hit(kind), text)
    return run


def _auth(text: str, low: str, c: _Counter) -> str:
    if "authorization" not in low and "bearer" not in low and "basic" not in low:
        return text

    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1) + c.hit("authorization")
        return m.group(3) + " " + c.hit("authorization")
    return _AUTH_RE.sub(repl, text)


def _url_password(text: str, low: str, c: _Counter) -> str:
    if "://" not in text or "@" not in text:
        return text
    return _URL_PASSWORD_RE.sub(lambda m: m.group(1) + c.hit("url_password") + m.group(3), text)


def _kv(text: str, low: str, c: _Counter) -> str:
    if not any(g in low for g in _KV_GATE):
        return text

    def repl(m: re.Match[str]) -> str:
        value = m.group(2)
        quote = value[0] if value[0] in "\"'" else ""
        return m.group(1) + quote + c.hit(_kv_kind(m.group(1))) + quote
    return _KV_RE.sub(repl, text)


def _aws_secret(text: str, low: str, c: _Counter) -> str:
    return _AWS_SECRET_RE.sub(lambda m: c.hit("aws_secret_access_key") if _looks_random(m.group(0)) else m.group(0), text)


def _cards(text: str, low: str, c: _Counter) -> str:
    def repl(m: re.Match[str]) -> str:
        digits = m.group(0).replace(" ", "").replace("-", "")
        return c.hit("card_number") if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)
    return _CARD_RE.sub(repl, text)


_PEM = _simple(_PEM_RE, "private_key", lambda t, lo: True)
_JWT = _simple(_JWT_RE, "jwt", lambda t, lo: True)
_AWS_KEY_ID = _simple(_AWS_KEY_ID_RE, "aws_access_key_id", lambda t, lo: True)
_SLACK = _simple(_SLACK_RE, "slack_token", lambda t, lo: True)
_GITHUB = _simple(_GITHUB_RE, "github_token", lambda t, lo: True)
_STRIPE = _simple(_STRIPE_RE, "stripe_key", lambda t, lo: True)


# The gates below decide which families run. Each is a *necessary* condition for its family's regex
# to match (a literal every match contains, or a cheap superset regex), so skipping a family never drops
# a secret. Plain `in` tests are used because CPython's substring search is far faster than a regex
# alternation, which the engine must try at every position of the line; the few regex gates have a
# rare first character or are only reached when a length test passes. Profiling Loghub lines showed
# the old "one alternation of all triggers" prefilter cost more than these tests together.
_GITHUB_GATE_RE = re.compile(r"gh[pousr]_|github_pat_")
# Superset of _CARD_RE: a card-like digit group starting 2-6. Unlike _CARD_RE it has no lookbehinds to
# evaluate at every digit, so it rejects the many short numbers of a log line cheaply.
# It keeps _CARD_RE's first lookbehind (one character, checked only at a 2-6 digit), which turns away
# the digits inside longer ids ("blk_-1608999687919862906") before the costlier _CARD_RE runs.
_CARD_GATE_RE = re.compile(r"[2-6](?<![\w\-.][2-6])\d{3}(?:\d{9}|[ \-]\d{4}[ \-]\d{4}[ \-]\d|[ \-]\d{6}[ \-]\d{5})")


def _families(text: str, low: str) -> list[Family]:
    """The pattern families that can possibly match, in the order they must run (most lines need none)."""
    fams: list[Family] = []
    if "-----BEGIN" in text:
        fams.append(_PEM)
    if "eyJ" in text:
        fams.append(_JWT)
    if "authorization" in low or "bearer" in low or "basic" in low:
        fams.append(_auth)
    if "A" in text and _AWS_KEY_ID_RE.search(text):
        fams.append(_AWS_KEY_ID)
    if "xox" in text or "xapp-" in text or "hooks.slack.com" in text:
        fams.append(_SLACK)
    if "_" in text:
        if _GITHUB_GATE_RE.search(text):
            fams.append(_GITHUB)
        if "_live_" in text or "_test_" in text or "whsec_" in text:
            fams.append(_STRIPE)
    if "://" in text and "@" in text:
        fams.append(_url_password)
    # A key needs its "=" or ":" (a marker inserted by an earlier family starts with "[", so it cannot
    # supply one). Checking that first matters: _KV_RE is a case-insensitive alternation tried at every
    # position, the costliest pass here, and "Failed password for ..." lines are common and harmless.
    if ("=" in text or ":" in text) and (
            "pass" in low or "pwd" in low or "secret" in low or "token" in low or "key" in low or "credential" in low):
        fams.append(_kv)
    if len(text) >= 40 and _LONG_RUN_RE.search(text):
        fams.append(_aws_secret)
    if len(text) >= 13 and _CARD_GATE_RE.search(text) and _CARD_RE.search(text):
        fams.append(_cards)
    return fams


# The order families run in: the most specific shapes first, so that a generic rule (key=value, long
# random token) never eats part of a token with a known shape and mislabels it.
_ORDER: tuple[Family, ...] = (_PEM, _JWT, _auth, _AWS_KEY_ID, _SLACK, _GITHUB, _STRIPE, _url_password, _kv,
                              _aws_secret, _cards)


def compile_extra(patterns: Iterable[str]) -> tuple[Pattern[str], ...]:
    """Validate and compile user-configured secret patterns; a bad one raises ConfigError naming it."""
    compiled = []
    for i, p in enumerate(patterns):
        if not isinstance(p, str) or not p:
            raise ConfigError(f"redaction pattern #{i + 1} must be a non-empty string")
        if len(p) > MAX_EXTRA_PATTERN_CHARS:
            raise ConfigError(f"redaction pattern #{i + 1} is longer than {MAX_EXTRA_PATTERN_CHARS} characters")
        try:
            rx = re.compile(p)
        except re.error as exc:
            raise ConfigError(f"redaction pattern #{i + 1} {p!r} is not a valid regular expression: {exc}") from exc
        if rx.match(""):
            raise ConfigError(f"redaction pattern #{i + 1} {p!r} matches the empty string")
        compiled.append(rx)
    return tuple(compiled)


_EXTRA_CACHE: dict[tuple[str, ...], tuple[Pattern[str], ...]] = {}

# Log streams repeat the same line many times (retries, error storms), so the built-in redaction of a
# line is memoised. redact() is a pure function of the line and Redacted is immutable, so the memo can
# only change how fast a result is computed, never the result. Bounded in entries and key size.
_MEMO: dict[str, Redacted] = {}
_MEMO_MAX = 4096
_MEMO_KEY_MAX = 1024


def clear_caches() -> None:
    """Forget memoised results (benchmarks call this so that every timed run starts cold)."""
    _MEMO.clear()


def _unchanged(text: str, _new: Callable[[type], Redacted] = object.__new__) -> Redacted:  # type: ignore[assignment]
    """``Redacted(text, 0, ())``, built without the frozen dataclass's __init__.

    Most lines hold no secret, and the generated __init__ (one object.__setattr__ per field, keyword
    arguments) costs about as much as all the prefilters together. Writing the instance dict directly
    gives an equal, hashable, still-frozen object: only the constructor is bypassed.
    """
    r = _new(Redacted)
    d = r.__dict__
    d["text"] = text
    d["count"] = 0
    d["kinds"] = ()
    return r


def _builtin(text: str) -> Redacted:
    """Redaction by the built-in families only."""
    low = text.lower()
    families = _families(text, low)
    if not families:
        return _unchanged(text)
    c = _Counter()
    for family in _ORDER:
        if family in families:
            before = c.count
            text = family(text, low, c)
            if c.count != before:
                # A replacement can expose a secret that a gate ruled out on the original text (a card
                # number glued to an access key id ends at a word boundary once the key is a marker), so
                # the gates are asked again about the new text.
                low = text.lower()
                families = _families(text, low)
    return Redacted(text=text, count=c.count, kinds=tuple(sorted(c.kinds)))


def redact(text: str, extra_patterns: Sequence[str] | Sequence[Pattern[str]] = ()) -> Redacted:
    """Replace every secret found in ``text`` with ``[REDACTED:<kind>]``.

    ``extra_patterns`` are the user's own regexes (strings, validated by :func:`compile_extra`, or
    already-compiled patterns); each whole match becomes ``[REDACTED:custom]``. They run after the
    built-in families, on their output.
    """
    out = _MEMO.get(text)
    if out is None:
        out = _builtin(text)
        if len(text) <= _MEMO_KEY_MAX:
            if len(_MEMO) >= _MEMO_MAX:
                _MEMO.clear()
            _MEMO[text] = out
    if not extra_patterns:
        return out
    return _with_extras(out, _extras(extra_patterns))


def _with_extras(out: Redacted, extras: tuple[Pattern[str], ...]) -> Redacted:
    """The user's patterns applied to what the built-in families left."""
    c = _Counter()
    result = out.text
    for rx in extras:
        result = rx.sub(lambda m: c.hit("custom"), result)
    if not c.count:
        return out
    return Redacted(text=result, count=out.count + c.count, kinds=tuple(sorted(set(out.kinds) | c.kinds)))


def _extras(patterns: Sequence[str] | Sequence[Pattern[str]]) -> tuple[Pattern[str], ...]:
    if all(isinstance(p, re.Pattern) for p in patterns):
        return tuple(patterns)  # type: ignore[arg-type]
    key = tuple(str(p) for p in patterns)
    if key not in _EXTRA_CACHE:
        if len(_EXTRA_CACHE) > 32:
            _EXTRA_CACHE.clear()
        _EXTRA_CACHE[key] = compile_extra(key)
    return _EXTRA_CACHE[key]


# --------------------------------------------------------------------------------------------------
# Batches. Intake redacts a whole CloudWatch Logs batch (up to 10,000 lines) at once, and almost no line
# holds a secret. redact_texts() asks the family gates of _families() about the whole batch in a few scans
# in C (substring searches over the joined lines, two bytes.translate and three regexes), finds the lines
# some family could change, and runs redact() on those lines alone; every other line is returned unchanged.
#
# Each batch gate covers every line its family can change on an ASCII line: the per-line gate itself, or
# a superset of it, or (for long base64-like runs) the per-line gate less the runs _looks_random() always
# rejects. No gate can match across the two NUL characters that join two lines. So a line the batch gates pass
# over is one redact() returns unchanged. Lines holding any non-ASCII character always go through
# redact(): case folding and \d/\w classes reach beyond ASCII there, and the tables below are ASCII-only;
# so do lines holding a NUL, which must stay the separator alone (see _lines_with_word).
# tests/unit/test_redact.py checks redact_texts() against redact() line by line, and
# benchmarks/batch_equivalence.py does on about 100,000 lines.
# --------------------------------------------------------------------------------------------------
_BATCH_MIN = 8  # below this, the set-up of the batch scans costs more than it saves

# literals that some family needs on a line, found in the line as it is / lowered
_BATCH_LITERALS = (b"-----BEGIN", b"eyJ", b"xox", b"xapp-", b"hooks.slack.com", b"_live_", b"_test_", b"whsec_")
_BATCH_AUTH_WORDS = (b"authorization", b"bearer", b"basic")
_BATCH_KV_WORDS = (b"pass", b"pwd", b"secret", b"token", b"key", b"credential")
_GITHUB_GATE_BYTES_RE = re.compile(_GITHUB_GATE_RE.pattern.encode())
_AWS_KEY_ID_BYTES_RE = re.compile(_AWS_KEY_ID_RE.pattern.encode())


def _ascii_table(mapping: dict[bytes, bytes], default: bytes) -> bytes:
    table = bytearray(default * 256)
    for chars, to in mapping.items():
        for ch in chars:
            table[ch] = to[0]
    return bytes(table)


_DIGITS = b"0123456789"
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# _LONG_RUN_RE's class becomes "a", everything else " ": a run of 40 "a" is a match of _LONG_RUN_RE
_RUN_TABLE = _ascii_table({_LETTERS + _DIGITS + b"+/": b"a"}, b" ")
_LONG_RUN_BYTES = b"a" * 40
_SLASH = ord("/")
# For _CARD_GATE_RE: the digits 2-6 (a card's first digit) become "9" and the other digits "8", "-" stays,
# the other characters of its lookbehind class [\w\-.] become "w", and every other character (space and
# NUL included) becomes "|". _CARD_GATE_RE then maps to: a "|" (the lookbehind: no word character,
# "-" or "." before the first digit; the blob starts with one), a digit 2-6, three digits and one of its
# three tails, with "|" or "-" for each separator [ \-] (a superset: any non-word character counts as a
# separator). Lines are joined by two NUL characters, "||" here, which no match can cross: every "|" after
# the first must precede a digit.
_CARD_TABLE = _ascii_table({b"23456": b"9", b"01789": b"8", _LETTERS + b"_.": b"w", b"-": b"-"}, b"|")
_CARD_SHAPE_RE = re.compile(rb"\|9[89]{3}(?:[89]{9}|[|-][89]{4}[|-][89]{4}[|-][89]|[|-][89]{6}[|-][89]{5})")


def _batch_candidates(texts: Sequence[str]) -> set[int]:
    """Indices of the texts on which some built-in family could fire (a superset: see above)."""
    marks: set[int] = set()
    joined = "\0\0".join(texts)  # two NUL characters: see _CARD_TABLE and _lines_with_word
    parts: Sequence[str] = texts
    if not joined.isascii() or joined.count("\0") != 2 * len(texts) - 2:
        marks.update(i for i, t in enumerate(texts) if not t.isascii() or "\0" in t)
        parts = ["" if i in marks else t for i, t in enumerate(texts)]
        joined = "\0\0".join(parts)
    blob = joined.encode("ascii")
    # starts[i] is where text i begins in the blob; starts[n] lies past its end
    starts = line_starts(parts, 2)

    def lines_matching(rx: re.Pattern[bytes], hay: bytes) -> None:
        for m in rx.finditer(hay):
            marks.add(bisect_right(starts, m.start()) - 1)

    # The literal and word gates search a copy of the batch without the characters no gate word holds
    # (digits, spaces, most punctuation): a line holding a word still holds it there, and the copy is
    # half to three quarters of the batch, which is what the searches cost.
    letters = blob.translate(None, _NOT_IN_GATE_WORDS)
    for needle in _BATCH_LITERALS:
        _lines_with_word(letters, needle, marks)
    lines_matching(_GITHUB_GATE_BYTES_RE, blob)
    lines_matching(_AWS_KEY_ID_BYTES_RE, blob)
    urls: set[int] = set()
    lines_with(blob, b"://", starts, urls)
    marks.update(i for i in urls if "@" in parts[i])
    low = letters.lower()
    for needle in _BATCH_AUTH_WORDS:
        _lines_with_word(low, needle, marks)
    keys: set[int] = set()
    for needle in _BATCH_KV_WORDS:
        _lines_with_word(low, needle, keys)
    marks.update(i for i in keys if "=" in parts[i] or ":" in parts[i])
    # _aws_secret only replaces a whole maximal run of [A-Za-z0-9+/] that _looks_random() accepts, which
    # never holds for a run starting with "/" (a path): such runs do not make their line a candidate.
    runs = blob.translate(_RUN_TABLE)
    find = runs.find
    p = find(_LONG_RUN_BYTES)
    while p >= 0:
        start = runs.rfind(b" ", 0, p) + 1
        if blob[start] != _SLASH:
            i = bisect_right(starts, p) - 1
            marks.add(i)
            p = find(_LONG_RUN_BYTES, starts[i + 1])
        else:
            end = runs.find(b" ", p)
            p = -1 if end < 0 else find(_LONG_RUN_BYTES, end)
    # A match starts at the "|" before the card's first digit: one byte before the digit in the blob, which
    # is where the match starts in this copy of the blob shifted by the leading "|".
    lines_matching(_CARD_SHAPE_RE, b"|" + blob.translate(_CARD_TABLE))
    return marks


# Every character of a gate word, in both cases for the words found case-insensitively; the NUL separator.
_GATE_CHARS = set(b"".join(_BATCH_LITERALS)) | set(b"".join(_BATCH_AUTH_WORDS + _BATCH_KV_WORDS).upper()) | set(
    b"".join(_BATCH_AUTH_WORDS + _BATCH_KV_WORDS)) | {0}
_NOT_IN_GATE_WORDS = bytes(c for c in range(256) if c not in _GATE_CHARS)


def _lines_with_word(letters: bytes, needle: bytes, into: set[int]) -> None:
    """Add to ``into`` the index of every line of ``letters`` holding ``needle``: line i is the text after
    the first 2i NUL characters (lines hold none, see _batch_candidates). One search per line that holds
    it, at most, and one count of the NULs between two hits."""
    find = letters.find
    count = letters.count
    p = find(needle)
    seen = nuls = 0
    while p >= 0:
        nuls += count(b"\0", seen, p)
        into.add(nuls >> 1)
        seen = find(b"\0", p)  # where the line ends; no NUL lies between p and here
        if seen < 0:
            break
        p = find(needle, seen)


def redact_texts(texts: Iterable[str], extra_patterns: Sequence[str] | Sequence[Pattern[str]] = ()) -> list[str]:
    """``[redact(t, extra_patterns).text for t in texts]``, computed for the whole batch at once.

    Equal to the per-line results element by element; faster because the lines without any secret, nearly
    all of them, are settled by a few scans of the whole batch (and no Redacted is built for them).
    """
    texts = list(texts)
    if len(texts) < _BATCH_MIN:
        return [redact(t, extra_patterns).text for t in texts]
    out = texts.copy()
    for i in _batch_candidates(texts):
        out[i] = redact(texts[i]).text
    if extra_patterns:
        for rx in _extras(extra_patterns):
            out = [rx.sub(_CUSTOM_MARK, t) for t in out]
    return out


_CUSTOM_MARK = _mark("custom")


__all__ = ["Redacted", "clear_caches", "compile_extra", "redact", "redact_texts"]
