"""Deterministic error fingerprints: the same kind of error gets the same key in every process, forever.

Many Lambda containers see the same error at the same moment, and next month's recurrence must land on the
same incident, so the key cannot come from a stateful clusterer (Drain and friends learn templates from
the stream they happen to see). Instead the message is masked: every token that looks like a *value*
(numbers, ids, hex, UUIDs, IPs, hosts, paths, URLs, e-mail addresses, quoted strings, timestamps,
durations, sizes, ``key=value`` values, names after "user") becomes ``<*>``, the static words stay, and
the key is a hash of what remains. Stack traces are keyed by the exception class and the innermost few
*application* frames without line numbers, so a redeploy that shifts lines, or a message whose tail
varies, does not open a new incident.

Everything here is a pure function of its input: no ``hash()``, no clocks, and the memos that make
repeated tokens, token shapes, lines, line skeletons and templates cheap never change a result (tests
compare memo hits with cold runs, and batches with lines one by one).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import eq, getitem, is_, itemgetter, le, not_
from typing import Iterable, Sequence, TextIO

from .joined_lines import line_starts, lines_with

PLACEHOLDER = "<*>"
MAX_FRAMES = 3  # innermost application frames that identify where an error happens
_MAX_INPUT = 64 * 1024  # a fingerprint never needs more than this much of a message


@dataclass(frozen=True)
class Fingerprint:
    fingerprint: str  # 16 hex chars of sha256(template, exception, frames)
    template: str  # the message with its variable parts masked as <*>
    exception: str | None = None  # exception class, e.g. "botocore.exceptions.ClientError"
    frames: list[str] = field(default_factory=list)  # innermost application frames, no line numbers


# --------------------------------------------------------------------------------------------------
# Leading prefixes a logger adds (timestamps, levels, request ids): they must not change the key.
# --------------------------------------------------------------------------------------------------
_LEVEL_WORDS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "ERR", "FATAL", "CRITICAL", "CRIT",
                "SEVERE", "ALERT", "EMERG", "PANIC")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LEVELS = "(?:" + "|".join(_LEVEL_WORDS) + ")"
_PREFIX_RE = re.compile(
    r"""\A(?:
        \s+
      | \[?\d{4}-\d{2}-\d{2}[T\x20]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?\x20?(?:Z|UTC|[+-]\d{2}:?\d{2})?\]?[:,]?
      | \[?\d{4}[/.\-]\d{2}[/.\-]\d{2}\]?(?=\s)
      | \[?\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?\]?(?=\s)
      | \[?(?:""" + "|".join(_WEEKDAYS) + r"""),?(?=\s)
      | \[?(?:""" + "|".join(_MONTHS) + r""")\x20+\d{1,2}(?:,?\x20\d{4})?\]?(?=\s)
      | \[?""" + _LEVELS + r"""\]?:?(?=\s|\Z)
      | (?:RequestId:\x20?)?\[?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\]?:?(?=\s|\Z)
    )""",
    re.VERBOSE,
)
_MAX_PREFIX_STEPS = 12
_PREFIX_WORDS = frozenset(_LEVEL_WORDS + _MONTHS + _WEEKDAYS + ("RequestId:",))


# The first character of anything _PREFIX_RE can match: whitespace (tested apart), a digit, "[", a hex
# digit (request ids) or the initial of a level, month, weekday or "RequestId:". Most log lines start
# with something else, and one set lookup settles them.
_PREFIX_FIRST = frozenset("0123456789[abcdefABCDEF" + "".join(w[0] for w in _PREFIX_WORDS))


# For a line starting with a letter, the words of _PREFIX_WORDS that start with it: unless the line starts
# with one of them (or its first word is 36 characters long, a request id), the test below is False, and
# one startswith() in C settles that without splitting the line.
_PREFIX_BY_INITIAL = {c: tuple(w for w in _PREFIX_WORDS if w[0] == c) for c in _PREFIX_FIRST if c.isalpha()}


# Where a prefix starting with a digit shows itself: the separator after a 4-digit year ("2024-", "2024/",
# "2024."), the ":" after 1 or 2 digits of an hour, or the "-" after the 8 hex digits of a request id.
_DATE_SEPARATORS = frozenset("-/.")


def _digit_prefix_possible(text: str, at: int) -> bool:
    """Whether _PREFIX_RE's alternatives that start with a digit at ``at`` can match there: each needs one
    of the separators above at a fixed offset, so most lines that start with a number (an address, a
    count) are settled without the regex."""
    return (text[at + 4:at + 5] in _DATE_SEPARATORS or text[at + 8:at + 9] == "-"
            or text[at + 1:at + 2] == ":" or text[at + 2:at + 3] == ":")


def _may_have_prefix(text: str) -> bool:
    """Cheap test that spares the prefix regex on the vast majority of lines."""
    c = text[:1]
    if c not in _PREFIX_FIRST:
        return not c or c.isspace()
    if c.isdigit():
        return _digit_prefix_possible(text, 0)
    if c == "[":
        # after "[" comes a digit, a level, month or weekday name, or a hex request id (never a space)
        d = text[1:2]
        if d.isdigit():  # any digit \d accepts
            return _digit_prefix_possible(text, 1)
        return d in _PREFIX_FIRST and d != "[" and (text.startswith(_PREFIX_BY_INITIAL.get(d, ()), 1)
                                                     or text[9:10] == "-")
    if not text.startswith(_PREFIX_BY_INITIAL[c]) and len(text) != 36 and not text[36:37].isspace():
        return False  # neither a prefix word nor a 36-character first word (the split below says the same)
    head = text[:40].split(None, 1)
    return bool(head) and (head[0].rstrip(":") in _PREFIX_WORDS or head[0] in _PREFIX_WORDS or len(head[0]) == 36)


def strip_prefix(message: str) -> str:
    """Drop leading timestamps, log levels and request ids (bounded, so hostile input stays cheap)."""
    if not _may_have_prefix(message):
        return message
    for _ in range(_MAX_PREFIX_STEPS):
        m = _PREFIX_RE.match(message)
        if not m or m.end() == 0:
            break
        message = message[m.end():]
    return message


# --------------------------------------------------------------------------------------------------
# Masking of values. Rules are about *kinds* of variables, never about particular log sources.
# A line is split on whitespace and every token is classified on its own; the classification of a
# token is a pure function of the token, so it is memoised (tokens repeat across lines far more than
# lines do). The memo never changes a result, only how fast it is computed.
# --------------------------------------------------------------------------------------------------
# Characters that end a sub-token inside a whitespace token. '.', '-', '_', '/', '@', '+', '#', '$'
# stay inside, so that "blk_-123", "10.0.0.1", "node-12", "core.2275" and "a@b" are one value each.
_DELIM = r"\s,;:=()\[\]{}<>\"'|!?*`\\"
_TOK = rf"[^{_DELIM}]"

# quoted values may contain spaces, so they are found before the line is split
# The test "no word character before a single quote" sits after the quote ((?<!\w') is (?<!\w) before it), so
# that both branches start with a quote and the engine skips to the next quote character without trying
# the pattern at every position (what a whole batch of lines needs).
_QUOTED_RE = re.compile(r"\"[^\"\n]{0,256}\"|'(?<!\w')[^'\n]{0,256}'(?!\w)")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,15}://[^\s\"'<>()\[\]{},;]*")
_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PATH_RE = re.compile(r"(?<![\w.\-])(?:~|\.{1,2})?/[^\s\"'<>()\[\]{},;:=]*|\b[A-Za-z]:\\[^\s\"'<>|]*")
_HEXSEQ_RE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{1,4}(?:::?[0-9A-Fa-f]{1,4}){2,}(?:::)?(?![\w:])")
_GENERIC_TLD = ("com|net|org|edu|gov|mil|int|io|info|biz|local|internal|lan|corp|cloud|dev|app|arpa")
_HOST_RE = re.compile(
    r"(?i)(?<![\w.\-])[a-z0-9][a-z0-9\-]{0,62}(?:\.[a-z0-9\-]{1,63})*"
    r"\.(?:" + _GENERIC_TLD + r"|(?:com|net|org|edu|gov|ac|co)\.[a-z]{2})(?![\w.\-])")
_KV_RE = re.compile(r"(?<=[A-Za-z0-9_\]\)])=(?!<\*>)[^\s,;&)\]}]+")
_DIGIT_TOKEN_RE = re.compile(rf"(?<!{_TOK}){_TOK}*\d{_TOK}*")
_HEX_TOKEN_RE = re.compile(rf"(?<!{_TOK})(?:[0-9a-fA-F]{{12,}}|[A-Za-z0-9+/_\-]{{32,}}={{0,2}})(?!{_TOK})")
_DOTS_RE = re.compile(r"(\.{2,})")  # "depth.........0": leader dots separate a label from its value
# a value followed by its unit is one value ("5.2 KB", "93.0 B", "160 ms")
_UNITS = frozenset("B KB MB GB TB PB KiB MiB GiB TiB kB ms us µs ns s".split())
_UNITS_GATE = frozenset(u + p for u in _UNITS for p in ("", ",", ";", ":", ".", ")", "]"))
# a principal's name follows these nouns ("user alice", "for user bob")
_NAME_NOUNS = frozenset("user User USER username Username account Account principal Principal".split())
_DATE_WORDS = frozenset(_MONTHS + _WEEKDAYS)
# in authentication messages the word after "for" names a principal ("Failed password for alice from ...")
_AUTH_BEFORE_FOR = frozenset("password publickey failures failure authentication login passphrase".split())
_NOT_A_NAME = frozenset("invalid illegal unknown user the a an".split())
# letters + one digit is a name, not a value: eth0, ssh2, md5, tty1
_NAME_WITH_DIGIT_RE = re.compile(r"[A-Za-z]{2,}\d")
# The atomic group commits to the first digit, so a token that is not a simple value fails in one pass:
# the plain form [\w.\-+#$%]*\d[\w.\-+#$%]* retried every digit ("10.251.42.191:50010" cost 5x more).
# Same language: allowed characters only, at least one digit.
_SIMPLE_VALUE_RE = re.compile(r"(?>[\w.\-+#$%]*?\d)[\w.\-+#$%]*+")
# a simple value that is not a name with a digit: what gets masked as a whole
_VALUE_RE = re.compile(r"(?![A-Za-z]{2,}\d\Z)" + _SIMPLE_VALUE_RE.pattern)
_RUN_RE = re.compile(r"<\*>(?:(?:[^\sA-Za-z0-9<>]{1,3}|,?\s|\s-\s)<\*>)+")
_EMPTY_BRACKETS = {"()": "(<*>)", "[]": "[<*>]", "{}": "{<*>}"}
# A host name ends in "." and a top-level domain; any character _HOST_RE's case-insensitive [a-z] can
# match is a letter (Unicode included), so a token without a "." followed by a letter holds no host name.
# [^\W\d_] is every word character that is neither digit nor "_"; the literal "." lets the engine skip.
_HOST_GATE_RE = re.compile(r"\.[^\W\d_]")

_MEMO_MAX = 50_000
_MEMO_TOKEN_MAX = 80


def _mask_token(tok: str) -> str:
    """Mask one whitespace-free token.

    The result never holds a run of placeholders that _RUN_RE would collapse, except around leader dots
    ("1..2" gives "<*>..<*>"): mask() relies on that to run _RUN_RE on a whole line only where a run
    crosses a space or a ".." is present. Each regex pass below is skipped when a cheap test shows it
    cannot match (a literal or a length every match needs), so a typical new value (an IP with its port,
    a block id) costs two or three passes, not six.
    """
    if tok.isalpha():
        return tok
    if tok.isdigit():
        return PLACEHOLDER
    if ".." not in tok:
        # a simple value that is not a name is masked with one regex call; a name (eth0) is a simple
        # value too, so the order of these two tests gives what "simple, then name?" would
        if _VALUE_RE.fullmatch(tok):
            return PLACEHOLDER
        if _NAME_WITH_DIGIT_RE.fullmatch(tok):
            return tok
    if tok in _EMPTY_BRACKETS:
        return _EMPTY_BRACKETS[tok]
    if ".." in tok:
        # not normalised: the neighbour rules of _context() see "<*>..<*>" as it is (mask() merges it later)
        return "".join(p if i % 2 else _mask_token(p) for i, p in enumerate(_DOTS_RE.split(tok)) if p)
    if "://" in tok:
        tok = _URL_RE.sub(PLACEHOLDER, tok)
    if "@" in tok:
        tok = _EMAIL_RE.sub(PLACEHOLDER, tok)
    if "=" in tok:
        tok = _KV_RE.sub("=" + PLACEHOLDER, tok)
    if "/" in tok or ":\\" in tok:
        tok = _PATH_RE.sub(PLACEHOLDER, tok)
    if tok.count(":") >= 2:
        tok = _HEXSEQ_RE.sub(PLACEHOLDER, tok)
    if "." in tok and _HOST_GATE_RE.search(tok):
        tok = _HOST_RE.sub(PLACEHOLDER, tok)
    tok = _DIGIT_TOKEN_RE.sub(PLACEHOLDER, tok)
    if len(tok) >= 12:  # the shortest hex value _HEX_TOKEN_RE masks
        tok = _HEX_TOKEN_RE.sub(PLACEHOLDER, tok)
    return _RUN_RE.sub(PLACEHOLDER, tok) if tok.count(PLACEHOLDER) > 1 else tok


# --------------------------------------------------------------------------------------------------
# Shape memo: what _mask_token decides depends on the *classes* of a token's characters, not on which
# digit or which letter sits where. Values are new tokens on almost every line (block ids, IPs with
# ports, counters), so the token memo rarely helps them, but their shapes repeat: "10.251.73.220:50010"
# and "10.250.9.207:50010" differ in shape only by the lengths of their runs, and a block id's shape is
# the same for every block of that length.
#
# The shape maps every ASCII digit to "9", a-f to "x", A-F to "X", g-z to "a", G-Z to "A", and keeps
# every other character as it is; it keeps the length too (several rules count characters). Every
# character class in the cascade of _mask_token is a union of these classes (\d, \w, [A-Za-z],
# [0-9A-Fa-f], the delimiters and the placeholder's "<", "*", ">" are all kept apart), so two tokens
# with one shape take the same branches and replace the same spans with <*>. One rule is the
# exception: host names end in particular letters (".com", ".net"), so a token with a "." followed by a
# letter (the host pass's own gate, and a property of the shape) is never decided by shape.
#
# What is stored per shape is how the output is made from the token: kept as it is, one <*> for all of
# it, or kept up to i, then <*>, then kept from j. Any other outcome (several <*>, or a token that
# already holds "<*>") stores _SLOW and is computed for each token. tests/unit pins equality with the
# plain cascade on tokens that share a shape.
# --------------------------------------------------------------------------------------------------
_SHAPE_TABLE = bytes.maketrans(
    b"0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ",
    b"9" * 10 + b"x" * 6 + b"X" * 6 + b"a" * 20 + b"A" * 20)
_KEEP = 0  # the token is its own mask (_KEEP and _WHOLE index the pair (token, <*>): see _learn_tokens)
_WHOLE = 1  # the token is one value
_SLOW = 2  # the mask depends on more than the shape (host names) or is not a single span
_SHAPES: dict[bytes, object] = {}


def _recipe(tok: str, out: str, shape: bytes) -> object:
    """How out was made from tok, in a form that applies to every token of tok's shape."""
    if _HOST_SHAPE_RE.search(shape.decode("latin-1")):
        return _SLOW  # _HOST_GATE_RE's test on the shape: a "." followed by a letter
    if out == tok:
        return _KEEP
    if out == PLACEHOLDER:
        return _WHOLE
    if PLACEHOLDER in tok or out.count(PLACEHOLDER) != 1:
        return _SLOW
    # out == tok[:i] + "<*>" + tok[j:]: tok holds no "<*>", so the one in out marks the replaced span
    i = out.index(PLACEHOLDER)
    j = len(tok) - (len(out) - i - len(PLACEHOLDER))
    if j < i or out != tok[:i] + PLACEHOLDER + tok[j:]:
        return _SLOW
    return (i, j)


# Characters of a simple value (_SIMPLE_VALUE_RE's class) as they appear in a shape.
_SIMPLE_SHAPE_CHARS = "9xXaA_.-+#$%"
# Punctuation around a word that no rule of the cascade reacts to when the word is the only letters and
# there is no digit: none of "/", "@", "=", "\\", "<", "*", ">" (URL, e-mail, key=value, path, placeholder).
_WORD_AFFIX = ",;:()[]{}\"'|!?`.-_#$%&~^+"
# Delimiters (_DELIM) around digits: the digits are one value and the delimiters stay ("(5)", "20,").
_DIGIT_AFFIX = ",;:()[]{}\"'|!?`"


def _shape_decision(shape: bytes) -> object:
    """The recipe of the commonest shapes, read off the shape without running the cascade (None: run it).

    Each answer is what _mask_token gives for every token of the shape:
    - only simple-value characters and a digit: one value ("blk_-42", "10.0.0.1", "0x1f"), unless it is
      letters then one digit ("eth0"), a name;
    - letters with inert punctuation around them ("failure;", "(CioStream"): kept, unless the hex pass
      could take it (12+ hex letters, or 32+ characters);
    - a path, or a path and a port ("/10.251.42.84:50010", "/var/log/x.log"): one value; a path and a bare
      ":" ("/bin/x.rts:"): the path is one value. The cascade's path pass takes everything up to the ":",
      and the port is a number after it; nothing in the path is anything an earlier pass reacts to ("@",
      "=", "://", "\\", a placeholder);
    - a URL from its scheme to the token's end ("hdfs://10.10.34.11:9000/a/b.log:12+7"): one value, the
      cascade's first pass (the dot-split for ".." comes before it, and is ruled out above);
    - two values joined by one ":" ("172.16.96.116:33569", "eth0:1"): the digit-token pass masks each, and
      the run of two placeholders becomes one (no host name: a "." before a letter sends it to the cascade);
    - a word key and a value ("rhost=10.0.0.1", "(softheader=00131db8"): the value is masked. The key=value
      pass takes the whole value (no character of the value ends it or starts another pass first), and the
      key, letters and "_" only after any opening brackets, is no hex id (shorter than 12 or not all hex
      letters, under 32);
    - leader dots ("alignment.........0"): see _leader_dots_decision();
    - a run of hex groups joined by colons ("00:1a:2b:3c:4d:5e", "fe80::1:2", "12:34:56"), with delimiters
      around it ("(12:34:56),"): the run is one value, from the cascade's hex-sequence pass; the passes
      before it need "@", "=", "/", "\\" or "." and those after it find no digit left;
    - a value with delimiters around it ("20,", "(5)", "183.62.140.253:", "0x1f,", "[blk_-42]"): the value is
      masked and the delimiters stay. The cascade gets there through the digit-token pass alone: a
      delimiter fails the whole-token tests, none of "/", "@", "=", "\\" is present, and the two passes
      that could come first are ruled out on the shape (two ":" for IPv6-like runs, a "." before a letter
      for host names).
    """
    s = shape.decode("latin-1")  # str tests: `b"x" in bytes` first tries the needle as an int (slow)
    if ".." in s:
        return _leader_dots_decision(s)
    return _decide(s)


def _leader_dots_decision(s: str) -> object:
    """The recipe of a shape with leader dots ("depth.........9"), from the recipes of its parts.

    The cascade splits such a token at each run of two or more dots, masks every part on its own and keeps
    the dots, before any other rule. So when each part's shape is decided and at most one part changes,
    the token's recipe is that part's change moved to where the part starts. Two changed parts make two
    placeholders, which no single span gives: the cascade decides those (None).
    """
    span = None
    at = 0
    for k, part in enumerate(_DOTS_RE.split(s)):
        if k % 2 == 0 and part:
            how = _decide(part)
            if how is None:
                return None
            if how != _KEEP:
                if span is not None:
                    return None
                i, j = (0, len(part)) if how == _WHOLE else how  # type: ignore[misc]
                span = (at + i, at + j)
        at += len(part)
    if span is None:
        return _KEEP
    return _WHOLE if span == (0, len(s)) else span


def _decide(s: str) -> object:
    """_shape_decision() for a shape without leader dots, as a str."""
    # "not x.strip(chars)": every character of x is one of chars (strip empties it), as a translate that
    # deletes them would say, in one call in C
    if "9" in s and not s.strip(_SIMPLE_SHAPE_CHARS):
        if len(s) >= 3 and s[-1] == "9" and not s[:-1].strip("xXaA"):
            return _KEEP
        return _WHOLE
    core = s.strip(_WORD_AFFIX)
    if core and not core.strip("xXaA"):
        if len(s) < 32 and (len(core) < 12 or core.strip("xX")):
            return _KEEP
        return None
    if s[:1] == "/":
        path, colon, port = s.partition(":")
        if not path.strip(_PATH_SHAPE_CHARS) and (not colon or not port.strip("9")):
            return (0, len(s) - 1) if colon and not port else _WHOLE
    if "://" in s and _URL_SHAPE_RE.fullmatch(s):
        return _WHOLE
    first, colon, second = s.partition(":")
    if (colon and "9" in first and "9" in second and not first.strip(_SIMPLE_SHAPE_CHARS)
            and not second.strip(_SIMPLE_SHAPE_CHARS) and not _HOST_SHAPE_RE.search(s)):
        return _WHOLE
    key, eq, value = s.partition("=")
    word = key.lstrip("([{")
    if (eq and word and value and not word.strip("aAxX_") and not value.strip(_KV_VALUE_SHAPE_CHARS)
            and len(word) < 32 and (len(word) < 12 or word.strip("xX_"))):
        return (len(key) + 1, len(s))
    core = s.strip(_HEXSEQ_AFFIX)
    if core.count(":") >= 2 and _HEXSEQ_SHAPE_RE.fullmatch(core):
        i = len(s) - len(s.lstrip(_HEXSEQ_AFFIX))
        return _WHOLE if i == 0 and len(core) == len(s) else (i, i + len(core))
    core = s.strip(_DIGIT_AFFIX)
    if "9" in core and not core.strip(_SIMPLE_SHAPE_CHARS) and (
            not core.strip("9") or (s.count(":") < 2 and not _HOST_SHAPE_RE.search(s))):
        i = len(s) - len(s.lstrip(_DIGIT_AFFIX))
        return (i, i + len(core))
    return None


_HOST_SHAPE_RE = re.compile(r"\.[aAxX]")  # _HOST_GATE_RE on a shape: a "." before a letter
# _HEXSEQ_RE matching a whole core on its shape: groups of 1 to 4 hex characters joined by ":" or "::"
# (MAC and IPv6 addresses, clock times), and the delimiters that may stand around it: none of them is a
# word character or ":" (the pattern's look-arounds), "@", "=", "/" or "\\" (passes that run before it).
_HEXSEQ_SHAPE_RE = re.compile(r"[9xX]{1,4}(?:::?[9xX]{1,4}){2,}(?:::)?")
_HEXSEQ_AFFIX = ",;()[]{}\"'|!?`"
# _URL_RE matching a whole token, on its shape: a scheme of at most 16 characters from the token's start,
# "://", then characters the URL runs over (a longer scheme would leave the start of the token unmatched)
_URL_SHAPE_RE = re.compile(r"[aAxX][aAxX9+.\-]{0,15}://[^\s\"'<>()\[\]{},;]*", re.ASCII)
# What a path may hold for the path rule of _shape_decision: every character of _PATH_RE's class that no
# earlier or later pass of the cascade reacts to (no "@", "=", "\\", ":" or placeholder characters).
_PATH_SHAPE_CHARS = "/9xXaA_.-+#$%!?|`~&^"
# What a key=value value may hold for the key=value rule: _KV_RE's value class without "@" (the e-mail pass
# runs first), ":" (URLs), "=" (a second pair), "/" and "\\" (paths) or placeholder characters.
_KV_VALUE_SHAPE_CHARS = "9xXaA_.-+#$%!?|`~^'\"(["


class _TokenMemo(dict):  # type: ignore[type-arg]
    """token -> its mask. A miss computes the mask (dict calls __missing__ from C), so mask() reads a
    whole line's tokens with one map() and no second pass for the new ones. Bounded in entries and key
    size; only a pure function of the token is stored, so a hit equals a fresh computation."""

    __slots__ = ()

    def __missing__(self, tok: str) -> str:
        # inlined on purpose: this runs for every token seen for the first time, often once a line
        if tok.isalpha():
            out = tok
        elif tok.isdigit():
            out = PLACEHOLDER
        elif tok.isascii() and len(tok) <= _MEMO_TOKEN_MAX:
            shape = tok.encode().translate(_SHAPE_TABLE)
            how = _SHAPES.get(shape)
            if how is None:
                if len(_SHAPES) >= _MEMO_MAX:
                    _SHAPES.clear()
                how = _SHAPES[shape] = _shape_decision(shape)
                if how is None:  # the cascade decides, and says how for the next token of this shape
                    out = _mask_token(tok)
                    _SHAPES[shape] = _recipe(tok, out, shape)
            if how is None:
                pass  # out was just computed
            elif how == _WHOLE:
                out = PLACEHOLDER
            elif how == _KEEP:
                out = tok
            elif how == _SLOW:
                out = _mask_token(tok)
            else:
                out = tok[:how[0]] + PLACEHOLDER + tok[how[1]:]  # type: ignore[index]
        else:
            out = _mask_token(tok)
        if len(tok) <= _MEMO_TOKEN_MAX:
            if len(self) >= _MEMO_MAX:
                self.clear()
            self[tok] = out
        return out


_MEMO = _TokenMemo()
_masked = _MEMO.__getitem__


# Any token in this set means a neighbour rule of _context() may apply; one set test spares the loop.
_CONTEXT_GATE = frozenset(_DATE_WORDS | _NAME_NOUNS | _UNITS_GATE | {"for"})


def mask(text: str) -> str:
    """Replace the variable parts of one line of text with ``<*>``."""
    if '"' in text or "'" in text:
        text = _QUOTED_RE.sub(PLACEHOLDER, text)
    toks = text.split()
    # map() over the memo's lookup runs in C; only the tokens seen for the first time go to Python.
    out = list(map(_masked, toks))
    if not _CONTEXT_GATE.isdisjoint(toks):
        _context(toks, out)
    line = " ".join(out)
    # A token's mask holds no run of placeholders except around leader dots (see _mask_token), so the
    # line-level pass that merges runs is needed only where a run crosses a space or a ".." is present:
    # a few substring searches in C decide, and most lines skip the regex.
    if ("<*> <*>" in line or "<*>, <*>" in line or "<*> - <*>" in line
            or (".." in line and line.count(PLACEHOLDER) > 1)):
        line = _RUN_RE.sub(PLACEHOLDER, line)
    return line


def _context(toks: list[str], out: list[str]) -> None:
    """Rules that need a neighbour: dates spelled with words, units after numbers, names after "user".

    Only a token that is a name noun, "for" or a unit (once trailing punctuation is stripped) can start a
    rule, so the rules visit those positions alone, in order, with the skip that follows a masked name;
    every other position was a no-op of the loop over all tokens that this replaces.
    """
    rules = list(compress(count(), map(_RULE_WORDS.__contains__, map(str.rstrip, toks, repeat(_UNIT_TAIL, len(toks))))))
    dates = [] if _DATE_WORDS.isdisjoint(toks) else list(compress(count(), map(_DATE_WORDS.__contains__, toks)))
    _apply_context(toks, out, rules, dates)


def _apply_context(toks: list[str], out: list[str], rules: list[int], dates: list[int]) -> None:
    """The rules of _context() at the given positions: rules, in increasing order, where a name noun, "for"
    or a unit may start a rule; dates, in increasing order, where a month or weekday name stands."""
    n = len(out)
    skip = -1
    for i in rules:
        if i == skip:
            continue  # the name masked just before: never a noun itself
        t = toks[i]
        if t in _NAME_NOUNS and i + 1 < n and out[i] == t:
            nxt = out[i + 1]
            if nxt != PLACEHOLDER and nxt[:1].isalnum() and nxt[-1:].isalnum():
                out[i + 1] = PLACEHOLDER
                skip = i + 1
        elif t == "for" and i and i + 1 < n and toks[i - 1] in _AUTH_BEFORE_FOR and toks[i + 1] not in _NOT_A_NAME:
            if out[i + 1] == toks[i + 1] and toks[i + 1][:1].isalnum():
                out[i + 1] = PLACEHOLDER
                skip = i + 1
        elif i and out[i - 1] == PLACEHOLDER:
            bare = t.rstrip(_UNIT_TAIL)
            if bare in _UNITS:
                out[i] = PLACEHOLDER + t[len(bare):]
    # month and weekday names next to a masked value are part of a date ("Sat Jun 18 02:08:10 2005");
    # two passes from the end, over the date words only (no other position changes here)
    for _ in range(2):
        for i in reversed(dates):
            if (i + 1 < n and out[i + 1] == PLACEHOLDER) or (i and out[i - 1] == PLACEHOLDER):
                out[i] = PLACEHOLDER

_UNIT_TAIL = ",;:.)]"
_INDEX_SEARCHES_MAX = 2  # above this many words, one pass over a batch's tokens finds their positions faster
# every token that can start a rule above, after rstrip(_UNIT_TAIL): a superset, the rules test exactly
_RULE_WORDS = frozenset(_NAME_NOUNS | _UNITS | {"for"})


# --------------------------------------------------------------------------------------------------
# Stack traces
# --------------------------------------------------------------------------------------------------
_PY_TRACE = "Traceback (most recent call last):"
_PY_FRAME_RE = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)', re.M)
_PY_EXC_RE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault|[A-Z]\w+))(?::\s?(.*))?$")
_PY_LIB = ("site-packages/", "dist-packages/", "/var/runtime/", "/var/lang/lib/", "/lib/python", "<frozen ")

_JAVA_FRAME_RE = re.compile(r"^\s*at ([\w$.<>/]+)\.([\w$<>]+)\(([^)]*)\)")
_JAVA_EXC_RE = re.compile(r"^(?:Caused by: |Exception in thread \"[^\"]*\" )?([a-zA-Z_$][\w$]*(?:\.[\w$]+)+)(?::\s?(.*))?$")
_JAVA_LIB = ("java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.", "org.springframework.",
             "org.apache.", "org.hibernate.", "io.netty.", "reactor.", "com.amazonaws.", "software.amazon.",
             "com.fasterxml.", "org.eclipse.", "org.junit.", "okhttp3.", "io.grpc.", "com.google.", "akka.", "lambdainternal.")

_NODE_FRAME_RE = re.compile(r"^\s*at (?:async )?(?:(\S+) \((.+?)(?::\d+){0,2}\)|(.+?)(?::\d+){0,2})\s*$")
_NODE_EXC_RE = re.compile(r"^(?:Uncaught )?([A-Z]\w*(?:Error|Exception))(?: \[[\w-]+\])?(?::\s?(.*))?$")
_NODE_LIB = ("node_modules/", "node:", "internal/", "/var/runtime/")
_LAMBDA_HDR_RE = re.compile(r"^\[(?:ERROR|WARNING|WARN|CRITICAL)\]\s+")
_GENERATED_RE = re.compile(r"\$\$?(?:Lambda|Proxy|EnhancerBy\w*)\$?[\w$/]*|\$\d+|\d+")


def _short_path(path: str) -> str:
    """The last two path segments: stable across deploy roots (/var/task, /app, C:\\src)."""
    path = path.replace("\\", "/")
    if path.startswith("file://"):
        path = path[7:]
    return "/".join(path.rstrip("/").split("/")[-2:])


def _pick(frames: list[tuple[str, bool]]) -> list[str]:
    """Innermost application frames; library frames only when there is no application frame at all."""
    app = [f for f, is_lib in frames if not is_lib]
    chosen = app or [f for f, _ in frames]
    return chosen[:MAX_FRAMES]


def _python_trace(lines: list[str]) -> tuple[str, str, list[str]] | None:
    start = max((i for i, ln in enumerate(lines) if ln.strip() == _PY_TRACE), default=-1)
    if start < 0:
        return None
    frames: list[tuple[str, bool]] = []
    exc, msg = None, ""
    for ln in lines[start + 1:]:
        m = _PY_FRAME_RE.match(ln)
        if m:
            path, func = m.group(1), m.group(2)
            frames.append((f"{_short_path(path)}:{func}", any(s in path for s in _PY_LIB)))
            continue
        if ln[:1] not in (" ", "\t", "") and exc is None:
            e = _PY_EXC_RE.match(ln.strip())
            if e:
                exc, msg = e.group(1), e.group(2) or ""
                break
    if exc is None:
        # Lambda's own format puts "[ERROR] Class: message" on the first line, before the traceback.
        head = _LAMBDA_HDR_RE.sub("", lines[0].strip()) if lines else ""
        e = _PY_EXC_RE.match(head)
        if e and start > 0:
            exc, msg = e.group(1), e.group(2) or ""
    if exc is None:
        return None
    frames.reverse()  # Python prints innermost last
    return exc, msg, _pick(frames)


def _java_trace(lines: list[str]) -> tuple[str, str, list[str]] | None:
    first_frame = next((i for i, ln in enumerate(lines[:12]) if _JAVA_FRAME_RE.match(ln)), -1)
    if first_frame < 1:
        return None
    # The exception line is the last one before the first frame: logback/log4j put their own header line
    # ("2026-… ERROR [thread] Logger - Failed to …") above it, which varies and is not the error's identity.
    e = None
    for ln in reversed(lines[:first_frame]):
        e = _JAVA_EXC_RE.match(_LAMBDA_HDR_RE.sub("", strip_prefix(ln.strip())))
        if e is not None:
            break
    if e is None:
        return None
    exc, msg = e.group(1), e.group(2) or ""
    frames: list[tuple[str, bool]] = []
    causes: list[str] = []
    in_cause = False
    for ln in lines[first_frame:]:
        s = ln.strip()
        if s.startswith("Caused by: "):
            c = _JAVA_EXC_RE.match(s)
            if c:
                causes.append("caused by " + c.group(1))
            in_cause = True
            continue
        if in_cause:
            continue
        m = _JAVA_FRAME_RE.match(ln)
        if m:
            cls = _GENERATED_RE.sub("", m.group(1))
            method = _GENERATED_RE.sub("", m.group(2))
            frames.append((f"{cls}.{method}", cls.startswith(_JAVA_LIB)))
    return exc, msg, _pick(frames) + causes[:MAX_FRAMES]


def _node_trace(lines: list[str]) -> tuple[str, str, list[str]] | None:
    if not any(ln.lstrip().startswith("at ") for ln in lines[1:4]):
        return None
    first = _LAMBDA_HDR_RE.sub("", strip_prefix(lines[0].strip()))
    e = _NODE_EXC_RE.match(first)
    if e is None:
        return None
    frames: list[tuple[str, bool]] = []
    for ln in lines[1:]:
        m = _NODE_FRAME_RE.match(ln)
        if not m:
            continue
        func, loc = (m.group(1), m.group(2)) if m.group(2) else ("<anonymous>", m.group(3))
        frames.append((f"{func} ({_short_path(loc)})", any(s in loc for s in _NODE_LIB)))
    return e.group(1), e.group(2) or "", _pick(frames)


_EXC_WORD_RE = re.compile(r"\b((?:[a-z_$][\w$]*\.)*[A-Z][\w$]*(?:Exception|Error|Fault|Failure|Throwable))\b")


# Whole-message memos, on top of the token memo above. Logs repeat whole lines (retries, error storms)
# and, far more often, whole templates (the same error with other ids), so a line's result and a
# template's digest are kept. Both are pure functions of their key, so a memo hit returns exactly what
# the computation would: the memos change speed, never a fingerprint. Bounded in entries and key size.
_LINE_MEMO: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {}
_TEMPLATE_MEMO: dict[str, tuple[str, str | None]] = {}
_LINE_MEMO_MAX = 4096
_LINE_MEMO_KEY_MAX = 1024


def clear_caches() -> None:
    """Forget every memoised result (benchmarks call this so that every timed run starts cold)."""
    _MEMO.clear()
    _SHAPES.clear()
    _LINE_MEMO.clear()
    _TEMPLATE_MEMO.clear()
    _SKELETONS.clear()
    _RECIPES.clear()


def fingerprint(message: str) -> Fingerprint:
    """The stable identity of an error message (see the module docstring for what is masked and why)."""
    hit = _LINE_MEMO.get(message)
    if hit is None:
        if len(message) > _LINE_MEMO_KEY_MAX:
            hit = _compute(message)  # too long to be a memo key
        else:
            if "\n" in message:
                hit = _compute(message)
            else:
                # the common case, a short one-line message, inlined: on a line never seen before the
                # calls saved here are a measurable share of the whole cost
                # most lines start with a character no prefix starts with: one set test, no call
                c = message[:1]
                template = mask(strip_prefix(message) if c in _PREFIX_FIRST or c.isspace() else message)
                known = _TEMPLATE_MEMO.get(template) or _template_key(template)
                hit = (known[0], template, known[1], ())
            if len(_LINE_MEMO) >= _LINE_MEMO_MAX:
                _LINE_MEMO.clear()
            _LINE_MEMO[message] = hit
    # A fresh object every call: Fingerprint is mutable, so callers must never share one. Built without
    # the frozen dataclass's generated __init__ (one object.__setattr__ call per field, as much time as
    # masking a line of known tokens); the instance dict holds the same fields in the same order.
    fp = _new_object(Fingerprint)
    d = fp.__dict__
    d["fingerprint"] = hit[0]
    d["template"] = hit[1]
    d["exception"] = hit[2]
    d["frames"] = list(hit[3]) if hit[3] else []
    return fp


_new_object = object.__new__


def _compute(message: str) -> tuple[str, str, str | None, tuple[str, ...]]:
    """(digest, template, exception, frames) of one message."""
    message = message[:_MAX_INPUT]
    if "\n" in message:
        lines = message.replace("\r\n", "\n").split("\n")
        trace = _python_trace(lines) or _java_trace(lines) or _node_trace(lines)
        if trace is not None:
            exc, msg, frames = trace
            template = f"{exc}: {mask(msg)}" if msg.strip() else exc
            return _digest(template, exc, frames), template, exc, tuple(frames)
        message = next((ln for ln in lines if ln.strip()), "")
    template = mask(strip_prefix(message))
    known = _TEMPLATE_MEMO.get(template) or _template_key(template)
    return known[0], template, known[1], ()


def _template_key(template: str) -> tuple[str, str | None]:
    """(digest, exception class) of a one-line message's template, memoised: both depend on it alone."""
    m = _EXC_WORD_RE.search(template) if _has_exc_hint(template) else None
    exc = m.group(1) if m else None
    known = (_digest(template, exc, ()), exc)
    if len(template) <= _LINE_MEMO_KEY_MAX:
        if len(_TEMPLATE_MEMO) >= _LINE_MEMO_MAX:
            _TEMPLATE_MEMO.clear()
        _TEMPLATE_MEMO[template] = known
    return known


def _has_exc_hint(template: str) -> bool:
    """Cheap test that spares _EXC_WORD_RE on lines without an exception-like word (chained `in`, no loop)."""
    return ("Error" in template or "Exception" in template or "Fault" in template or "Failure" in template
            or "Throwable" in template)


def _digest(template: str, exception: str | None, frames: Sequence[str]) -> str:
    material = template + "\x1f" + (exception or "") + "\x1f" + "\x1e".join(frames)
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# Batches. Intake fingerprints a whole CloudWatch Logs batch at once. fingerprint_rows() gives what
# fingerprint() gives for every message, but does the per-line steps of mask() for the whole batch in a
# few calls in C. A batch is deduplicated first (a storm repeats one line thousands of times). Lines that
# differ from a line already seen only in their digits take its row without being masked again (see
# _rows_of_lines). The other one-line messages are joined around a sentinel token and split into tokens
# once; new tokens are learned in bulk
# and the token memo is read with one map(); the neighbour rules run once over the batch at the positions
# of their words; prefixes, quoted values and runs of placeholders are handled on the lines that may hold
# them, found with maps and substring searches over the batch; the template memo is read with one map().
# Every step gives each line what the per-line step gives it: no pattern used here can match across the
# "\n" around the sentinel, and the sentinel is a token of its own that masks to itself and that no
# neighbour rule accepts. fingerprint() takes none of the batch shortcuts above and stays the reference:
# tests/unit/test_fingerprint.py checks fingerprint_rows() against it, and benchmarks/batch_equivalence.py
# does on about 100,000 lines.
# --------------------------------------------------------------------------------------------------
Row = tuple  # (fingerprint, template, exception, frames): the fields of a Fingerprint, frames a tuple

_BATCH_MIN = 8  # below this the batch set-up costs more than it saves
_SENTINEL = "\x00"  # masks to itself (tests pin it); a message holding one takes the per-line path
_JOINER = "\n" + _SENTINEL + "\n"
_SPLITTER = " " + _SENTINEL + " "
# Which lines may start with a prefix, asked of the whole batch with maps in C. A line that strip_prefix()
# changes starts with a match of _PREFIX_RE, so its first character is a space, a digit or "[" (or it
# starts with a level, month, weekday or "RequestId:"), or it starts with a request id, whose ninth
# character is "-". Those lines go through strip_prefix(), which decides exactly; every other line is
# its own prefix-free text. _SPACES lists every character str.isspace() accepts (tests/unit checks).
_SPACES = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")  # what str.isspace() accepts
_PREFIX_HEADS = frozenset(_SPACES | set("0123456789["))
_head = itemgetter(slice(0, 1))
_char8 = itemgetter(slice(8, 9))
_PREFIX_BY_HEAD = {c: tuple(sorted(w for w in _PREFIX_WORDS if w[0] == c)) for c in _PREFIX_FIRST if c.isalpha()}
_first = itemgetter(0)
_second = itemgetter(1)


def _row(message: str) -> Row:
    fp = fingerprint(message)
    return (fp.fingerprint, fp.template, fp.exception, tuple(fp.frames))


def fingerprint_rows(messages: Iterable[str]) -> list[Row]:
    """One ``(fingerprint, template, exception, frames)`` tuple per message, in order: the fields that
    :func:`fingerprint` gives each message (frames as a tuple), computed for the whole batch at once."""
    msgs = list(messages)
    if len(msgs) < _BATCH_MIN:
        return list(map(_row, msgs))
    unique = list(dict.fromkeys(msgs))
    # one-line messages take the batch path; the others (traces, very long lines, a sentinel) the per-line one
    joined = "".join(unique)
    if "\n" in joined or _SENTINEL in joined or max(map(len, unique)) > _MAX_INPUT:
        simple = [m for m in unique if "\n" not in m and _SENTINEL not in m and len(m) <= _MAX_INPUT]
    else:
        simple = unique
    done = _rows_of_lines(simple) if len(simple) >= _BATCH_MIN else list(map(_row, simple))
    if len(simple) == len(msgs):  # no repeats and nothing for the per-line path: rows are in order
        return done
    rows = dict(zip(simple, done))
    if len(simple) != len(unique):
        rows.update((m, _row(m)) for m in unique if m not in rows)
    return list(map(rows.__getitem__, msgs))


def _rows_of_lines(lines: list[str]) -> list[Row]:
    """Rows of distinct one-line messages without a sentinel: by skeleton where one is known, else by tokens.

    A line's skeleton is the line with every ASCII digit written as "9". No rule of this module tells one
    digit from another (they test digit classes, lengths, letters and punctuation: the shape memo above
    rests on the same fact), so on two lines with one skeleton every rule decides the same thing at the
    same place, and their templates differ at most in the ASCII digits they keep ("eth0", "ssh2"). When the
    template holds no digit, every line of that skeleton has that very row. So the token path runs once per
    skeleton, and a skeleton whose template holds no digit is remembered: most lines of a log repeat the
    skeleton of an earlier one with other numbers (86 % of HDFS's distinct lines, 95 % of Spark's). A
    template that keeps a digit is never shared as it is: see _rows_keeping_digits().
    """
    # UTF-8 writes every ASCII character (digits and "\n" included) as itself and nothing else with those bytes
    skeletons = "\n".join(lines).encode("utf-8", "surrogatepass").translate(_SKELETON_TABLE).split(b"\n")
    rows: list[Row | None] = list(map(_SKELETONS.get, skeletons))
    if None not in rows and _OWN not in rows:
        return rows  # type: ignore[return-value]
    missing = list(compress(count(), map(is_, rows, repeat(None))))
    first: dict[bytes, int] = {}  # each new skeleton's first line
    for i in missing:
        first.setdefault(skeletons[i], i)
    pending: dict[bytes, list[int]] = {}  # lines of skeletons that keep a digit, by skeleton
    for i in compress(count(), map(is_, rows, repeat(_OWN))):
        recipe = _RECIPES.get(skeletons[i])
        if recipe is None:
            pending.setdefault(skeletons[i], []).append(i)
            rows[i] = None
        else:
            rows[i] = _row_by_recipe(recipe, lines[i])
    for i, row in zip(first.values(), _rows_some(lines, list(first.values()))):
        rows[i] = row
    shared: dict[bytes, Row] = {}
    for skeleton, i in first.items():
        row = rows[i]
        keeps_digit = _DIGIT_RE.search(row[1])  # type: ignore[index]
        if not keeps_digit:
            shared[skeleton] = row  # type: ignore[assignment]
        if len(skeleton) <= _LINE_MEMO_KEY_MAX:
            if len(_SKELETONS) >= _LINE_MEMO_MAX:
                _SKELETONS.clear()
                _RECIPES.clear()
            _SKELETONS[skeleton] = _OWN if keeps_digit else row  # type: ignore[assignment]
    for i in missing:
        if rows[i] is None:
            row = shared.get(skeletons[i])
            if row is None:  # its skeleton's template keeps a digit
                pending.setdefault(skeletons[i], []).append(i)
            else:
                rows[i] = row
    if pending:
        _rows_keeping_digits(pending, first, lines, rows)
    return rows  # type: ignore[return-value]


def _rows_some(lines: list[str], which: list[int]) -> list[Row]:
    """Rows of the lines at the given indices (see _rows_by_tokens_or_alone)."""
    return _rows_by_tokens_or_alone([lines[i] for i in which])


def _rows_by_tokens_or_alone(lines: list[str]) -> list[Row]:
    """Rows of one-line messages: by tokens as a batch, or one by one when they are too few to pay for it."""
    return _rows_by_tokens(lines) if len(lines) >= _BATCH_MIN else list(map(_row, lines))


# --- templates that keep a digit ------------------------------------------------------------------
# On lines with one skeleton the same characters are kept, so a template that keeps digits ("... port <*>
# ssh2") keeps them from the same places of every line: its template is the first line's template with
# those digits taken from the line instead. Where they come from is found with two probe lines of the
# skeleton: the line with its k-th digit replaced by k % 10 (then k // 10 % 10), so that each digit of
# the probe's template names the digit of the line it was kept from. A recipe is the first template as a
# format string with a {} for each kept digit, and an itemgetter for the line's digits that fill them.
_DIGIT_CHARS = "0123456789"
_MAX_RECIPE_DIGITS = 100  # digits two probes can name
_RECIPE_MIN = 3  # lines of one skeleton a batch must hold to pay for two probe lines
_DIGIT_RE = re.compile(r"[0-9]")
_RECIPES: dict[bytes, tuple[str, itemgetter]] = {}  # skeleton -> recipe (its entry in _SKELETONS is _OWN)


def _probe(line: str, places: list[int], place_value: int) -> str:
    """line with its k-th digit (at places[k]) replaced by the digit k // place_value % 10."""
    chars = list(line)
    for k, at in enumerate(places):
        chars[at] = _DIGIT_CHARS[k // place_value % 10]
    return "".join(chars)


def _rows_keeping_digits(pending: dict[bytes, list[int]], first: dict[bytes, int], lines: list[str],
                         rows: list[Row | None]) -> None:
    """Rows of the pending lines, whose skeletons keep a digit: by a recipe learned here for a skeleton
    with at least _RECIPE_MIN of them (two probes and, for a skeleton of an earlier batch, one of its lines
    go through the token path), by tokens for the others."""
    plans: list[tuple[bytes, int, list[int], tuple[str, str]]] = []  # (skeleton, a line, its digits, its probes)
    computed: list[str] = []  # lines for the token path: probes, lines of earlier skeletons, the rest
    direct: list[int] = []
    for skeleton, waiting in pending.items():
        i = first.get(skeleton, waiting[0])
        places = [m.start() for m in _DIGIT_RE.finditer(lines[i])]
        if len(waiting) < _RECIPE_MIN or len(places) > _MAX_RECIPE_DIGITS:
            direct += waiting
            continue
        probes = (_probe(lines[i], places, 1), _probe(lines[i], places, 10))
        plans.append((skeleton, i, places, probes))
        if rows[i] is None:  # a skeleton of an earlier batch: the line's template is computed here
            computed.append(lines[i])
        computed += probes
    computed += (lines[i] for i in direct)
    done = iter(_rows_by_tokens_or_alone(computed))
    recipes: dict[bytes, tuple[str, itemgetter]] = {}
    for skeleton, i, places, probes in plans:
        if rows[i] is None:
            rows[i] = next(done)
        ones, tens = next(done)[1], next(done)[1]
        recipe = _recipe_from_probes(lines[i], rows[i][1], places, probes, (ones, tens))  # type: ignore[index]
        if recipe is not None:
            recipes[skeleton] = recipe
            if len(skeleton) <= _LINE_MEMO_KEY_MAX:
                _RECIPES[skeleton] = recipe
    for i in direct:
        rows[i] = next(done)
    again = []
    for skeleton, _i, _places, _probes in plans:
        recipe = recipes.get(skeleton)
        for j in pending[skeleton]:
            if rows[j] is None:
                if recipe is None:
                    again.append(j)
                else:
                    rows[j] = _row_by_recipe(recipe, lines[j])
    if again:
        for j, row in zip(again, _rows_some(lines, again)):
            rows[j] = row


def _recipe_from_probes(line: str, template: str, places: list[int], probes: tuple[str, str],
                        probe_templates: tuple[str, str]) -> tuple[str, itemgetter] | None:
    """The recipe of line's skeleton from its template and its probes' (places: where line's digits are)."""
    ones, tens = probe_templates
    kept = [m.start() for m in _DIGIT_RE.finditer(template)]
    if len(ones) != len(template) or len(tens) != len(template):
        return None  # cannot happen (one skeleton, one structure); never trade a wrong key for speed
    sources = []
    for at in kept:
        one, ten = _DIGIT_CHARS.find(ones[at]), _DIGIT_CHARS.find(tens[at])
        k = one + 10 * ten
        if one < 0 or ten < 0 or k >= len(places) or line[places[k]] != template[at]:
            return None
        sources.append(places[k])
    fmt = []
    last = 0
    for at in kept:
        fmt.append(template[last:at].replace("{", "{{").replace("}", "}}"))
        last = at + 1
    fmt.append(template[last:].replace("{", "{{").replace("}", "}}"))
    recipe = ("{}".join(fmt), itemgetter(*sources))
    # the line and both probes must read back through the recipe as the templates computed for them
    if (_by_recipe(recipe, line) != template or _by_recipe(recipe, probes[0]) != ones
            or _by_recipe(recipe, probes[1]) != tens):
        return None
    return recipe


def _by_recipe(recipe: tuple[str, itemgetter], line: str) -> str:
    return recipe[0].format(*recipe[1](line))  # one kept digit: itemgetter gives a 1-character str


def _row_by_recipe(recipe: tuple[str, itemgetter], line: str) -> Row:
    template = _by_recipe(recipe, line)
    known = _TEMPLATE_MEMO.get(template) or _template_key(template)
    return (known[0], template, known[1], ())


# digits as "9" (see _rows_of_lines); a row whose template keeps a digit is never shared as it is
_SKELETON_TABLE = bytes.maketrans(b"0123456789", b"9" * 10)
_OWN: Row = ("", "", None, ())  # in _SKELETONS: the template of this skeleton keeps a digit, never shared
_SKELETONS: dict[bytes, Row] = {}


def _rows_by_tokens(lines: list[str]) -> list[Row]:
    """Rows of one-line messages without a sentinel, each computed from its tokens (see above)."""
    texts = lines.copy()
    heads = list(map(_head, lines))
    flagged = set(compress(count(), map(_PREFIX_HEADS.__contains__, heads)))
    flagged.update(compress(count(), map(str.startswith, lines, map(_PREFIX_BY_HEAD.get, heads, repeat(())))))
    flagged.update(compress(count(), map(eq, map(_char8, lines), repeat("-"))))
    for i in flagged:
        texts[i] = strip_prefix(lines[i])
    if not all(map(str.strip, texts)):  # a line without tokens would merge with its neighbour below
        return [_row(m) for m in lines] if len(lines) < _BATCH_MIN else _rows_with_empty(lines, texts)
    blob = "\n".join(texts)
    if '"' in blob or "'" in blob:
        starts = line_starts(texts, 1)
        quoted: set[int] = set()
        lines_with(blob, '"', starts, quoted)
        lines_with(blob, "'", starts, quoted)
        for i in quoted:
            texts[i] = _QUOTED_RE.sub(PLACEHOLDER, texts[i])
    toks = _JOINER.join(texts).split()
    distinct = set(toks)
    _learn_tokens(toks, distinct)
    out = list(map(_masked, toks))
    if not _CONTEXT_GATE.isdisjoint(distinct):
        _context_many(toks, out, distinct)
    joined = " ".join(out)
    tlist = joined.split(_SPLITTER)
    if len(tlist) != len(lines):  # cannot happen (see above); never trade a wrong key for speed
        return [_row(m) for m in lines]
    # no hint can span the sentinel between two templates, so the joined batch answers for every line
    if ".." in joined or any(map(joined.__contains__, _RUN_HINTS)):
        _merge_runs(tlist)
    keys = {t: _TEMPLATE_MEMO.get(t) or _template_key(t) for t in dict.fromkeys(tlist)}
    known = list(map(keys.__getitem__, tlist))
    return list(zip(map(_first, known), tlist, map(_second, known), repeat(())))


# what mask() tests before it merges runs of placeholders (see there)
_RUN_HINTS = ("<*> <*>", "<*>, <*>", "<*> - <*>")


def _merge_runs(tlist: list[str]) -> None:
    """mask()'s last step on the templates of a batch that holds a hint of a run somewhere: the lines that
    may hold one are found with a few substring searches over the whole batch, and only those are changed."""
    blob = "\n".join(tlist)
    starts = line_starts(tlist, 1)
    hits: set[int] = set()
    for needle in _RUN_HINTS:
        lines_with(blob, needle, starts, hits)
    dots: set[int] = set()
    lines_with(blob, "..", starts, dots)
    hits.update(k for k in dots if tlist[k].count(PLACEHOLDER) > 1)
    for k in hits:
        tlist[k] = _RUN_RE.sub(PLACEHOLDER, tlist[k])



def _learn_tokens(toks: list[str], distinct: set[str]) -> None:
    """Put the batch's new tokens into the token memo at once, exactly as _TokenMemo.__missing__ would.

    A line of a batch has one or two tokens never seen before (ids, addresses); computing each in
    __missing__ costs a Python call. Here words and numbers are stored with filters in C, the other new
    ASCII tokens get their shapes in one translate() over all of them and their recipes in one map() over
    the shape memo (a shape not seen yet is decided once, by _shape_decision() or by the cascade on one of
    its tokens), and the outcomes are stored: kept, one <*>, or a span replaced. Tokens whose recipe is
    _SLOW, non-ASCII and long tokens are left to __missing__, which the caller's map() runs.
    """
    memo = _MEMO
    new = distinct.difference(memo)
    if not new:
        return
    if len(memo) + len(new) >= _MEMO_MAX:
        memo.clear()
        new = distinct.copy()
    if max(map(len, new)) > _MEMO_TOKEN_MAX:  # __missing__ does not keep long tokens; nor does this
        new = set(compress(new, map(le, map(len, new), repeat(_MEMO_TOKEN_MAX))))
    alpha = list(filter(str.isalpha, new))
    memo.update(zip(alpha, alpha))
    rest = new.difference(alpha)  # set operations reuse the hashes: cheaper than a second test per token
    digits = list(filter(str.isdigit, rest))
    memo.update(zip(digits, repeat(PLACEHOLDER)))
    words = list(rest.difference(digits)) if digits else list(rest)
    if not "".join(words).isascii():
        words = list(filter(str.isascii, words))
    if not words:
        return
    shapes = "\n".join(words).encode("ascii").translate(_SHAPE_TABLE).split(b"\n")
    how = list(map(_SHAPES.get, shapes))
    if None in how:
        # shapes not seen yet: those _shape_decision() reads off the shape are stored at once; for each other
        # one, a token of that shape goes through __missing__, which runs the cascade and learns the recipe
        unknown = list(map(is_, how, repeat(None)))
        firsts = dict(zip(compress(shapes, unknown), compress(words, unknown)))
        if len(_SHAPES) + len(firsts) >= _MEMO_MAX:
            _SHAPES.clear()
        decided = dict(zip(firsts, map(_shape_decision, firsts)))
        for shape, tok in firsts.items():
            if decided[shape] is None:
                memo[tok]  # noqa: B018 - the lookup computes and stores (dict calls __missing__)
            else:
                _SHAPES[shape] = decided[shape]
        how = list(map(_SHAPES.get, shapes))
    if how.count(_KEEP) + how.count(_WHOLE) == len(how):  # the common case: each token kept or one value
        memo.update(zip(words, map(getitem, zip(words, repeat(PLACEHOLDER)), how)))  # (tok, <*>)[_KEEP or _WHOLE]
        return
    memo.update(zip(compress(words, map(eq, how, repeat(_WHOLE))), repeat(PLACEHOLDER)))  # not __eq__: None
    kept = list(compress(words, map(eq, how, repeat(_KEEP))))
    memo.update(zip(kept, kept))
    for tok, (i, j) in compress(zip(words, how), map(isinstance, how, repeat(tuple))):
        memo[tok] = tok[:i] + PLACEHOLDER + tok[j:]


def _rows_with_empty(lines: list[str], texts: list[str]) -> list[Row]:
    """Rows when some lines are empty once their prefix is gone: those per line, the others as a batch."""
    full = [m for m, t in zip(lines, texts) if t.strip()]
    done = dict(zip(full, _rows_by_tokens(full)))
    return [done[m] if m in done else _row(m) for m in lines]


def _context_many(toks: list[str], out: list[str], distinct: set[str]) -> None:
    """_context() on each line of a joined batch that holds one of its words (what mask() does per line).

    Per line, _context() visits the tokens that are a rule word once trailing punctuation is stripped, but
    only a name noun, "for" or a unit with at most one trailing character (a word of _CONTEXT_GATE) can
    make a rule fire: a noun or "for" must be the token itself, and a unit with one trailing character is
    in the gate. The rules only read neighbours, and a line's neighbour across its end is the sentinel,
    which no rule accepts, exactly as the end of a line. So the rules run once over the whole batch, at
    the positions of the gate words, in order: what each line would get alone.

    One case breaks this: a unit with two or more trailing characters ("ms,)") is a rule position of
    _context() but not a gate word. If the batch holds one, _context() runs on each line with a gate word.
    """
    words = _CONTEXT_GATE.intersection(distinct)
    # A unit with two or more trailing characters is a token whose rstrip() is a unit but that is not in
    # _UNITS_GATE (a unit and at most one trailing character): there is one iff more distinct tokens strip
    # to a unit than there are gate units among them. Most batches hold no unit at all.
    bare = list(map(str.rstrip, distinct, repeat(_UNIT_TAIL)))
    odd = (not _UNITS.isdisjoint(bare)
           and sum(map(_UNITS.__contains__, bare)) != len(_UNITS_GATE.intersection(distinct)))
    if not odd and "for" in words and _AUTH_BEFORE_FOR.isdisjoint(distinct):
        # "for" masks the next word only after an authentication word: with none in the batch, its
        # positions are no-ops (no unit, no name noun, no skip), and nothing else needs them
        words = words.difference(("for",))
        if not words:
            return
    index = toks.index
    rules: list[int] = []
    dates: list[int] = []
    if len(words) <= _INDEX_SEARCHES_MAX:
        # one search in C through the tokens for each word is cheapest while the words are few
        for word in words:
            into = dates if word in _DATE_WORDS else rules
            i = -1
            while True:
                try:
                    i = index(word, i + 1)
                except ValueError:
                    break
                into.append(i)
        rules.sort()
        dates.sort()
    else:  # one pass over the tokens, in order
        found = list(compress(count(), map(words.__contains__, toks)))
        is_date = list(map(_DATE_WORDS.__contains__, map(toks.__getitem__, found)))
        rules = list(compress(found, map(not_, is_date)))
        dates = list(compress(found, is_date))
    if not odd:
        _apply_context(toks, out, rules, dates)
        return
    n = len(toks)
    back = toks[::-1].index
    lines: dict[int, int] = {}  # end -> start of each line with a gate word
    for i in rules + dates:
        try:
            end = index(_SENTINEL, i)
        except ValueError:
            end = n
        if end not in lines:
            try:
                lines[end] = n - back(_SENTINEL, n - 1 - i)
            except ValueError:
                lines[end] = 0
    for end, start in lines.items():
        seg = out[start:end]
        _context(toks[start:end], seg)
        out[start:end] = seg




_CLI_BATCH = 500  # lines per batch through the learner, as intake receives them


def run_cli(lines: Iterable[str], out: TextIO, learn: bool = True) -> int:
    """Print one ``{"fingerprint", "template"}`` JSON object per input line, in input order.

    The lines are one log source read in order: they go through the template learner (opsloop.templates)
    in batches, as intake does, and each line's fingerprint is printed as it finally resolves once every
    line has been read (its alias followed to the root, with the root's learned template). With
    ``learn=False``, masking alone. An empty line still yields an object (of the empty message) so output
    line N matches input line N. Returns the process exit code.
    """
    from .templates import InMemoryTemplateStore, TemplateLearner, final_fingerprint

    store = InMemoryTemplateStore()
    learner = TemplateLearner(store)
    issued: list[tuple[str, str]] = []
    batch: list[str] = []

    def flush() -> None:
        rows = fingerprint_rows(batch)
        if learn:
            rows = learner.resolve_rows("cli", rows)
        issued.extend((row[0], row[1]) for row in rows)
        batch.clear()

    for line in lines:
        batch.append(line.rstrip("\r\n"))
        if len(batch) >= _CLI_BATCH:
            flush()
    flush()
    final = {key: final_fingerprint(store, "cli", key) for key in dict.fromkeys(k for k, _ in issued)}
    learned = learner.templates_of_roots()
    for key, template in issued:
        root = final[key]
        template = learned.get(root, template).encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
        out.write(json.dumps({"fingerprint": root, "template": template}, ensure_ascii=False) + "\n")
    return 0


__all__ = ["Fingerprint", "PLACEHOLDER", "clear_caches", "fingerprint", "fingerprint_rows", "mask", "run_cli",
           "strip_prefix"]
