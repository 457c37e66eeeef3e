"""Learning what varies in a log source: templates that differ in a few positions become one incident.

Masking (:mod:`opsloop.fingerprint`) knows the *kinds* of values every system writes (numbers, ids,
addresses, paths). It cannot know that in one system the third word is a host name and in another a
process or user name: such tokens stay as static words, and one kind of error becomes one incident per
host. This module learns those positions from the stream itself, per scope (a log group), the way Drain
does, but with state that every intake container shares and that never rewrites the past:

* Templates are grouped in *buckets*: one bucket per (scope, number of tokens, exception class). A bucket
  holds an ordered list of *patterns* (a template whose learned positions are ``<*>``) and each pattern
  carries the *root* fingerprint it resolves to: the fingerprint masking gave its first template.
* A masked template that a pattern matches (equal tokens where the pattern is static) resolves to the
  pattern's root. One that no pattern matches is compared with the bucket's patterns, position by position
  where the pattern is static. A differing position is either *two values of one kind* (each token holds
  a ``<*>`` and they agree outside punctuation, ``blk_<*>`` / ``blk_-<*>``; or both are ``key=value`` with
  one key, ``user=root`` / ``user=uucp``): at most ``max_kind`` of those, and they need no evidence, or
  anything else: at most ``max_diff`` of those, and they need *evidence*: at least ``evidence`` distinct
  values seen at those positions among the patterns the generalised one would cover and the new
  template. Values seen, not templates: a closed set of two words (``password`` / ``none``) that comes
  with many user names stays two, while a position with many values becomes a variable. Where one side
  holds a word and the other a value (``rhost=`` / ``rhost=<*>``, ``'sparkExecutorActorSystem'`` /
  ``'org.apache.spark...'``), the position needs ``mixed_evidence`` values: a word against a value is more
  often two forms of a message than two values of one variable. A word in one of
  the first ``prefix`` positions never varies (``Failed password ...`` / ``Accepted password ...``: the
  first words say what happened, as in Drain's prefix tree). The generalised pattern must keep at least
  ``min_static`` static tokens with a letter.
* A generalised pattern absorbs every pattern of the bucket it now covers. The oldest absorbed root stays
  the root, and each other absorbed root is recorded as an *alias* of it. A fingerprint, once issued, is
  never recomputed: an alias only redirects its future occurrences (storm control, recurrence, history
  all follow the alias).
* Containers share the buckets through a :class:`TemplateStore`: one read of every bucket a batch touches,
  then one conditional write per bucket that changed (optimistic concurrency on a version number: the
  first writer wins, a loser re-reads and applies its templates again). Alias records are written once,
  conditionally, and never change.

Bounds: a bucket holds at most ``max_patterns`` patterns and ``max_aliases`` aliases; a template with more
than ``MAX_TOKENS`` tokens or a stack trace (keyed by its frames) is not learned. When a bound is reached
or the store keeps failing, a line keeps the fingerprint masking gave it: the pure masking path is the
first step and the fallback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from itertools import count
from operator import eq, itemgetter
from typing import Any, Iterable, Protocol, Sequence

from .fingerprint import PLACEHOLDER

Row = tuple  # (fingerprint, template, exception, frames), as fingerprint.fingerprint_rows() gives them
Key = tuple[str, str, "str | None"]  # (fingerprint, template, exception) of a row that is learned

MAX_TOKENS = 64
_MAX_ITEM_BYTES = 300_000  # a DynamoDB item holds 400 KB; a bucket that would not fit stops learning
_WRITE_ATTEMPTS = 5
_ANSWERS_MAX = 8192  # answers remembered per bucket and container
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # json.dumps builds one a call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnerConfig:
    """The learner's constants. The defaults are what benchmarks/grouping.py's joint rule chooses: the best
    mean grouping accuracy over the 8 Loghub-2.0 systems under opsloop's masking and a generic one at once
    (each of its leave-one-system-out folds, choosing on the other 7 systems the same way, chose the same)."""

    evidence: int = 2  # distinct values a position must show before it is variable (values of one kind: none)
    max_diff: int = 1  # positions, other than values of one kind, in which a template may differ and still merge
    min_static: int = 1  # static tokens with a letter a generalised pattern keeps at least
    prefix: int = 2  # leading positions whose words never become variable (what an error is: "Failed ..." / "Accepted ...")
    max_kind: int = 1  # positions where both tokens are values of one kind (blk_<*> / blk_-<*>), beside max_diff
    # distinct values a position needs where one side holds a word and the other a value (rhost= / rhost=<*>):
    # two forms of a message more often than two values of one variable (0: as many as evidence)
    mixed_evidence: int = 3
    max_patterns: int = 500  # per bucket
    max_aliases: int = 2000  # per bucket

    def __post_init__(self) -> None:
        if (self.evidence < 2 or self.max_diff < 1 or self.min_static < 1 or self.max_patterns < 1 or self.prefix < 0
                or self.max_kind < 0 or self.mixed_evidence < 0):
            raise ValueError(f"invalid learner constants: {self}")


@dataclass
class Pattern:
    tokens: tuple[str, ...]
    root: str
    template: str = field(init=False, compare=False)  # its tokens joined
    wild: int = field(init=False, compare=False)  # how many of its tokens are <*>
    _static: Any = field(init=False, compare=False, repr=False)  # (getter of its static positions, their tokens)

    def __post_init__(self) -> None:
        self.template = " ".join(self.tokens)
        self.wild = self.tokens.count(PLACEHOLDER)
        at = [i for i, t in enumerate(self.tokens) if t != PLACEHOLDER]
        get = itemgetter(*at) if self.wild and at else None
        self._static = (get, get(self.tokens)) if get else None

    def matches(self, tokens: tuple[str, ...]) -> bool:
        """Whether tokens (of this pattern's length) equal it wherever it is static."""
        if not self.wild:
            return tokens == self.tokens
        if self._static is None:
            return True
        return bool(self._static[0](tokens) == self._static[1])


@dataclass
class Bucket:
    """One (scope, length, exception) bucket: its patterns in order of creation and its aliases."""

    patterns: list[Pattern] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # absorbed root -> the root that absorbed it
    version: int = 0  # 0: not stored yet

    def to_json(self) -> str:
        return _JSON({"p": [[p.template, p.root] for p in self.patterns], "a": self.aliases})

    @classmethod
    def from_json(cls, text: str, version: int) -> "Bucket":
        data = json.loads(text)
        return cls([Pattern(tuple(t.split(" ")), r) for t, r in data.get("p", [])], dict(data.get("a", {})), version)

    def copy(self) -> "Bucket":
        return Bucket(list(self.patterns), dict(self.aliases), self.version)  # patterns are never changed in place


class TemplateStore(Protocol):
    """Where the buckets and aliases live, shared by every container (the incidents table in AWS)."""

    def load(self, scope: str, buckets: Sequence[str]) -> dict[str, tuple[int, str]]:
        """(version, JSON) of the stored buckets among ``buckets`` (absent ones are left out)."""
        ...

    def save(self, scope: str, bucket: str, version: int, text: str) -> bool:
        """Store ``text`` as version + 1 if the stored version is still ``version`` (0: none stored);
        False when another writer came first."""
        ...

    def add_alias(self, scope: str, fingerprint: str, target: str) -> str:
        """Record fingerprint -> target unless an alias of fingerprint exists; the alias that holds."""
        ...

    def alias_of(self, scope: str, fingerprint: str) -> str | None: ...


class InMemoryTemplateStore:
    """A store in this process: for the ``opsloop fingerprint`` command, tests and benchmarks. Several
    learners sharing one instance behave like several containers sharing the table."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[int, str]] = {}
        self._aliases: dict[tuple[str, str], str] = {}
        self.reads = 0
        self.writes = 0

    def load(self, scope: str, buckets: Sequence[str]) -> dict[str, tuple[int, str]]:
        self.reads += 1
        out = {}
        for b in buckets:
            hit = self._buckets.get((scope, b))
            if hit is not None:
                out[b] = hit
        return out

    def save(self, scope: str, bucket: str, version: int, text: str) -> bool:
        self.writes += 1
        current = self._buckets.get((scope, bucket), (0, ""))[0]
        if current != version:
            return False
        self._buckets[(scope, bucket)] = (version + 1, text)
        return True

    def add_alias(self, scope: str, fingerprint: str, target: str) -> str:
        return self._aliases.setdefault((scope, fingerprint), target)

    def alias_of(self, scope: str, fingerprint: str) -> str | None:
        return self._aliases.get((scope, fingerprint))


def tpl_key(scope: str, bucket: str) -> str:
    return f"TPL#{scope}#{bucket}"


def alias_key(scope: str, fingerprint: str) -> str:
    return f"ALIAS#{scope}#{fingerprint}"


class DynamoTemplateStore:
    """Buckets and aliases in the incidents table, beside the storm-control items:

    * ``TPL#<scope>#<bucket>``: ``patterns`` (the bucket as JSON) and ``version``; written with
      ``PutItem`` on the condition that the version is still the one read (first writer wins).
    * ``ALIAS#<scope>#<fingerprint>``: ``target``; written once with ``attribute_not_exists(pk)``.

    Reads of a batch's buckets go in one ``BatchGetItem`` (100 keys a call, unprocessed keys retried).
    """

    def __init__(self, client: Any, table_name: str) -> None:
        from .incidents import IncidentStore

        self._db = client
        self._table = table_name
        self._calls = IncidentStore(client, table_name)  # its error mapping: Transient / Permanent

    def load(self, scope: str, buckets: Sequence[str]) -> dict[str, tuple[int, str]]:
        from .errors import TransientError

        out: dict[str, tuple[int, str]] = {}
        names = {tpl_key(scope, b): b for b in buckets}
        keys = list(names)
        for start in range(0, len(keys), 100):
            pending: list[dict[str, Any]] = [{"pk": {"S": k}} for k in keys[start:start + 100]]
            for _ in range(_WRITE_ATTEMPTS):
                r = self._batch_get(pending)
                for item in r.get("Responses", {}).get(self._table, []):
                    out[names[item["pk"]["S"]]] = (int(item["version"]["N"]), item["patterns"]["S"])
                pending = r.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not pending:
                    break
            else:
                raise TransientError("DynamoDB BatchGetItem: keys left unprocessed")
        return out

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[str, Any]:
        from .aws_errors import aws_call

        return dict(aws_call(f"DynamoDB BatchGetItem on {self._table}", self._db.batch_get_item,
                             RequestItems={self._table: {"Keys": keys}}))

    def save(self, scope: str, bucket: str, version: int, text: str) -> bool:
        item = {"pk": {"S": tpl_key(scope, bucket)}, "patterns": {"S": text}, "version": {"N": str(version + 1)}}
        try:
            if version == 0:
                self._calls._call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
            else:
                self._calls._call("put_item", Item=item, ConditionExpression="version = :v",
                                  ExpressionAttributeValues={":v": {"N": str(version)}})
            return True
        except Exception as exc:  # noqa: BLE001 - only a failed condition is an answer
            if self._calls._conditional_failed(exc):
                return False
            raise

    def add_alias(self, scope: str, fingerprint: str, target: str) -> str:
        try:
            self._calls._call("put_item", Item={"pk": {"S": alias_key(scope, fingerprint)}, "target": {"S": target}},
                              ConditionExpression="attribute_not_exists(pk)")
            return target
        except Exception as exc:  # noqa: BLE001
            if not self._calls._conditional_failed(exc):
                raise
        return self.alias_of(scope, fingerprint) or target

    def alias_of(self, scope: str, fingerprint: str) -> str | None:
        r = self._calls._call("get_item", Key={"pk": {"S": alias_key(scope, fingerprint)}}, ConsistentRead=True)
        item = r.get("Item")
        return item["target"]["S"] if item else None


def bucket_of(template: str, exception: str | None) -> str:
    """The bucket of a template: its number of tokens and its exception class (hashed to bound the key)."""
    return _bucket(template.count(" ") + 1 if template else 0, exception)


def _bucket(n: int, exception: str | None) -> str:
    if not exception:
        return f"{n}#-"
    exc = hashlib.sha256(exception.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{n}#{exc}"


_KEY = itemgetter(0, 1, 2)
_FP = itemgetter(0)


def _matches(pattern: Sequence[str], tokens: Sequence[str]) -> bool:
    for p, t in zip(pattern, tokens):
        if p != t and p != PLACEHOLDER:
            return False
    return True


_WORD_RE = re.compile(r"[^\W\d_]+\d?")  # letters, perhaps one digit after them (eth0, ssh2): a word
_EDGE = "".join(chr(c) for c in range(128) if not chr(c).isalnum())


def _is_value(token: str) -> bool:
    """Whether a token reads as a value rather than a word: once its edge punctuation is stripped it holds a
    placeholder, digits (beyond a word's one final digit), or inner punctuation (``rhost=<*>``,
    ``rpc.statd``, ``/udev/vcs2``, ``node-D0``), or nothing at all (``()``). Closed sets of alternatives in
    log messages are words (``password`` / ``none``, ``DMA`` / ``Normal``); names of things are values."""
    core = token.replace(PLACEHOLDER, "\u2217").strip(_EDGE)  # a placeholder is never edge punctuation
    return not _WORD_RE.fullmatch(core)


def _kind(token: str) -> str:
    """A value's kind: its letters and digits, with its placeholders in place (``blk_<*>`` and ``blk_-<*>``
    are one kind: a sign or punctuation differs)."""
    return "".join(c for c in token.replace(PLACEHOLDER, "\x00") if c.isalnum() or c == "\x00")


def _same_kind(a: str, b: str) -> bool:
    """Two values of one kind: each holds a placeholder and they agree outside punctuation, or both are
    ``key=value`` with one key and a value (``user=root`` / ``user=uucp``: the value is what varies)."""
    if PLACEHOLDER in a and PLACEHOLDER in b and _kind(a) == _kind(b):
        return True
    ka, _, va = a.partition("=")
    kb, _, vb = b.partition("=")
    return bool(va and vb and ka == kb and ka.isidentifier())


def _needing_evidence(pattern: Sequence[str], tokens: Sequence[str], d: list[int], prefix: int) -> list[int] | None:
    """The differing positions d that need evidence (all but values of one kind), or None when one of the
    first ``prefix`` positions differs in a word: the first words say what happened ("Failed ..." /
    "Accepted ..."), as Drain's prefix tree has it."""
    out = []
    for k in d:
        a, b = pattern[k], tokens[k]
        if not (("=" in a or PLACEHOLDER in a) and _same_kind(a, b)):  # most tokens are words: one test
            if k < prefix and not (_is_value(a) and _is_value(b)):
                return None
            out.append(k)
    return out


def _enough(state: Bucket, cover: list[int], tokens: tuple[str, ...], at: list[int], evidence: int) -> bool:
    """Whether the positions ``at`` show at least ``evidence`` distinct values among the covered patterns and
    the new template (evidence counted as values seen, not as templates: a closed set of two words that
    comes with many different other values stays two)."""
    if not at:
        return True
    get = itemgetter(*at)
    seen = {get(state.patterns[j].tokens) for j in cover}
    seen.add(get(tokens))
    return len(seen) >= evidence


def _is_word(token: str) -> bool:
    """A static token that says something: a letter outside its placeholders ("(command" yes, "<*>)" no)."""
    return any(c.isalpha() for c in token.replace(PLACEHOLDER, ""))


def _resolve(aliases: dict[str, str], fp: str) -> str:
    """Follow aliases to a root. Two containers may alias two roots to each other at the same moment: a cycle
    resolves to its smallest fingerprint, the same for every reader."""
    seen: list[str] = []
    while fp in aliases and fp not in seen:
        seen.append(fp)
        fp = aliases[fp]
    if fp in seen:
        return min(seen[seen.index(fp):])
    return fp


def final_fingerprint(store: TemplateStore, scope: str, fingerprint: str, max_steps: int = 32) -> str:
    """Where a fingerprint leads now: its alias records followed to a root (a cycle: its smallest member)."""
    chain = [fingerprint]
    while len(chain) <= max_steps:
        target = store.alias_of(scope, chain[-1])
        if target is None:
            return chain[-1]
        if target in chain:
            return min(chain[chain.index(target):])
        chain.append(target)
    return chain[-1]


class TemplateLearner:
    """Resolves fingerprinted rows of one scope through the learned patterns (one per container)."""

    def __init__(self, store: TemplateStore, config: LearnerConfig | None = None) -> None:
        self.store = store
        self.config = config or LearnerConfig()
        # per container, each bucket as read or written last and the answers given at that version (valid
        # while it is the stored version)
        self._cache: dict[tuple[str, str], tuple[Bucket, dict[Key, Row]]] = {}

    def templates_of_roots(self) -> dict[str, str]:
        """Root fingerprint -> its pattern's template, over the buckets this learner read or wrote last."""
        return {p.root: p.template for state, _ in self._cache.values() for p in state.patterns}

    def resolve_rows(self, scope: str, rows: Sequence[Row]) -> list[Row]:
        """Each row with its fingerprint resolved (an alias or a learned pattern's root) and its template the
        pattern's; rows that are not learned (traces, very long templates) come back as they are. A store
        that fails leaves the batch on the masked fingerprints (logged), never loses it."""
        fps = list(map(_FP, rows))
        by_bucket: dict[str, dict[str, Key]] = {}
        # one row per fingerprint: a fingerprint is the hash of its template, exception and frames
        for fp, row in dict(zip(fps, rows)).items():
            n = row[1].count(" ")
            if row[1] and not row[3] and n < MAX_TOKENS:  # a trace is keyed by its frames too
                by_bucket.setdefault(_bucket(n + 1, row[2]), {})[fp] = _KEY(row)
        if not by_bucket:
            return list(rows)
        try:
            resolved = self._resolve_batch(scope, by_bucket)
        except Exception as exc:  # noqa: BLE001 - the masked fingerprint is the fallback
            log.warning("template store unavailable, keeping masked fingerprints", extra={"error": type(exc).__name__})
            return list(rows)
        return list(map(resolved.get, fps, rows))  # a row not learned comes back as it is

    def _resolve_batch(self, scope: str, by_bucket: dict[str, dict[str, Key]]) -> dict[str, Row]:
        """Fingerprint -> resolved row, for the keys of each bucket (by fingerprint)."""
        stored = self.store.load(scope, list(by_bucket))
        out: dict[str, Row] = {}
        for b, mine in by_bucket.items():
            state, known = self._state(scope, b, stored.get(b))
            keys = mine.values()
            if all(map(known.__contains__, keys)):  # nothing new here since this version: as before
                out.update(zip(mine, map(known.__getitem__, keys)))
                continue
            for _ in range(_WRITE_ATTEMPTS):
                answers, work, absorbed = self._apply(state, keys, known)
                if work is state:  # nothing learned
                    break
                text = work.to_json()
                if len(text.encode("utf-8")) > _MAX_ITEM_BYTES:
                    work = state
                    answers = self._apply(state, keys, known, learn=False)[0]
                    break
                if self.store.save(scope, b, state.version, text):
                    work.version = state.version + 1
                    for old, new in absorbed:
                        self.store.add_alias(scope, old, new)
                    break
                state, known = self._state(scope, b, self.store.load(scope, [b]).get(b))  # lost the race: read again
            else:
                work = state
                answers = self._apply(state, keys, {}, learn=False)[0]
            entry = self._cache.get((scope, b))
            if entry is None or entry[0] is not work or len(entry[1]) + len(answers) > _ANSWERS_MAX:
                entry = self._cache[(scope, b)] = (work, {})
            entry[1].update(answers)
            out.update(zip(mine, map(answers.__getitem__, keys)))
        return out

    def _state(self, scope: str, bucket: str, stored: tuple[int, str] | None) -> tuple[Bucket, dict[Key, Row]]:
        """The bucket as stored and the answers given at its version: the cached copy while its version is
        current, else parsed anew."""
        entry = self._cache.get((scope, bucket))
        if entry is not None and entry[0].version == (stored[0] if stored else 0):
            return entry
        return (Bucket.from_json(stored[1], stored[0]) if stored else Bucket()), {}

    def _apply(self, state: Bucket, keys: Iterable[Key], known: dict[Key, Row], learn: bool = True
               ) -> tuple[dict[Key, Row], Bucket, list[tuple[str, str]]]:
        """Resolve keys against state, learning first (in order), so that every line of a batch gets what the
        batch taught: (answers, the bucket learned into: a copy of state, or state itself when nothing
        changed, new aliases). ``known`` holds answers given at state's version; while nothing changes they
        stand, and a key in it is never learned again."""
        work = state
        absorbed: list[tuple[str, str]] = []
        changed = False
        for key in keys:
            if key in known or not learn:
                continue
            tokens = tuple(key[1].split(" "))
            if not any(p.matches(tokens) for p in work.patterns):
                if work is state:
                    work = state.copy()  # patterns are never changed in place: the cached state stays as read
                hit, gone = self._learn(work, tokens, key[0])
                changed |= hit is not None
                absorbed += gone
        if not changed:
            work = state  # no room to learn
        answers: dict[Key, Row] = {}
        for key in keys:
            if work is state and key in known:
                answers[key] = known[key]
                continue
            tokens = tuple(key[1].split(" "))
            hit = next((p for p in work.patterns if p.matches(tokens)), None)
            if hit is None:
                answers[key] = (_resolve(work.aliases, key[0]), key[1], key[2], ())
            else:
                answers[key] = (_resolve(work.aliases, hit.root), hit.template, key[2], ())
        return answers, work, absorbed

    def _learn(self, state: Bucket, tokens: tuple[str, ...], fp: str) -> tuple[Pattern | None, list[tuple[str, str]]]:
        """The pattern tokens now belong to (a generalised one or a new one), and the aliases that made."""
        cfg = self.config
        best: tuple[int, int, int] | None = None  # (differences, -covered, index)
        best_gen: tuple[str, ...] = ()
        best_cover: list[int] = []
        limit = cfg.max_diff + cfg.max_kind
        least = len(tokens) - limit
        for i, p in enumerate(state.patterns):
            if sum(map(eq, p.tokens, tokens)) + p.wild < least:
                continue  # equal or wild in too few positions
            d = [k for k, a, t in zip(count(), p.tokens, tokens) if a != t and a != PLACEHOLDER]  # static, differing
            if not d or len(d) > limit:
                continue
            words = _needing_evidence(p.tokens, tokens, d, cfg.prefix)
            if words is None or len(words) > cfg.max_diff or len(d) - len(words) > cfg.max_kind:
                continue
            gen = tuple(PLACEHOLDER if k in d else tok for k, tok in enumerate(p.tokens))
            if sum(map(_is_word, gen)) < cfg.min_static:
                continue
            cover = [j for j, q in enumerate(state.patterns) if _matches(gen, q.tokens)]
            need = cfg.evidence
            if cfg.mixed_evidence > need and any(_is_value(p.tokens[k]) != _is_value(tokens[k]) for k in words):
                need = cfg.mixed_evidence
            if not _enough(state, cover, tokens, words, need):
                continue
            rank = (len(d), -len(cover), i)
            if best is None or rank < best:
                best, best_gen, best_cover = rank, gen, cover
        if best is not None and len(state.aliases) + len(best_cover) - 1 <= cfg.max_aliases:
            keep = state.patterns[best_cover[0]]  # the oldest covered pattern keeps its root
            gone = [(state.patterns[j].root, keep.root) for j in best_cover[1:]]
            for old, new in gone:
                state.aliases[old] = new
            merged = Pattern(best_gen, keep.root)
            covered = set(best_cover)
            state.patterns = [merged if j == best_cover[0] else q for j, q in enumerate(state.patterns)
                              if j not in covered or j == best_cover[0]]
            return merged, gone
        if len(state.patterns) >= cfg.max_patterns:
            return None, []
        fresh = Pattern(tokens, fp)
        state.patterns.append(fresh)
        return fresh, []


__all__ = ["Bucket", "DynamoTemplateStore", "InMemoryTemplateStore", "LearnerConfig", "Pattern", "TemplateLearner",
           "TemplateStore", "alias_key", "bucket_of", "final_fingerprint", "tpl_key"]
