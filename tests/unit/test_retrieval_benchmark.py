"""The retrieval benchmark's held-out protocol: constants are chosen without looking at the scored queries."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "retrieval.py"


def _bench():
    spec = importlib.util.spec_from_file_location("retrieval_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kfold_scores_every_query_exactly_once():
    bench = _bench()
    folds = bench.kfold(23, 5, seed=1)
    seen = sorted(q for _, fold in folds for q in fold)
    assert seen == list(range(23)) and len(folds) == 5


def test_held_out_figure_uses_the_configuration_chosen_on_the_other_folds():
    bench = _bench()
    # "fits-test" is perfect on query 3 only and worst elsewhere; "general" ranks everything 2nd
    # except query 3. A protocol that peeked at the held-out query would report rank 1 for it.
    grid = [("general", [2, 2, 2, 0]), ("fits-test", [0, 0, 0, 1])]
    base = [1, 1, 1, 1]
    rows, pooled, _, optimistic = bench.held_out(grid, base, [("a", [0, 1, 2]), ("b", [3])])
    assert "fits-test" in rows[0]  # fold a was scored with what query 3 alone chose
    assert "general" in rows[1]  # fold b (query 3) was scored with what fold a chose
    assert pooled["R@1"] == 0.0 and pooled["MRR"] == 0.0  # each choice fails where it was not made
    assert optimistic["MRR"] == bench.from_ranks([2, 2, 2, 0])["MRR"]
