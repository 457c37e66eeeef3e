"""The local retriever: field-weighted BM25 (BM25F) over knowledge documents, with an on-disk index.

Why BM25F rather than one bag of words: a runbook's title, error patterns, tags and service say what it is
*about*; its body mentions many other things in passing ("check the database", "see the disk runbook").
Scoring each field with its own length normalisation and weight before the saturation keeps a passing
mention in a long body from outranking a document whose title names the problem.

Why an on-disk index: a Lambda cold start (or a CLI run) must not re-read and re-analyse a thousand files
when nothing changed. The index is a JSON file keyed by a manifest (path, size, mtime of every document and
metadata sidecar, plus the analyser and ranking settings); any difference rebuilds it. It lives in a
temporary/cache directory by default because the knowledge directory may be read-only (Lambda: /var/task).
JSON rather than pickle: the cache directory may be shared, and loading a pickle from it would run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import logging
import math
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence, TextIO

from ..knowledge_docs import Document, doc_id_for, iter_document_paths, load_document
from ..errors import InputError
from ..ports import Hit
from .text import DEFAULT_ANALYZER, Analyzer

logger = logging.getLogger(__name__)

INDEX_FORMAT = 3
FIELDS = ("title", "patterns", "tags", "service", "headings", "symptoms", "body")
#: Defaults chosen for what each field *is*, not for any collection: names and declared patterns say
#: what a document is about; the symptoms section is written in the words alerts use; the body is context.
DEFAULT_WEIGHTS = {"title": 4.0, "patterns": 3.0, "tags": 2.0, "service": 2.0, "headings": 1.5,
                   "symptoms": 1.5, "body": 1.0}
DEFAULT_B = {"title": 0.3, "patterns": 0.5, "tags": 0.3, "service": 0.0, "headings": 0.5, "symptoms": 0.75,
             "body": 0.75}
MAX_QUERY_CHARS = 8_000


@dataclass(frozen=True)
class RankingConfig:
    """Ranking knobs. ``field_weights=None`` scores every field alike (the ablation baseline)."""

    analyzer: Analyzer = DEFAULT_ANALYZER
    field_weights: tuple[tuple[str, float], ...] | None = tuple(DEFAULT_WEIGHTS.items())
    field_b: tuple[tuple[str, float], ...] = tuple(DEFAULT_B.items())
    k1: float = 1.2
    pattern_bonus: float = 1.0  # declared error pattern fully present in the query
    name_coverage: float = 1.0  # reward covering the document's *name* (title terms), see Ranker.score
    name_exponent: float = 1.0
    compound_weight: float = 0.5  # query weight of a whole identifier: its parts already carry its evidence
    name_fields: bool = True  # index the H1 and file name with the title
    opaque_references: bool = True  # another document's name inside a body is a reference, not content

    def weights(self) -> dict[str, float]:
        return dict(self.field_weights) if self.field_weights is not None else {f: 1.0 for f in FIELDS}

    def key(self) -> str:
        raw = json.dumps([self.analyzer.key(), self.field_weights, self.field_b, self.name_fields,  # index-time only
                          self.opaque_references, INDEX_FORMAT])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DocInfo:
    doc_id: str
    title: str
    kind: str
    fingerprint: str
    service: str
    path: str


@dataclass(frozen=True)
class ScoredDoc:
    """A ranked document with what the analyst needs to judge it: ``coverage`` is the share of the query's
    term weight (IDF) this document matches, 0..1, comparable across queries unlike the raw score."""

    doc_id: str
    score: float
    coverage: float
    title: str
    kind: str
    fingerprint: str
    path: str
    matched: tuple[str, ...] = ()
    evidence: float = 0.0  # matched query terms' IDF in units of the rarest possible term (≈ distinct rare terms)
    pattern: bool = False  # one of the document's declared error patterns occurs in the query


def _field_texts(doc: Document, name_fields: bool) -> dict[str, str]:
    title = doc.title
    if name_fields:
        h1 = next((h for h in doc.headings[:1]), "")
        title = " ".join([doc.title, h1, doc.doc_id.rsplit("/", 1)[-1]])
    return {
        "title": title,
        "patterns": "\n".join(doc.error_patterns),
        "tags": " ".join(doc.tags),
        "service": doc.service,
        "headings": "\n".join(doc.headings[1:] if name_fields else doc.headings),
        "symptoms": doc.sections.get("symptoms", ""),
        "body": doc.body,
    }


_CONTENT_FIELDS = ("headings", "symptoms", "body")
_COMPACT = re.compile(r"[^a-z0-9]")


def _compact_names(doc: Document) -> set[str]:
    """A document's names as single identifiers (file stem, H1): only names that are identifiers count,
    so a title made of ordinary words ("Disk full") never makes those words opaque elsewhere."""
    out = set()
    for name in (doc.doc_id.rsplit("/", 1)[-1], doc.headings[0] if doc.headings else ""):
        if name and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", name) and re.search(r"[a-z][A-Z]|[_.-]", name):
            compact = _COMPACT.sub("", name.lower())
            if len(compact) >= 8:
                out.add(compact)
    return out


def _dedupe(tokens: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tokens))


@dataclass
class _Index:
    docs: list[DocInfo]
    postings: dict[str, list[int]]  # term → flat [doc, field, tf, doc, field, tf, ...]
    lengths: list[list[int]]  # field → per-doc length
    patterns: list[list[list[str]]]  # doc → declared error patterns as term lists
    names: list[list[str]]  # doc → the terms of its name (title, H1, file), without whole-identifier terms
    manifest: list[Any] = field(default_factory=list)
    config_key: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": INDEX_FORMAT, "config": self.config_key, "manifest": self.manifest,
                "docs": [[d.doc_id, d.title, d.kind, d.fingerprint, d.service, d.path] for d in self.docs],
                "postings": self.postings, "lengths": self.lengths, "patterns": self.patterns,
                "names": self.names}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "_Index":
        return cls(docs=[DocInfo(*d) for d in data["docs"]], postings=data["postings"], lengths=data["lengths"],
                   patterns=data["patterns"], names=data["names"], manifest=data["manifest"],
                   config_key=data["config"])


def build_index(docs: Sequence[Document], config: RankingConfig) -> _Index:
    """Analyse documents into postings. Pure: no I/O, so tests and benchmarks can call it directly."""
    analyzer = config.analyzer
    postings: dict[str, list[int]] = {}
    lengths = [[0] * len(docs) for _ in FIELDS]
    patterns: list[list[list[str]]] = []
    names: list[list[str]] = []
    infos: list[DocInfo] = []
    # The name's parts only: "KubePodCrashLooping" is covered by a query saying "pod" and "crash looping";
    # the unsplit identifier would count as a large uncovered term.
    name_analyzer = dataclasses.replace(analyzer, keep_original=False)
    own_names = [_compact_names(doc) for doc in docs]
    all_names: Counter[str] = Counter(n for names_ in own_names for n in names_)
    for d, doc in enumerate(docs):
        texts = _field_texts(doc, config.name_fields)
        others = {n for n in all_names if n not in own_names[d]} if config.opaque_references else set()
        for f, name in enumerate(FIELDS):
            toks = analyzer.tokens(texts[name], others if name in _CONTENT_FIELDS else frozenset())
            if name == "title":
                toks = _dedupe(toks)  # the same name three times (title, H1, file) is one statement
            lengths[f][d] = len(toks)
            for term, tf in Counter(toks).items():
                postings.setdefault(term, []).extend((d, f, tf))
        names.append(_dedupe(name_analyzer.tokens(texts["title"])))
        patterns.append([p for p in (_dedupe(name_analyzer.tokens(x)) for x in doc.error_patterns) if p])
        infos.append(DocInfo(doc.doc_id, doc.title, doc.kind, doc.fingerprint, doc.service, doc.path))
    return _Index(docs=infos, postings=postings, lengths=lengths, patterns=patterns, names=names,
                  config_key=config.key())


class Ranker:
    """Scores queries against an :class:`_Index` with BM25F."""

    def __init__(self, index: _Index, config: RankingConfig) -> None:
        self.index = index
        self.config = config
        n = len(index.docs)
        self.n = n
        weights = config.weights()
        b = dict(config.field_b)
        self._w = [weights.get(f, 0.0) for f in FIELDS]
        self._parts_analyzer = dataclasses.replace(config.analyzer, keep_original=False)
        self._norm: list[list[float]] = []
        for f, name in enumerate(FIELDS):
            lens = index.lengths[f] if n else []
            avg = (sum(lens) / n) if n and sum(lens) else 1.0
            bf = b.get(name, 0.75)
            self._norm.append([1.0 - bf + bf * (ln / avg) for ln in lens])
        self._df = {t: len({p[i] for i in range(0, len(p), 3)}) for t, p in index.postings.items()}

    def idf(self, term: str) -> float:
        df = self._df.get(term, 0)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def score(self, query: str, top_k: int) -> list[ScoredDoc]:
        if top_k <= 0 or not self.n:
            return []
        qtokens = self.config.analyzer.tokens(query[:MAX_QUERY_CHARS])
        qcounts = Counter(qtokens)
        if not qcounts:
            return []
        # Repeats count, dampened: a word repeated in a log line is not twice the evidence.
        qweight = {t: 1.0 + math.log(c) for t, c in qcounts.items()}
        if self.config.compound_weight != 1.0:
            parts = set(self._parts_analyzer.tokens(query[:MAX_QUERY_CHARS]))
            for t in qweight:
                if t not in parts:
                    qweight[t] *= self.config.compound_weight
        k1 = self.config.k1
        acc: dict[int, dict[str, float]] = {}
        for term in qcounts:
            plist = self.index.postings.get(term)
            if not plist:
                continue
            per_doc: dict[int, float] = {}
            for i in range(0, len(plist), 3):
                d, f, tf = plist[i], plist[i + 1], plist[i + 2]
                w = self._w[f]
                if w:
                    per_doc[d] = per_doc.get(d, 0.0) + w * tf / self._norm[f][d]
            for d, tfw in per_doc.items():
                acc.setdefault(d, {})[term] = tfw
        total_idf = sum(self.idf(t) for t in qcounts)
        qset = set(qcounts)
        results: list[ScoredDoc] = []
        for d, terms in acc.items():
            s = 0.0
            for term, tfw in terms.items():
                s += qweight[term] * self.idf(term) * tfw * (k1 + 1.0) / (tfw + k1)
            bonus = self._pattern_bonus(d, qset)
            s += bonus + self._name_coverage(d, terms)
            info = self.index.docs[d]
            matched_idf = sum(self.idf(t) for t in terms)
            cov = matched_idf / total_idf if total_idf else 0.0
            evidence = matched_idf / self.idf("")  # "" is never a term: the IDF of an unseen term
            results.append(ScoredDoc(info.doc_id, round(s, 6), round(cov, 4), info.title, info.kind,
                                     info.fingerprint, info.path, tuple(sorted(terms)), round(evidence, 4),
                                     bonus > 0))
        return heapq.nsmallest(top_k, results, key=lambda r: (-r.score, r.doc_id))

    def _name_coverage(self, d: int, matched: dict[str, float]) -> float:
        """How much of the document's name the query accounts for, times the IDF it matched there.

        A title is a short statement of what the document is about; a query that covers most of it is
        about that, even when a longer neighbouring document mentions more of the query's words in passing.
        """
        if not self.config.name_coverage:
            return 0.0
        title_terms = self.index.names[d]
        if not title_terms:
            return 0.0
        total = sum(self.idf(t) for t in title_terms)
        hit = sum(self.idf(t) for t in title_terms if t in matched)
        return self.config.name_coverage * hit * (hit / total) ** self.config.name_exponent if total else 0.0

    def _pattern_bonus(self, d: int, qset: set[str]) -> float:
        """A declared error pattern whose terms all occur in the query is near-certain evidence."""
        if not self.config.pattern_bonus:
            return 0.0
        best = 0.0
        for pat in self.index.patterns[d]:
            total = sum(self.idf(t) for t in pat)
            hit = sum(self.idf(t) for t in pat if t in qset)
            if total and (hit >= total - 1e-9 or (len(pat) >= 4 and hit / total >= 0.75)):
                best = max(best, hit)
        return self.config.pattern_bonus * best


def default_index_dir(roots: Sequence[Path]) -> Path:
    """A per-knowledge-set directory under the system temp dir (``/tmp`` on Lambda, which is writable)."""
    key = hashlib.sha256("\n".join(str(Path(r).resolve()) for r in roots).encode()).hexdigest()[:16]
    base = os.environ.get("OPSLOOP_INDEX_DIR") or os.path.join(tempfile.gettempdir(), "opsloop-index")
    return Path(base) / key


class LocalRetriever:
    """Searches Markdown knowledge under one or more roots (implements :class:`opsloop.ports.Retriever`).

    Doc ids are relative to their own root, without ``.md``. When two roots hold the same id, the first
    root wins (and a warning is logged), so a stored report cannot shadow a curated runbook.
    """

    def __init__(self, roots: Sequence[Path] | Path, index_dir: Path | None = None,
                 config: RankingConfig | None = None, refresh_interval: float = 5.0) -> None:
        if isinstance(roots, (str, Path)):
            roots = [Path(roots)]
        self.roots = [Path(r) for r in roots]
        if not self.roots:
            raise InputError("LocalRetriever needs at least one knowledge directory")
        self.index_dir = Path(index_dir) if index_dir is not None else default_index_dir(self.roots)
        self.config = config or RankingConfig()
        self.refresh_interval = refresh_interval
        self.status = ""  # "built" | "loaded": what the last (re)load did, for logs and tests
        self._ranker: Ranker | None = None
        self._checked_at = 0.0
        self._paths: dict[str, tuple[Path, Path]] = {}
        self._docs_cache: dict[str, Document] = {}

    # -- index lifecycle -------------------------------------------------------------------------------

    @property
    def index_file(self) -> Path:
        return self.index_dir / "index.json"

    def _scan(self) -> tuple[list[Any], dict[str, tuple[Path, Path]]]:
        manifest: list[Any] = []
        paths: dict[str, tuple[Path, Path]] = {}
        for r, root in enumerate(self.roots):
            if not root.is_dir():
                raise InputError(f"knowledge directory not found: {root}")
            for p in iter_document_paths(root):
                doc_id = doc_id_for(p, root)
                if doc_id in paths:
                    logger.warning("duplicate knowledge doc id; keeping the first root's",
                                   extra={"doc_id": doc_id})
                    continue
                paths[doc_id] = (p, root)
                st = p.stat()
                entry: list[Any] = [r, doc_id, st.st_size, st.st_mtime_ns]
                side = p.with_name(p.name + ".metadata.json")
                if side.is_file():
                    sst = side.stat()
                    entry += [sst.st_size, sst.st_mtime_ns]
                manifest.append(entry)
        return manifest, paths

    def refresh(self, force: bool = False) -> bool:
        """Make the in-memory index match the files. Returns True when the index was rebuilt."""
        manifest, paths = self._scan()
        self._checked_at = time.monotonic()
        key = self.config.key()
        if not force and self._ranker is not None and self._ranker.index.manifest == manifest:
            return False
        self._paths = paths
        self._docs_cache.clear()
        if not force:
            loaded = self._load(manifest, key)
            if loaded is not None:
                self._ranker = Ranker(loaded, self.config)
                self.status = "loaded"
                return False
        docs = [load_document(p, root) for p, root in paths.values()]
        self._docs_cache = {d.doc_id: d for d in docs}
        index = build_index(docs, self.config)
        index.manifest = manifest
        self._save(index)
        self._ranker = Ranker(index, self.config)
        self.status = "built"
        return True

    def _load(self, manifest: list[Any], key: str) -> _Index | None:
        try:
            data = json.loads(self.index_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or data.get("config") != key:
            return None
        if data.get("manifest") != manifest:
            return None
        try:
            return _Index.from_json(data)
        except (KeyError, TypeError):
            return None

    def _save(self, index: _Index) -> None:
        """Write atomically; a read-only or full cache dir only costs a rebuild next time."""
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.index_file.with_name(f".index.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(index.to_json(), ensure_ascii=False, separators=(",", ":")),
                           encoding="utf-8")
            os.replace(tmp, self.index_file)
        except OSError as exc:
            logger.warning("could not save the knowledge index", extra={"error": type(exc).__name__})

    def _ensure(self) -> Ranker:
        if self._ranker is None or time.monotonic() - self._checked_at >= self.refresh_interval:
            self.refresh()
        assert self._ranker is not None
        return self._ranker

    # -- queries -----------------------------------------------------------------------------------------

    def search(self, query: str, top_k: int = 5) -> list[Hit]:
        """Best documents for ``query``, best first. An empty or value-only query returns []."""
        return [Hit(doc_id=r.doc_id, score=r.score, title=r.title, path=r.path)
                for r in self.search_scored(query, top_k)]

    def search_scored(self, query: str, top_k: int = 5) -> list[ScoredDoc]:
        """Like :meth:`search`, with coverage, kind and fingerprint for callers that judge relevance."""
        return self._ensure().score(query, top_k)

    def documents(self) -> list[DocInfo]:
        return list(self._ensure().index.docs)

    def find_by_fingerprint(self, fingerprint: str) -> list[DocInfo]:
        """Incident reports written for this fingerprint (newest knowledge first is not implied)."""
        if not fingerprint:
            return []
        return [d for d in self._ensure().index.docs if d.kind == "report" and d.fingerprint == fingerprint]

    def get(self, doc_id: str) -> Document:
        """The parsed document. Raises KeyError for an unknown id."""
        self._ensure()
        if doc_id not in self._docs_cache:
            if doc_id not in self._paths:
                raise KeyError(doc_id)
            p, root = self._paths[doc_id]
            self._docs_cache[doc_id] = load_document(p, root)
        return self._docs_cache[doc_id]

    def __len__(self) -> int:
        return len(self._ensure().index.docs)


def search_cli(knowledge: Path, queries: TextIO | Iterable[str], out: TextIO, top: int = 5,
               index_dir: Path | None = None) -> int:
    """``opsloop search``: JSONL ``{"id", "text"}`` in, JSONL ``{"id", "results": [{doc, score}]}`` out.

    Every input line is validated before any output is written, so a bad file produces an error naming
    the line and no partial results.
    """
    if top <= 0:
        raise InputError("--top must be a positive integer")
    items: list[tuple[Any, str]] = []
    for lineno, line in enumerate(queries, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"queries line {lineno}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or "text" not in obj or not isinstance(obj["text"], str):
            raise InputError(f"queries line {lineno}: expected an object with a string 'text'")
        if "id" not in obj or not isinstance(obj["id"], (str, int)) or isinstance(obj["id"], bool):
            raise InputError(f"queries line {lineno}: expected an 'id' (string or integer)")
        items.append((obj["id"], obj["text"]))
    retriever = LocalRetriever([Path(knowledge)], index_dir=index_dir)
    for qid, text in items:
        hits = retriever.search(text, top_k=top)
        out.write(json.dumps({"id": qid, "results": [{"doc": h.doc_id, "score": round(h.score, 4)}
                                                     for h in hits]}, ensure_ascii=False) + "\n")
    return 0


__all__ = ["DEFAULT_B", "DEFAULT_WEIGHTS", "FIELDS", "DocInfo", "LocalRetriever", "Ranker", "RankingConfig",
           "ScoredDoc", "build_index", "default_index_dir", "search_cli"]
