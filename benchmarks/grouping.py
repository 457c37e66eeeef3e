"""Grouping benchmark: opsloop's fingerprints and template learner against Drain3 on Loghub-2.0 (2k lines/system).

Reads the evaluation data from ``../shared/eval/loghub2k`` (relative to the repository root; override
with ``--data``). The data is not part of the product and is not shipped (research licence: cite Loghub).
Only the ``Content`` column is fed to each method; ``EventTemplate`` is the ground truth.

Grouping accuracy (GA): a line is correct when the set of lines its method put in its group is exactly the
set of lines sharing its ground-truth template; GA = correct lines / all lines.

Headline: joint leave-one-system-out (LOSO). The learner (opsloop.templates) has constants (evidence,
max_diff, min_static, prefix, mixed_evidence). It runs on two maskings: opsloop's, and a masking nobody wrote for these
systems (Drain3's documented masking list: numbers, IPs, hex, id sequences). opsloop's masking rules were
written on these 8 systems, so under them the learner has little left to learn; the generic masking leaves
names, ids without digits and signed block ids to it, as a system opsloop's rules do not know would. The
product ships one constant set, so for each held-out system every combination of the grid below is run on
the other systems under both maskings, the one with the best mean GA over those 2 x 7 runs is chosen (ties:
fewer hidden errors, then the smaller constants, which learn sooner), and the held-out system's figures
under that choice are reported for each masking. The shipped default (LearnerConfig()) is what the same
rule chooses on all 8 systems; the run says whether the two agree. The lines are fed as intake sees them:
batches of 100-500 lines (sizes drawn from a generator seeded by the system's name), dealt round-robin to
4 learners ("containers") sharing one template store.

Two more LOSO tables follow, one per masking, each fold choosing on that masking alone: what a
masking-specific choice would give, for comparison (a product cannot ship both).

Per method and system, on the keys as issued (what intake records when the line arrives):

* GA, as below;
* extra incidents per 1,000 lines (over-splitting): for each ground-truth template, the number of distinct
  keys its lines got, minus one, summed over templates, times 1,000 / lines;
* hidden errors per 1,000 lines (over-merging): for each key, the number of distinct ground-truth
  templates among its lines, minus one, summed over keys, times 1,000 / lines.

"GA final" resolves every issued key through the aliases the store holds at the end (what
``opsloop fingerprint`` prints, and where recurrence and history lead). Drain3 runs as one miner over all
lines in order (one container; its cluster ids as issued).

Also reported: lines/s of each method in-process; fingerprint+redact lines/s, which is what log intake
does with a batch (``redact_texts`` then ``fingerprint_rows`` on ``--batch`` lines at a time; equal line
by line to ``redact``/``fingerprint`` on each line, which the run checks); the same per line; and
over-redaction: the share of lines that ``redact()`` changes (Loghub lines hold no real secrets, so every
change is a false positive).

Timing is like for like: every method gets the same lines in the same order, in this process, after
the modules are imported and the regexes compiled, best of ``--repeat`` runs taken in turns (each round
runs every method once, so load on a shared machine hits them alike); and every timed run starts
from empty state (a new Drain3 miner; opsloop's memos cleared), so each method only profits from what it
learns from the lines of that run. Loghub samples repeat lines (HDFS none, Linux six in seven), and
opsloop does the work of a repeated line once (a batch is deduplicated, and a line memo spans batches),
so the summary also gives the throughput on each system's distinct lines only: the worst case, where
every line is new.

``--ablation`` prints only a third LOSO table: opsloop's masking with each of its rule families switched off
(RULE_FAMILIES), so that a rule only one system needs shows as such.

``--learner-only`` prints only the template learner's own time on the rows of every system's distinct
lines (fingerprinted and redacted beforehand, in batches of 500 and of 100; one learner a system, an
in-memory store, best of ``--repeat`` rounds in which the two batch sizes take turns).

Usage:  .venv/bin/python benchmarks/grouping.py [--data DIR] [--repeat N] [--loso-only | --ablation | --learner-only]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Hashable, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "layers" / "opsloop"))

from opsloop import fingerprint as fingerprint_module  # noqa: E402
from opsloop import redact as redact_module  # noqa: E402
from opsloop.fingerprint import PLACEHOLDER, fingerprint, fingerprint_rows  # noqa: E402
from opsloop.redact import redact, redact_texts  # noqa: E402
from opsloop.templates import InMemoryTemplateStore, LearnerConfig, TemplateLearner, final_fingerprint  # noqa: E402

# The learner's constants tried by each leave-one-system-out fold.
GRID = [LearnerConfig(evidence=e, max_diff=d, min_static=m, prefix=p, mixed_evidence=x) for e in (2, 3, 4, 5, 6)
        for d in (1, 2) for m in (1, 2, 3, 4) for p in (0, 1, 2) for x in (0, 3, 4)]
CONTAINERS = 4
BATCH_RANGE = (100, 500)

# Drain3's documented masking list (examples/drain3.ini in logpai/Drain3), with its mask prefix/suffix.
DRAIN3_DOC_MASKING = [
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "mask_with": "ID"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "mask_with": "IP"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "mask_with": "SEQ"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "mask_with": "SEQ"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "mask_with": "HEX"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "mask_with": "NUM"},
    {"regex_pattern": r"(?<=executed cmd )(\".+?\")", "mask_with": "CMD"},
]


def load(data: Path, system: str) -> tuple[list[str], list[str]]:
    path = data / system / f"{system}_2k.log_structured_corrected.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventTemplate"] for r in rows]


def grouping_accuracy(predicted: Sequence[Hashable], truth: Sequence[str]) -> float:
    """GA as defined by the Loghub benchmark: whole predicted groups that equal a whole true group."""
    truth_size = Counter(truth)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, key in enumerate(predicted):
        members[key].append(i)
    correct = 0
    for idx in members.values():
        templates = {truth[i] for i in idx}
        if len(templates) == 1 and truth_size[truth[idx[0]]] == len(idx):
            correct += len(idx)
    return correct / len(truth) if truth else 0.0


def split_merge(keys: Sequence[Hashable], truth: Sequence[str]) -> tuple[float, float]:
    """(extra incidents, hidden errors) per 1,000 lines, as defined in the module docstring."""
    keys_of: dict[str, set[Hashable]] = defaultdict(set)
    truths_of: dict[Hashable, set[str]] = defaultdict(set)
    for k, t in zip(keys, truth):
        keys_of[t].add(k)
        truths_of[k].add(t)
    extra = sum(len(v) - 1 for v in keys_of.values())
    hidden = sum(len(v) - 1 for v in truths_of.values())
    return 1000 * extra / len(truth), 1000 * hidden / len(truth)


def intake_batches(system: str, n: int) -> list[tuple[int, int]]:
    """(start, end) of the batches a system's lines arrive in: sizes 100-500, seeded by the system's name."""
    import random

    rng = random.Random(system)
    out, start = [], 0
    while start < n:
        end = min(n, start + rng.randint(*BATCH_RANGE))
        out.append((start, end))
        start = end
    return out


_GENERIC = [re.compile(m["regex_pattern"]) for m in DRAIN3_DOC_MASKING]


def generic_rows(lines: Sequence[str]) -> list[tuple[str, str, None, tuple[()]]]:
    """Rows from a masking nobody wrote for these systems: Drain3's documented masking list (numbers, IPs,
    hex, id sequences), each match as <*>, whitespace runs as one space. The stand-in for a system whose
    tokens opsloop's masking rules do not know (see the module docstring)."""
    out = []
    for line in lines:
        text = line
        for rx in _GENERIC:
            text = rx.sub(PLACEHOLDER, text)
        template = " ".join(text.split())
        out.append((hashlib.sha256(template.encode("utf-8", "surrogatepass")).hexdigest()[:16], template, None, ()))
    return out


def learned_keys(system: str, lines: list[str], config: LearnerConfig | None, rows_of: Callable = fingerprint_rows,
                 rows: list | None = None) -> tuple[list[str], list[str], tuple[int, int, int]]:
    """Keys as issued and as finally resolved, with CONTAINERS learners sharing one store, batches round-robin;
    and (batches, store reads, bucket writes attempted). ``rows``: the lines' rows computed beforehand."""
    store = InMemoryTemplateStore()
    learners = [TemplateLearner(store, config) for _ in range(CONTAINERS)]
    issued: list[str] = []
    for n, (start, end) in enumerate(intake_batches(system, len(lines))):
        batch = rows[start:end] if rows is not None else rows_of(lines[start:end])
        issued += [row[0] for row in learners[n % CONTAINERS].resolve_rows(system, batch)]
    final = {k: final_fingerprint(store, system, k) for k in set(issued)}
    return issued, [final[k] for k in issued], (n + 1, store.reads, store.writes)


Runs = dict[tuple[LearnerConfig, str], tuple[list[str], list[str], tuple[int, int, int]]]
Scores = dict[tuple[LearnerConfig, str], tuple[float, float]]


def grid_runs(loaded: dict[str, tuple[list[str], list[str]]], rows_of: Callable) -> tuple[Runs, Scores]:
    """Every constant set of GRID on every system under one masking: the keys, and (GA, hidden errors /1k)."""
    runs: Runs = {}
    score: Scores = {}
    for s, (lines, truth) in loaded.items():
        rows = rows_of(lines)
        for cfg in GRID:
            runs[(cfg, s)] = learned_keys(s, lines, cfg, rows=rows)
            score[(cfg, s)] = (grouping_accuracy(runs[(cfg, s)][0], truth), split_merge(runs[(cfg, s)][0], truth)[1])
    return runs, score


def choose(scores: Sequence[Scores], others: Sequence[str]) -> LearnerConfig:
    """The constants with the best mean GA over ``others`` under every masking in ``scores`` (ties: fewer hidden
    errors, then the smaller constants, which learn sooner). The rule every fold and the shipped default use."""
    def rank(cfg: LearnerConfig) -> tuple[float, ...]:
        pairs = [sc[(cfg, o)] for sc in scores for o in others]
        return (-round(sum(p[0] for p in pairs) / len(pairs), 6), round(sum(p[1] for p in pairs) / len(pairs), 6),
                cfg.evidence, cfg.max_diff, cfg.min_static, cfg.prefix, cfg.mixed_evidence)
    return min(GRID, key=rank)


def peer_keys(loaded: dict[str, tuple[list[str], list[str]]]) -> dict[str, dict[str, list[Hashable]]]:
    """Drain3's cluster ids (default, and with its documented masking), one miner over each system in order."""
    peers: dict[str, dict[str, list[Hashable]]] = defaultdict(dict)
    for s, (lines, _) in loaded.items():
        for name in ("drain3-default", "drain3-masked"):
            miner = drain3_miner(doc_masking=(name == "drain3-masked"))
            peers[name][s] = [miner.add_log_message(line)["cluster_id"] for line in lines]
    return peers


def _constants(cfg: LearnerConfig) -> str:
    return f"{cfg.evidence}, {cfg.max_diff}, {cfg.min_static}, {cfg.prefix}, {cfg.mixed_evidence}"


def loso(loaded: dict[str, tuple[list[str], list[str]]], peers: dict[str, dict[str, list[Hashable]]], runs: Runs,
         chosen: dict[str, LearnerConfig], rows_of: Callable = fingerprint_rows, title: str = "opsloop",
         baseline: str = "masking only", how: str = "") -> int:
    """The leave-one-system-out table (see the module docstring) for the constants ``chosen`` per held-out
    system; returns how many systems are below Drain3."""
    systems = list(loaded)
    fingerprint_module.clear_caches()
    masked = {s: [row[0] for row in rows_of(loaded[s][0])] for s in systems}
    print(f"{title}: leave-one-system-out, {CONTAINERS} containers sharing one template store, batches of"
          f" {BATCH_RANGE[0]}-{BATCH_RANGE[1]} lines dealt round-robin; {len(GRID)} constant sets per fold{how}.")
    print()
    print("| held-out system | constants chosen on the other systems (evidence, max_diff, min_static, prefix, mixed_evidence) |"
          f" {title} GA | GA final | extra incidents /1k | hidden errors /1k | {baseline} GA |"
          " Drain3 default GA | extra /1k | hidden /1k | Drain3 masked GA | extra /1k | hidden /1k |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    sums: dict[str, float] = defaultdict(float)
    behind = []
    for s in systems:
        truth = loaded[s][1]
        cfg = chosen[s]
        issued, final, calls = runs[(cfg, s)]
        for k, v in zip(("batches", "reads", "writes"), calls):
            sums[k] += v
        ga, ga_final = grouping_accuracy(issued, truth), grouping_accuracy(final, truth)
        extra, hidden = split_merge(issued, truth)
        cells = [f"{ga:.3f}", f"{ga_final:.3f}", f"{extra:.1f}", f"{hidden:.1f}"]
        row = {"ga": ga, "ga_final": ga_final, "extra": extra, "hidden": hidden}
        mga = grouping_accuracy(masked[s], truth)
        cells.append(f"{mga:.3f}")
        row["masking"] = mga
        best_peer = 0.0
        for name in ("drain3-default", "drain3-masked"):
            pga = grouping_accuracy(peers[name][s], truth)
            pextra, phidden = split_merge(peers[name][s], truth)
            cells += [f"{pga:.3f}", f"{pextra:.1f}", f"{phidden:.1f}"]
            row[name], row[name + " extra"], row[name + " hidden"] = pga, pextra, phidden
            best_peer = max(best_peer, pga)
        if ga < best_peer:
            behind.append(s)
        for k, v in row.items():
            sums[k] += v / len(systems)
        print(f"| {s} | {_constants(cfg)} | " + " | ".join(cells) + " |")
    print(f"| **average** | | **{sums['ga']:.3f}** | {sums['ga_final']:.3f} | {sums['extra']:.1f} | {sums['hidden']:.1f} |"
          f" {sums['masking']:.3f} | {sums['drain3-default']:.3f} | {sums['drain3-default extra']:.1f} |"
          f" {sums['drain3-default hidden']:.1f} | {sums['drain3-masked']:.3f} | {sums['drain3-masked extra']:.1f} |"
          f" {sums['drain3-masked hidden']:.1f} |")
    print()
    print(f"- template store calls: {sums['reads'] / sums['batches']:.2f} reads (one BatchGetItem each) and"
          f" {sums['writes'] / sums['batches']:.2f} bucket writes per batch, over {sums['batches']:.0f} batches")
    print(f"- LOSO systems where {title} GA (as issued) < the better Drain3 GA: {', '.join(behind) if behind else 'none'}")
    print()
    return len(behind)


def joint(loaded: dict[str, tuple[list[str], list[str]]], peers: dict[str, dict[str, list[Hashable]]],
          maskings: dict[str, tuple[Runs, Scores]]) -> LearnerConfig:
    """The joint leave-one-system-out table: each fold chooses one constant set on the other systems under
    every masking at once, and reports the held-out system under each masking. Returns the constants the
    same rule chooses on all systems: the shipped default (LearnerConfig())."""
    systems = list(loaded)
    scores = [sc for _, sc in maskings.values()]
    chosen = {s: choose(scores, [o for o in systems if o != s]) for s in systems}
    names = list(maskings)
    print(f"Joint leave-one-system-out: each fold chooses one constant set among {len(GRID)} by the mean GA of the"
          f" other {len(systems) - 1} systems under both maskings ({' and '.join(names)}), and the held-out system"
          " is run under each; the shipped default is what the same rule chooses on all systems.")
    print()
    print("| held-out system | constants chosen (evidence, max_diff, min_static, prefix, mixed_evidence) | "
          + " | ".join(f"{n} GA | extra /1k | hidden /1k" for n in names) + " | better Drain3 GA |")
    print("|---|---|" + "---:|---:|---:|" * len(names) + "---:|")
    sums: dict[str, float] = defaultdict(float)
    behind: dict[str, list[str]] = {n: [] for n in names}
    for s in systems:
        truth = loaded[s][1]
        peer = max(grouping_accuracy(peers[p][s], truth) for p in ("drain3-default", "drain3-masked"))
        cells = []
        for n in names:
            issued = maskings[n][0][(chosen[s], s)][0]
            ga = grouping_accuracy(issued, truth)
            extra, hidden = split_merge(issued, truth)
            cells += [f"{ga:.3f}", f"{extra:.1f}", f"{hidden:.1f}"]
            sums[n] += ga / len(systems)
            sums[n + " extra"] += extra / len(systems)
            sums[n + " hidden"] += hidden / len(systems)
            if ga < peer:
                behind[n].append(s)
        sums["peer"] += peer / len(systems)
        print(f"| {s} | {_constants(chosen[s])} | " + " | ".join(cells) + f" | {peer:.3f} |")
    print("| **average** | | " + " | ".join(f"**{sums[n]:.3f}** | {sums[n + ' extra']:.1f} | {sums[n + ' hidden']:.1f}"
                                          for n in names) + f" | {sums['peer']:.3f} |")
    print()
    default = choose(scores, systems)
    for n in names:
        print(f"- {n}: systems below the better Drain3: {', '.join(behind[n]) if behind[n] else 'none'}")
    print(f"- chosen on all {len(systems)} systems (the shipped default): {_constants(default)};"
          f" LearnerConfig() is {_constants(LearnerConfig())}"
          f" ({'the same' if default == LearnerConfig() else 'DIFFERENT'})")
    for label, cfg in [("both maskings", default)] + [(f"{n} alone", choose([maskings[n][1]], systems)) for n in names]:
        means = [sum(maskings[n][1][(cfg, s)][0] for s in systems) / len(systems) for n in names]
        print(f"- chosen on all {len(systems)} systems under {label}: {_constants(cfg)}, mean GA on them "
              + ", ".join(f"{n} {m:.3f}" for n, m in zip(names, means)))
    print()
    return default


# The masking rule families of opsloop.fingerprint, each as the module attributes that switch it off: a
# regex that never matches, or an empty set of words. Judged by leave-one-system-out with the family
# removed (--ablation): a rule that only one system needs will not carry over to systems nobody tuned on.
_NEVER = re.compile(r"(?!)")
RULE_FAMILIES: dict[str, dict[str, object]] = {
    "quoted values": {"_QUOTED_RE": _NEVER},
    "URLs": {"_URL_RE": _NEVER},
    "e-mail addresses": {"_EMAIL_RE": _NEVER},
    "paths": {"_PATH_RE": _NEVER},
    "colon-joined hex (IPv6, MAC)": {"_HEXSEQ_RE": _NEVER},
    "host names": {"_HOST_RE": _NEVER},
    "key=value values": {"_KV_RE": _NEVER},
    "long hex / base64 tokens": {"_HEX_TOKEN_RE": _NEVER},
    "names with one digit kept (eth0)": {"_NAME_WITH_DIGIT_RE": _NEVER},
    "units after numbers": {"_UNITS": frozenset()},
    "names after user / password for": {"_NAME_NOUNS": frozenset(), "_AUTH_BEFORE_FOR": frozenset()},
    "dates in words": {"_DATE_WORDS": frozenset()},
    "runs of values as one": {"_RUN_RE": _NEVER},
}


def reference_rows(lines: Sequence[str]) -> list[tuple[str, str, None, tuple[()]]]:
    """Rows from fingerprint.py's masking rules applied one line and one token at a time, with no memo,
    shape or batch path (each of which is exact, but decides some shapes without the rules): the form in
    which a rule family can be switched off by replacing module attributes (RULE_FAMILIES)."""
    fm = fingerprint_module
    out = []
    for line in lines:
        text = fm.strip_prefix(line)
        if '"' in text or "'" in text:
            text = fm._QUOTED_RE.sub(PLACEHOLDER, text)
        toks = text.split()
        masked = [fm._mask_token(t) for t in toks]
        rules = [i for i, t in enumerate(toks) if t.rstrip(fm._UNIT_TAIL) in (fm._NAME_NOUNS | fm._UNITS | {"for"})]
        dates = [i for i, t in enumerate(toks) if t in fm._DATE_WORDS]
        fm._apply_context(toks, masked, rules, dates)
        template = fm._RUN_RE.sub(PLACEHOLDER, " ".join(masked))
        out.append((hashlib.sha256(template.encode("utf-8", "surrogatepass")).hexdigest()[:16], template, None, ()))
    return out


def ablation(data: Path, systems: list[str]) -> None:
    """LOSO GA of masking + learner with each rule family of fingerprint.py switched off (--ablation)."""
    loaded = {s: load(data, s) for s in systems}
    same = sum(r[1] == f[1] for s in systems for r, f in zip(reference_rows(loaded[s][0]), fingerprint_rows(loaded[s][0])))
    total = sum(len(loaded[s][0]) for s in systems)
    print(f"Rule families of opsloop's masking, each switched off (per-line reference masking: its templates equal"
          f" fingerprint_rows() on {same} of {total} lines); LOSO GA of masking + learner over"
          f" {len(ABLATION_GRID)} constant sets per fold, and masking alone:")
    print()
    print("| rule family removed | LOSO GA | " + " | ".join(systems) + " | masking alone GA | systems that lose > 0.005 |")
    print("|---|---:|" + "---:|" * len(systems) + "---:|---|")
    base: dict[str, float] = {}
    for family in ["(none)"] + list(RULE_FAMILIES):
        saved = {k: getattr(fingerprint_module, k) for k in RULE_FAMILIES.get(family, {})}
        for k, v in RULE_FAMILIES.get(family, {}).items():
            setattr(fingerprint_module, k, v)
        try:
            rows = {s: reference_rows(loaded[s][0]) for s in systems}
        finally:
            for k, v in saved.items():
                setattr(fingerprint_module, k, v)
        score = {(cfg, s): grouping_accuracy(learned_keys(s, loaded[s][0], cfg, rows=rows[s])[0], loaded[s][1])
                 for cfg in ABLATION_GRID for s in systems}
        held = {}
        for s in systems:
            others = [o for o in systems if o != s]
            cfg = max(ABLATION_GRID, key=lambda c: (round(sum(score[(c, o)] for o in others), 6),
                                                     -c.evidence, -c.max_diff, -c.min_static, -c.prefix))
            held[s] = score[(cfg, s)]
        alone = sum(grouping_accuracy([r[0] for r in rows[s]], loaded[s][1]) for s in systems) / len(systems)
        if family == "(none)":
            base = held
        losers = [s for s in systems if held[s] < base[s] - 0.005]
        print(f"| {family} | {sum(held.values()) / len(systems):.3f} | " + " | ".join(f"{held[s]:.3f}" for s in systems)
              + f" | {alone:.3f} | {', '.join(losers) if losers else '-'} |")
    print()


ABLATION_GRID = [LearnerConfig(evidence=e, max_diff=1, min_static=m, prefix=p) for e in (2, 3, 4, 5, 6)
                 for m in (1, 2, 3, 4) for p in (0, 1, 2)]


def drain3_miner(doc_masking: bool):  # type: ignore[no-untyped-def]
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    if not doc_masking:
        return TemplateMiner()  # library defaults (no drain3.ini is read from the working directory)
    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(m["regex_pattern"], m["mask_with"]) for m in DRAIN3_DOC_MASKING]
    config.mask_prefix, config.mask_suffix = "<:", ":>"
    return TemplateMiner(config=config)


def run_once(name: str, lines: list[str], batch: int) -> tuple[list[Hashable], float]:
    """One timed run of a method from empty state: the group key of every line, and the seconds taken."""
    fingerprint_module.clear_caches()  # every timed run starts cold, like a fresh container
    redact_module.clear_caches()
    chunks = [lines[i:i + batch] for i in range(0, len(lines), batch or len(lines) or 1)]
    if name == "opsloop":
        t0 = time.perf_counter()
        keys: list[Hashable] = [fingerprint(line).fingerprint for line in lines]
    elif name == "opsloop batch":
        t0 = time.perf_counter()
        keys = [row[0] for chunk in chunks for row in fingerprint_rows(chunk)]
    elif name == "intake":  # what log intake does with a batch: redact it, then fingerprint it
        t0 = time.perf_counter()
        keys = [row[0] for chunk in chunks for row in fingerprint_rows(redact_texts(chunk))]
    elif name == "intake learned":  # the same, then the template learner (one container, in-memory store)
        learner = TemplateLearner(InMemoryTemplateStore())
        t0 = time.perf_counter()
        keys = [row[0] for chunk in chunks for row in learner.resolve_rows("s", fingerprint_rows(redact_texts(chunk)))]
    elif name == "intake per line":
        t0 = time.perf_counter()
        keys = [fingerprint(redact(line).text).fingerprint for line in lines]
    elif name == "redact batch":
        t0 = time.perf_counter()
        keys = [text for chunk in chunks for text in redact_texts(chunk)]
    else:
        miner = drain3_miner(doc_masking=(name == "drain3-masked"))
        add: Callable = miner.add_log_message
        t0 = time.perf_counter()
        keys = [add(line)["cluster_id"] for line in lines]
    return keys, time.perf_counter() - t0


def race(methods: Sequence[tuple[str, str, int]], lines: list[str], repeat: int) -> dict[str, tuple[list[Hashable], float]]:
    """Each (label, method, batch size) run ``repeat`` times, the methods taking turns within each round so
    that load on a shared machine hits them alike; the keys and the best lines/s of each label."""
    best: dict[str, float] = {}
    keys: dict[str, list[Hashable]] = {}
    for _ in range(repeat):
        for label, name, batch in methods:
            keys[label], seconds = run_once(name, lines, batch)
            best[label] = min(best.get(label, float("inf")), seconds)
    return {label: (keys[label], len(lines) / best[label]) for label in best}


def learner_alone(data: Path, systems: list[str], repeat: int) -> None:
    """The learner's seconds over every system's distinct lines, its input rows computed beforehand."""
    batches = {}
    for system in systems:
        distinct = list(dict.fromkeys(load(data, system)[0]))
        for size in (500, 100):
            batches[system, size] = [fingerprint_rows(redact_texts(distinct[i:i + size]))
                                     for i in range(0, len(distinct), size)]
    best: dict[int, float] = {}
    for _ in range(repeat):
        for size in (500, 100):
            seconds = 0.0
            for system in systems:
                learner = TemplateLearner(InMemoryTemplateStore())
                t0 = time.perf_counter()
                for rows in batches[system, size]:
                    learner.resolve_rows(system, rows)
                seconds += time.perf_counter() - t0
            best[size] = min(best.get(size, float("inf")), seconds)
    lines = sum(len(list(dict.fromkeys(load(data, s)[0]))) for s in systems)
    print(f"- template learner alone on the rows of {lines:,} distinct lines ({len(systems)} systems), best of {repeat}:"
          f" {best[500] * 1000:.1f} ms in batches of 500, {best[100] * 1000:.1f} ms in batches of 100")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "eval" / "loghub2k")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per method; the best is reported")
    ap.add_argument("--systems", nargs="*", default=None)
    ap.add_argument("--show-errors", type=int, default=0, help="print up to N wrongly grouped opsloop templates")
    ap.add_argument("--batch", type=int, default=500, help="lines per intake batch (default: %(default)s)")
    ap.add_argument("--loso-only", action="store_true", help="print the leave-one-system-out table only")
    ap.add_argument("--ablation", action="store_true",
                    help="only the LOSO table with each masking rule family switched off")
    ap.add_argument("--learner-only", action="store_true", help="only the template learner's own time")
    args = ap.parse_args(argv)
    logging.getLogger("drain3").setLevel(logging.ERROR)
    logging.disable(logging.WARNING)

    systems = args.systems or sorted(p.name for p in args.data.iterdir() if (p / f"{p.name}_2k.log_structured_corrected.csv").exists())
    if args.ablation:
        ablation(args.data, systems)
        return 0
    if args.learner_only:
        learner_alone(args.data, systems, args.repeat)
        return 0
    loaded = {s: load(args.data, s) for s in systems}
    peers = peer_keys(loaded)
    maskings = {"opsloop masking": grid_runs(loaded, fingerprint_rows), "generic masking": grid_runs(loaded, generic_rows)}
    joint(loaded, peers, maskings)
    for (name, (runs, score)), rows_of, baseline in zip(maskings.items(), (fingerprint_rows, generic_rows),
                                                         ("masking only", "generic masking only")):
        chosen = {s: choose([score], [o for o in systems if o != s]) for s in systems}
        loso(loaded, peers, runs, chosen, rows_of, f"{name} + learner", baseline, ", chosen on this masking only")
    if args.loso_only:
        return 0
    print("Masking alone (the learner's first step and fallback), one process, all lines in order:")
    print()
    methods = ["opsloop", "drain3-default", "drain3-masked"]
    ga: dict[str, dict[str, float]] = defaultdict(dict)
    speed: dict[str, dict[str, float]] = defaultdict(dict)
    groups: dict[str, dict[str, int]] = defaultdict(dict)
    truth_groups: dict[str, int] = {}
    over: dict[str, float] = {}
    combined: dict[str, float] = {}
    per_line: dict[str, float] = {}
    distinct_combined: dict[str, float] = {}
    distinct_learned: dict[str, float] = {}
    distinct_learned_small: dict[str, float] = {}
    distinct_per_line: dict[str, float] = {}
    distinct_small: dict[str, float] = {}
    distinct_drain: dict[str, float] = {}
    distinct_fp: dict[str, float] = {}
    distinct_redact: dict[str, float] = {}
    same_keys = True
    all_lines: list[str] = []
    for system in systems:
        lines, truth = load(args.data, system)
        all_lines += lines
        truth_groups[system] = len(set(truth))
        logged = race([(m, m, args.batch) for m in methods] + [("intake", "intake", args.batch),
                                                                ("intake per line", "intake per line", 0)],
                      lines, args.repeat)
        for m in methods:
            keys, speed[m][system] = logged[m]
            ga[m][system] = grouping_accuracy(keys, truth)
            groups[m][system] = len(set(keys))
            if m == "opsloop" and args.show_errors:
                _show_errors(system, lines, truth, keys, args.show_errors)
        batch_keys, combined[system] = logged["intake"]
        line_keys, per_line[system] = logged["intake per line"]
        same_keys &= batch_keys == line_keys == logged["opsloop"][0]
        distinct = list(dict.fromkeys(lines))  # first occurrences, in order
        fresh = race([("drain3", "drain3-default", 0), ("intake", "intake", args.batch), ("intake 100", "intake", 100),
                      ("learned", "intake learned", args.batch), ("learned 100", "intake learned", 100),
                      ("per line", "intake per line", 0), ("fingerprint", "opsloop batch", args.batch),
                      ("redact", "redact batch", args.batch)], distinct, args.repeat)
        distinct_drain[system] = fresh["drain3"][1]
        distinct_combined[system] = fresh["intake"][1]
        distinct_learned[system] = fresh["learned"][1]
        distinct_learned_small[system] = fresh["learned 100"][1]
        distinct_small[system] = fresh["intake 100"][1]
        distinct_per_line[system] = fresh["per line"][1]
        distinct_fp[system] = fresh["fingerprint"][1]
        distinct_redact[system] = fresh["redact"][1]
        over[system] = sum(redact(line).text != line for line in lines) / len(lines)

    print("| system | truth groups | opsloop GA | opsloop groups | Drain3 default GA | groups | Drain3 masked GA |"
          " groups | opsloop lines/s | Drain3 default lines/s | Drain3 masked lines/s | fingerprint+redact lines/s |"
          " over-redaction |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in systems:
        print(f"| {s} | {truth_groups[s]} | {ga['opsloop'][s]:.3f} | {groups['opsloop'][s]} | {ga['drain3-default'][s]:.3f} |"
              f" {groups['drain3-default'][s]} | {ga['drain3-masked'][s]:.3f} | {groups['drain3-masked'][s]} |"
              f" {speed['opsloop'][s]:,.0f} | {speed['drain3-default'][s]:,.0f} | {speed['drain3-masked'][s]:,.0f} |"
              f" {combined[s]:,.0f} | {over[s]:.2%} |")

    def avg(d: dict[str, float]) -> float:
        return sum(d.values()) / len(d)

    print(f"| **average** | | **{avg(ga['opsloop']):.3f}** | | {avg(ga['drain3-default']):.3f} | | {avg(ga['drain3-masked']):.3f} |"
          f" | {avg(speed['opsloop']):,.0f} | {avg(speed['drain3-default']):,.0f} | {avg(speed['drain3-masked']):,.0f} |"
          f" {avg(combined):,.0f} | {avg(over):.2%} |")
    print()
    best_drain = {s: max(ga["drain3-default"][s], ga["drain3-masked"][s]) for s in systems}
    behind = [s for s in systems if ga["opsloop"][s] < best_drain[s]]
    print(f"- GA ratio opsloop / Drain3 default: {avg(ga['opsloop']) / avg(ga['drain3-default']):.2f}; "
          f"opsloop / Drain3 masked: {avg(ga['opsloop']) / avg(ga['drain3-masked']):.2f}")
    print(f"- throughput ratio opsloop / Drain3 default: {avg(speed['opsloop']) / avg(speed['drain3-default']):.2f}; "
          f"opsloop / Drain3 masked: {avg(speed['opsloop']) / avg(speed['drain3-masked']):.2f}")
    print(f"- fingerprint+redact (intake, batches of {args.batch} lines) / Drain3 default throughput:"
          f" {avg(combined) / avg(speed['drain3-default']):.2f}; / Drain3 masked: {avg(combined) / avg(speed['drain3-masked']):.2f};"
          f" the same per line: {avg(per_line) / avg(speed['drain3-default']):.2f}")
    print(f"- batch results equal per-line results (fingerprint of every line): {'yes' if same_keys else 'NO'}")
    print(f"- on distinct lines only (every line new): fingerprint+redact {avg(distinct_combined):,.0f} lines/s,"
          f" Drain3 default {avg(distinct_drain):,.0f} lines/s, ratio {avg(distinct_combined) / avg(distinct_drain):.2f}"
          f" (batches of 100 lines: {avg(distinct_small) / avg(distinct_drain):.2f}; per line:"
          f" {avg(distinct_per_line) / avg(distinct_drain):.2f})")
    print(f"- on distinct lines, fingerprint+redact+template learner (what intake does now): {avg(distinct_learned):,.0f}"
          f" lines/s, ratio to Drain3 default {avg(distinct_learned) / avg(distinct_drain):.2f} (batches of 100 lines:"
          f" {avg(distinct_learned_small) / avg(distinct_drain):.2f}; the store's round trips are not included)")
    print(f"- on distinct lines, each part alone: fingerprint {avg(distinct_fp):,.0f} lines/s"
          f" ({avg(distinct_fp) / avg(distinct_drain):.2f}x Drain3 default), redact {avg(distinct_redact):,.0f} lines/s"
          f" ({avg(distinct_redact) / avg(distinct_drain):.2f}x)")
    print("- per system, fingerprint+redact / Drain3 default: as logged "
          + ", ".join(f"{s} {combined[s] / speed['drain3-default'][s]:.2f}" for s in systems)
          + "; distinct lines " + ", ".join(f"{s} {distinct_combined[s] / distinct_drain[s]:.2f}" for s in systems))
    print(f"- systems where opsloop GA < best Drain3 GA: {', '.join(behind) if behind else 'none'}")
    print(f"- over-redaction over all {len(all_lines)} lines: "
          f"{sum(redact(line).text != line for line in all_lines) / len(all_lines):.2%}")
    return 0


def _show_errors(system: str, lines: list[str], truth: list[str], keys: list[Hashable], limit: int) -> None:
    """Debug aid: the templates whose lines were split or merged wrongly."""
    by_truth: dict[str, set[Hashable]] = defaultdict(set)
    by_key: dict[Hashable, set[str]] = defaultdict(set)
    for t, k in zip(truth, keys):
        by_truth[t].add(k)
        by_key[k].add(t)
    shown = 0
    for t, ks in by_truth.items():
        if len(ks) > 1 or any(len(by_key[k]) > 1 for k in ks):
            examples = {k: next(lines[i] for i in range(len(lines)) if keys[i] == k and truth[i] == t) for k in ks}
            print(f"[{system}] truth: {t}  ({'split' if len(ks) > 1 else 'merged'})", file=sys.stderr)
            for k, ex in list(examples.items())[:4]:
                print(f"    {fingerprint(ex).template}   <- {ex[:120]}", file=sys.stderr)
            shown += 1
            if shown >= limit:
                break


if __name__ == "__main__":
    raise SystemExit(main())
