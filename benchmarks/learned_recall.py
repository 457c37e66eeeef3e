#!/usr/bin/env python3
"""Learned recall: does the second occurrence of an error get answered from the team's own report?

For every alert of the runbook dev set (../shared/eval/runbooks, Apache-2.0; read, not shipped):
  1. an incident is opened from the alert's text, analysed by the local analyst over the 108 runbooks,
     "resolved" with a short thread (the alert's own summary as the root cause), summarised into a report
     and stored exactly as opsloop stores it (Markdown + KB metadata), next to every other alert's report;
  2. a recurrence is issued, reworded: every value changed (numbers, names with digits, namespaces, pods),
     and, in the second variant, the clauses reordered too;
  3. we measure how often the recurrence's own report ranks first for the query opsloop builds from the
     incident, and how often the analysis says it was answered from history with that report first.
     ("Own" = a report of an earlier incident of the same alert: two alerts of the set share a name.)

    .venv/bin/python benchmarks/learned_recall.py [--data ../shared/eval/runbooks] [--split dev]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "opsloop"))

NAMES = ["payments-api-7", "checkout-3", "ledger-db-2", "search-9", "billing-worker-4", "auth-5"]
NAMESPACES = ["payments", "shop", "platform", "data"]


def reword_values(text: str, rng: random.Random) -> str:
    text = re.sub(r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*-\d+\b", lambda m: rng.choice(NAMES), text)
    text = re.sub(r"\b\d+(?:\.\d+)?\b", lambda m: str(rng.randrange(2, 999)), text)
    text = re.sub(r"\b(monitoring|default|kube-system)/", lambda m: rng.choice(NAMESPACES) + "/", text)
    text = re.sub(r"\bprod-[a-z]+-[a-z]+\b", "staging-eu-west", text)
    return text


def reorder(text: str) -> str:
    """Move the trailing clause to the front ("X on cluster Y." → "On cluster Y, X.")."""
    body = text.rstrip(".")
    for sep in (" on cluster ", " for ", " in ", " since ", " of "):
        i = body.rfind(sep)
        if i > 10:
            head, tail = body[:i], body[i + 1:]
            return f"{tail[0].upper()}{tail[1:]}, {head[0].lower()}{head[1:]}."
    words = body.split()
    return " ".join(words[len(words) // 2:] + words[: len(words) // 2]) + "."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "runbooks")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--show-misses", action="store_true", help="print recurrences whose own report was not first")
    args = ap.parse_args()
    queries_file = args.data / f"{args.split}.jsonl"
    if not queries_file.is_file():
        print(f"evaluation data not found: {queries_file} (pass --data)", file=sys.stderr)
        return 2

    from opsloop.analysis_local import ExtractiveAnalyst
    from opsloop.classify import classify
    from opsloop.fingerprint import fingerprint
    from opsloop.models import Incident, ThreadMessage
    from opsloop.report import metadata, report_name, to_markdown
    from opsloop.retrieval import LocalRetriever
    from opsloop.retrieval.query import build_query
    from opsloop.report_rules import ExtractiveSummarizer

    alerts = [json.loads(l) for l in queries_file.read_text().splitlines() if l.strip()]
    work = Path(tempfile.mkdtemp(prefix="opsloop-learned-"))
    reports = work / "reports"
    reports.mkdir()
    runbooks = args.data / "docs"
    summarizer = ExtractiveSummarizer()

    def incident(a: dict, text: str, n: int) -> Incident:
        fp = fingerprint(text)
        return Incident(incident_id=f"inc-{a['id']}-{n}", fingerprint=fp.fingerprint, template=fp.template,
                        message=text, source="prometheus/alertmanager", service=a.get("group", "cluster"),
                        kind="alarm", level="ALARM", exception=fp.exception, frames=fp.frames,
                        first_seen="2026-11-01T10:00:00Z", last_seen="2026-11-01T10:05:00Z")

    t0 = time.perf_counter()
    retriever = LocalRetriever([runbooks, reports], index_dir=work / "index")
    analyst = ExtractiveAnalyst(retriever)
    own: dict[str, set[str]] = {}  # alert name → its reports (an alert may fire twice in the set)
    for a in alerts:  # first occurrences, each resolved and remembered
        inc = incident(a, a["query_text"], 1)
        c = classify(inc)
        analysis = analyst.analyze(inc, c)
        thread = [ThreadMessage("U0ONCALL01", f"Root cause: {a['summary']}", "1790000000.000200"),
                  ThreadMessage("U0ONCALL01", "Fix: followed the runbook and the alert cleared.", "1790000100.000300")]
        report = summarizer.summarize(inc, c, analysis, thread, "U0ONCALL01", None)
        name = report_name(report)
        (reports / f"{name}.md").write_text(to_markdown(report), encoding="utf-8")
        (reports / f"{name}.md.metadata.json").write_text(json.dumps(metadata(report)), encoding="utf-8")
        own.setdefault(a["alert"], set()).add(name)
    build = time.perf_counter() - t0
    retriever = LocalRetriever([runbooks, reports], index_dir=work / "index")
    analyst = ExtractiveAnalyst(retriever)

    rng = random.Random(11)
    rows = []
    for variant in ("values changed", "values changed + reordered"):
        top1 = hist = mrr = 0.0
        for a in alerts:
            text = reword_values(a["query_text"], rng)
            if "reordered" in variant:
                text = reorder(text)
            inc = incident(a, text, 2)
            hits = retriever.search(build_query(inc).text, top_k=10)
            ids = [h.doc_id for h in hits]
            targets = own[a["alert"]]
            rank = next((i + 1 for i, d in enumerate(ids) if d in targets), 0)
            top1 += rank == 1
            if args.show_misses and rank != 1:
                print(f"miss ({variant}): {a['id']} rank {rank}: {text[:100]!r} → {ids[:3]}", file=sys.stderr)
            mrr += 1 / rank if rank else 0
            analysis = analyst.analyze(inc, classify(inc))
            hist += bool(analysis.answered_from_history and analysis.sources
                         and analysis.sources[0].doc_id in targets)
        n = len(alerts)
        rows.append((variant, top1 / n, mrr / n, hist / n))

    print(f"Learned recall on {args.split} ({len(alerts)} alerts; {len(alerts)} reports beside "
          f"{len(list(runbooks.glob('*.md')))} runbooks; first pass {build:.1f} s)\n")
    print("| recurrence | own report ranked 1st | MRR@10 | analysis answered from its own history |")
    print("|---|---|---|---|")
    for v, t, m, h in rows:
        print(f"| {v} | {t:.3f} | {m:.3f} | {h:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
