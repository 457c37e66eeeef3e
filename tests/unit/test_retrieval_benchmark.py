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


def _tiny(tmp_path: Path):
    for name, text in (("KubePodCrashLooping", "# KubePodCrashLooping\n\n## Meaning\n\nA pod restarts over and over."),
                       ("NodeDiskFull", "# NodeDiskFull\n\n## Meaning\n\nThe node's filesystem has no space left."),
                       ("EtcdNoLeader", "# EtcdNoLeader\n\n## Meaning\n\nAn etcd member has no leader.")):
        (tmp_path / f"{name}.md").write_text(text + "\n", encoding="utf-8")
    from opsloop.knowledge_docs import load_documents

    queries = [("pod is restarting over and over", "KubePodCrashLooping"), ("no space left on node", "NodeDiskFull"),
               ("etcd member without a leader", "EtcdNoLeader")]
    return load_documents(tmp_path), queries


def test_one_grid_entry_scored_alone_equals_that_entry_of_the_full_grid(tmp_path: Path):
    # The unseen collection scores only the entry the dev queries chose: it must be the same configuration.
    bench = _bench()
    docs, queries = _tiny(tmp_path)
    full = bench.grid_ranks(docs, queries, extra_b=(("long fields 1.0", bench.FULL_B),))
    for i in (0, 7, len(full) - 1):
        assert bench.grid_ranks(docs, queries, extra_b=(("long fields 1.0", bench.FULL_B),), only=i) == [full[i]]
    reranked = bench.coverage_reranked_grid(docs, queries)
    assert len(reranked) == 3 * len(bench.grid_configs())
    assert reranked[0][1] == bench.grid_ranks(docs, queries, only=0)[0][1]  # p = 0 is the ranking as it is
    assert bench.coverage_reranked_grid(docs, queries, only=5) == [reranked[5]]
    split = len(bench.grid_configs())
    both = bench.without_code_grid(docs, queries)
    assert bench.without_code_grid(docs, queries, only=split + 2) == [both[split + 2]]


def test_the_alarm_wording_goes_through_intake_and_build_query():
    bench = _bench()
    text = bench.alarm_query("CephOSDDiskNotResponding", "Disk device /dev/sdb not responding on host 10.0.0.7")
    assert "CephOSDDiskNotResponding" in text and "not responding on host" in text
    assert "10.0.0.7" not in text and "/dev/sdb" not in text
    assert bench.alarm_query("CephOSDDiskNotResponding", "") == "CloudWatch alarm CephOSDDiskNotResponding is in ALARM"
