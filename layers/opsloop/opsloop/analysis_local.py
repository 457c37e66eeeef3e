"""The offline analyst: answers from the team's own runbooks and past incident reports, by quoting them.

It generates nothing. The root cause and the fix steps are sentences and list items lifted from the best
matching document, with that document cited, so whoever reads the Slack message can check the answer at its
source. When nothing in the knowledge base matches, it says so plainly and suggests where to start, instead
of dressing up the log line as an explanation.

A past incident report written for the same fingerprint is the best possible answer ("we have seen exactly
this before, here is what fixed it"), so it is cited first whatever its lexical score.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .models import Analysis, Budget, Classification, Incident, Source

if TYPE_CHECKING:  # the index module is only needed when an analyst is actually built
    from .knowledge_docs import Document
    from .retrieval.index import LocalRetriever, ScoredDoc

ENGINE = "local-extractive"
NO_MATCH = "No runbook or past incident matches this error."
MAX_ROOT_CAUSE = 600
MAX_STEP = 300
MAX_STEPS = 8
MAX_EXCERPT = 300
GENERIC_STEPS = (
    "Check what changed recently: deploys, configuration and feature-flag changes, infrastructure changes.",
    "Check the health of the service's dependencies (databases, queues, downstream APIs) and their limits.",
    "Read the log group around the first occurrence for the first error, not the loudest one.",
    "Once understood, write the cause and the fix in the incident thread so the next occurrence is answered.",
)

_LIST_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(text: str) -> str:
    """Plain, single-line text: Markdown links reduced to their label, emphasis and control characters gone."""
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [label](url) → label
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", text)  # [label][ref] → label
    text = re.sub(r"\{\{[<%].*?[%>]\}\}", " ", text)  # static-site shortcodes
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    return re.sub(r"\s+", " ", text).strip()


def _bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.6 else cut).rstrip(" ,;:") + "…"


def _prose_lines(section: str) -> list[str]:
    """Section lines outside code blocks and without sub-headings."""
    lines, in_fence = [], False
    for line in section.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and not _HEADING.match(line):
            lines.append(line)
    return lines


def list_items(section: str) -> list[str]:
    """A section's list items (continuation lines joined); top-level items only when there are several."""
    items: list[tuple[int, str]] = []
    for line in _prose_lines(section):
        m = _LIST_ITEM.match(line)
        if m:
            items.append((len(m.group(1).expandtabs(4)), m.group(2)))
        elif items and line.strip() and line.startswith((" ", "\t")):
            indent, text = items[-1]
            items[-1] = (indent, f"{text} {line.strip()}")
        elif items and not line.strip():
            continue
    if not items:
        return []
    top = min(i for i, _ in items)
    chosen = [t for i, t in items if i == top]
    if len(chosen) < 2:
        chosen = [t for _, t in items]
    return [c for c in (_clean(t) for t in chosen) if c]


def sentences(section: str) -> list[str]:
    paragraphs = " ".join(line.strip() for line in _prose_lines(section) if not _LIST_ITEM.match(line))
    return [s for s in (_clean(x) for x in _SENTENCE_END.split(paragraphs)) if s]


def quote_causes(section: str, limit: int = MAX_ROOT_CAUSE) -> str:
    """The first sentences or bullets of a causes section, within ``limit`` characters."""
    pieces = list_items(section) or sentences(section)
    out: list[str] = []
    size = -1  # no separator before the first piece
    for piece in pieces:
        piece = piece if piece.endswith((".", "!", "?", "。", ":")) else piece + "."
        if out and size + 1 + len(piece) > limit:
            break
        out.append(piece)
        size += 1 + len(piece)
    return _bound(" ".join(out), limit)


def quote_steps(section: str) -> list[str]:
    steps = list_items(section) or sentences(section)
    return [_bound(s, MAX_STEP) for s in steps[:MAX_STEPS]]


def excerpt(doc: "Document") -> str:
    for key in ("symptoms", "causes", "fix"):
        if doc.sections.get(key):
            return _bound(" ".join(list_items(doc.sections[key]) or sentences(doc.sections[key])), MAX_EXCERPT)
    return _bound(" ".join(sentences(doc.body)), MAX_EXCERPT)


class ExtractiveAnalyst:
    """Implements :class:`opsloop.ports.Analyst` over a :class:`LocalRetriever`.

    A document is relevant when one of its declared error patterns occurs in the incident, or when it matches
    at least ``min_score`` (0..1) of the query's term weight *and* ``min_evidence`` worth of rare terms (in
    units of one never-seen-elsewhere term). Raw BM25 scores grow with query length and collection size and
    cannot be compared across incidents; the share alone would call a two-common-word match "complete".
    """

    def __init__(self, retriever: "LocalRetriever", min_score: float = 0.4, top_k: int = 3,
                 min_evidence: float = 1.2) -> None:
        self.retriever = retriever
        self.min_score = min_score
        self.min_evidence = min_evidence
        self.top_k = max(1, top_k)

    def _relevant(self, s: "ScoredDoc") -> bool:
        return s.pattern or (s.coverage >= self.min_score and s.evidence >= self.min_evidence)

    def analyze(self, incident: Incident, classification: Classification) -> Analysis:
        from .retrieval.query import build_query

        started = time.monotonic()
        query = build_query(incident)
        scored = self.retriever.search_scored(query.text, top_k=max(10, self.top_k * 3)) if query.text else []
        history = self._history(query.fingerprint, scored)
        # A draft report (nobody confirmed its root cause) is never an answer, not even as a runbook.
        relevant = [s for s in scored if self._relevant(s) and s.doc_id not in history and s.kind != "draft"]
        ranked = list(history.values()) + relevant
        elapsed = int((time.monotonic() - started) * 1000)
        if not ranked:
            return self._no_match(elapsed)
        cited = ranked[: self.top_k]
        docs = {s.doc_id: self.retriever.get(s.doc_id) for s in cited}
        best = docs[cited[0].doc_id]
        cause_doc = next((docs[s.doc_id] for s in cited if docs[s.doc_id].sections.get("causes")), None)
        fix_doc = next((docs[s.doc_id] for s in cited if docs[s.doc_id].sections.get("fix")), None)
        if cause_doc is not None:
            root_cause = quote_causes(cause_doc.sections["causes"])
        else:
            root_cause = f"The matching document “{_bound(best.title, 120)}” does not state a cause; read it first."
        steps = quote_steps(fix_doc.sections["fix"]) if fix_doc is not None else []
        if not steps and best.sections.get("diagnose"):
            steps = quote_steps(best.sections["diagnose"])
        # Answered from history: a report of this very fingerprint, or a past incident report that ranked
        # first on its own merits (a recurrence whose wording, and so fingerprint, changed).
        from_history = bool(history) or best.kind == "report"
        if history:
            summary = (f"Seen before: the past incident report “{_bound(best.title, 120)}” covers this error "
                       f"({classification.category}, {classification.severity}).")
        elif from_history:
            summary = (f"A similar past incident: the report “{_bound(best.title, 120)}” matches this error "
                       f"({classification.category}, {classification.severity}).")
        else:
            summary = (f"Matches the {best.kind} “{_bound(best.title, 120)}” "
                       f"({classification.category}, {classification.severity}).")
        return Analysis(
            summary=summary,
            root_cause=root_cause,
            fix_steps=steps,
            confidence="high" if history else self._confidence(relevant),
            sources=[self._source(s, docs[s.doc_id]) for s in cited],
            answered_from_history=from_history,
            grounded=True,
            engine=ENGINE,
            budget=Budget(elapsed_ms=elapsed),
        )

    def _history(self, fingerprint: str, scored: list["ScoredDoc"]) -> dict[str, "ScoredDoc"]:
        """Reports of this very fingerprint, whether or not the query ranked them (best scored first)."""
        from .retrieval.index import ScoredDoc

        found = {s.doc_id: s for s in scored if s.kind == "report" and fingerprint and s.fingerprint == fingerprint}
        for info in self.retriever.find_by_fingerprint(fingerprint):
            if info.doc_id not in found:
                found[info.doc_id] = ScoredDoc(info.doc_id, 0.0, 0.0, info.title, info.kind, info.fingerprint,
                                               info.path)
        return found

    @staticmethod
    def _confidence(relevant: list["ScoredDoc"]) -> str:
        """High when the best document explains most of the query *and* clearly beats the runner-up."""
        best = relevant[0]
        runner = relevant[1].score if len(relevant) > 1 else 0.0
        margin = (best.score - runner) / best.score if best.score > 0 else 0.0
        if best.pattern and best.coverage >= 0.5 or best.coverage >= 0.6 and margin >= 0.2:
            return "high"
        if best.pattern or best.coverage >= 0.5 or margin >= 0.3:
            return "medium"
        return "low"

    @staticmethod
    def _source(scored: "ScoredDoc", doc: "Document") -> Source:
        return Source(doc_id=scored.doc_id, title=_bound(doc.title, 200), uri=doc.path, excerpt=excerpt(doc),
                      score=round(scored.score, 4), kind="report" if doc.kind == "report" else "runbook")

    @staticmethod
    def _no_match(elapsed_ms: int) -> Analysis:
        return Analysis(
            summary=NO_MATCH,
            root_cause=f"Unknown. {NO_MATCH}",
            fix_steps=list(GENERIC_STEPS),
            confidence="none",
            sources=[],
            answered_from_history=False,
            grounded=False,
            engine=ENGINE,
            budget=Budget(elapsed_ms=elapsed_ms),
        )


__all__ = ["ENGINE", "GENERIC_STEPS", "NO_MATCH", "ExtractiveAnalyst", "list_items", "quote_causes",
           "quote_steps", "sentences"]
