"""Batch equivalence: redact_texts and fingerprint_rows against redact and fingerprint, line by line.

Log intake redacts and fingerprints a whole batch at once. The two batch functions promise results equal,
element by element, to the per-line functions:

- ``redact_texts(texts, extra_patterns)`` == ``[redact(t, extra_patterns).text for t in texts]``, checked
  without extra patterns, with extra patterns given as strings, and given as compiled patterns;
- ``fingerprint_rows(messages)`` == ``[(fp.fingerprint, fp.template, fp.exception, tuple(fp.frames))
  for fp in map(fingerprint, messages)]``.

Corpora (built by equivalence_corpora.py, the same for a given ``--seed``): loghub, the ``Content`` column of
the Loghub-2.0 samples, read from ``../shared/eval/loghub2k`` relative to the repository root (override with
``--data``; skipped when not there); generated log-like lines with stack traces and secrets; mutated base
lines with values swapped and secrets spliced in; adversarial random ASCII, unicode and control characters.

For each corpus and function, the per-line results of a cold run (the memos of both modules cleared) are the
reference. The batch function is then compared with it in these modes:

- warm: right after the reference run, one batch of everything and batches of 7;
- per-line warm: the per-line function again, with the memos full;
- cold: memos cleared, batches of 1, 2, 7, 100, 1000 and all, on the list as is, a shuffled copy and a
  reversed copy;
- per-line after batch: memos cleared, one batch run, then the per-line function (a batch must leave the
  memos as good as it found them);
- interleaved: batches of 7 and per-line calls in turn, from cold;
- empty: the batch function on ``[]`` returns ``[]``.

Every batch call must also return a list with one result per input and leave its input list as it was.
Prints one table row per corpus, function and mode, then a summary. Exit status 0 when everything is
equal, 1 otherwise. ``--quick`` (about a minute) uses 10,000 generated lines and batch sizes 7 and all.
Nothing is written to disk.

Usage:  .venv/bin/python benchmarks/batch_equivalence.py [--quick] [--data DIR] [--seed N] [--src DIR]
"""

from __future__ import annotations

import argparse
import importlib
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

sys.dont_write_bytecode = True  # the run leaves nothing behind in the repository, bytecode caches included

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "layers" / "opsloop"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from equivalence_corpora import EXTRA_PATTERNS, build_all, loghub_lines  # noqa: E402

SIZES = (1, 2, 7, 100, 1000, 0)  # batch sizes; 0 is one batch of the whole list

# A mode is (phase, order, batch size); size None for the modes that are not cut into batches.
Mode = tuple[str, str, int | None]
FULL_PLAN: list[Mode] = ([("warm", "as is", 0), ("warm", "as is", 7), ("per-line warm", "as is", None)]
                         + [("cold", "as is", s) for s in SIZES]
                         + [("cold", "shuffled", s) for s in (7, 1000, 0)]
                         + [("cold", "reversed", s) for s in (2, 100, 0)]
                         + [("per-line after batch", "as is", None), ("interleaved", "as is", 7),
                            ("empty", "as is", None)])
EXTRA_PLAN: list[Mode] = ([("warm", "as is", 0)] + [("cold", "as is", s) for s in (1, 7, 1000, 0)]
                          + [("cold", "shuffled", 0), ("cold", "reversed", 0), ("per-line after batch", "as is", None)])
COMPILED_PLAN: list[Mode] = [("cold", "as is", 7), ("cold", "as is", 0)]
QUICK_SIZES = (None, 7, 0)


@dataclass
class Target:
    """One batch function with one set of arguments, and the per-line result it must equal."""

    name: str
    item: Callable[[str], object]  # one line -> the result the batch function must give for it
    batch: Callable[[list[str]], object]
    plan: list[Mode]


def targets(redact_module, fingerprint_module, function: str | None) -> list[Target]:  # type: ignore[no-untyped-def]
    redact, redact_texts = redact_module.redact, redact_module.redact_texts
    fingerprint, fingerprint_rows = fingerprint_module.fingerprint, fingerprint_module.fingerprint_rows
    extra = list(EXTRA_PATTERNS)
    compiled = [re.compile(p) for p in EXTRA_PATTERNS]

    def row(message: str) -> tuple:
        fp = fingerprint(message)
        return (fp.fingerprint, fp.template, fp.exception, tuple(fp.frames))

    out = []
    if function in (None, "redact"):
        out += [
            Target("redact_texts", lambda t: redact(t).text, redact_texts, FULL_PLAN),
            Target("redact_texts extra", lambda t: redact(t, extra).text, lambda xs: redact_texts(xs, extra),
                   EXTRA_PLAN),
            Target("redact_texts compiled", lambda t: redact(t, compiled).text,
                   lambda xs: redact_texts(xs, compiled), COMPILED_PLAN),
        ]
    if function in (None, "fingerprint"):
        out.append(Target("fingerprint_rows", row, fingerprint_rows, FULL_PLAN))
    return out


def short(x: object, limit: int = 300) -> str:
    s = repr(x)
    return s if len(s) <= limit else f"{s[:limit]}... ({len(s)} characters)"


def per_line(target: Target, items: Sequence[str]) -> list[object]:
    out: list[object] = []
    for x in items:
        try:
            out.append(target.item(x))
        except Exception as e:  # noqa: BLE001 - an exception is a result to compare like any other
            out.append(("raised", type(e).__name__))
    return out


def batched(target: Target, items: Sequence[str], size: int, problems: Counter) -> list[object]:
    """The batch function over ``items`` cut into batches of ``size`` (0: one batch), with what went wrong
    besides the values counted in ``problems``."""
    out: list[object] = []
    step = size or max(len(items), 1)
    for i in range(0, len(items), step):
        chunk = list(items[i:i + step])
        try:
            res = target.batch(chunk)
        except Exception as e:  # noqa: BLE001
            problems[f"raised {type(e).__name__}: {str(e)[:120]}"] += 1
            out += [("raised", type(e).__name__)] * len(chunk)
            continue
        if type(res) is not list:
            problems[f"returned {type(res).__name__}, not list"] += 1
            try:
                res = list(res)  # type: ignore[call-overload]
            except Exception:  # noqa: BLE001
                res = []
        expected = items[i:i + step]
        if len(res) != len(expected):
            problems[f"returned {len(res)} results for {len(expected)} inputs"] += 1
            res = (res + [("no result",)] * len(expected))[:len(expected)]
        if len(chunk) != len(expected) or any(a is not b for a, b in zip(chunk, expected)):
            problems["modified its input list"] += 1
        out += res
    return out


def clear(redact_module, fingerprint_module) -> None:  # type: ignore[no-untyped-def]
    redact_module.clear_caches()
    fingerprint_module.clear_caches()


def mode_label(phase: str, order: str, size: int | None) -> str:
    label = phase if order == "as is" else f"{phase} {order}"
    if phase == "empty":
        return "empty batch"
    return label if size is None else f"{label}, batches of {size or 'all'}"


def check(corpus: str, items: list[str], target: Target, plan: list[Mode], seed: int, modules: tuple,
          n_examples: int) -> tuple[list[tuple[str, str, str, int, dict[str, int]]], list[str]]:
    """Print one table row per mode; return the failing modes and mismatch examples."""
    n = len(items)
    clear(*modules)
    t0 = time.perf_counter()
    ref = per_line(target, items)
    print(f"| {corpus} | {target.name} | per-line cold (reference) | {n} | | | {time.perf_counter() - t0:.2f} | reference |")
    shuffled = list(range(n))
    random.Random(seed).shuffle(shuffled)
    orders = {"as is": list(range(n)), "shuffled": shuffled, "reversed": list(range(n - 1, -1, -1))}
    failures: list[tuple[str, str, str, int, dict[str, int]]] = []
    examples: list[str] = []
    shown: set[int] = set()
    for phase, order, size in plan:
        label = mode_label(phase, order, size)
        problems: Counter = Counter()
        perm = orders[order]
        data = items if order == "as is" else [items[i] for i in perm]
        t0 = time.perf_counter()
        got: list[object] | None
        if phase == "warm":  # straight after the reference run (or the previous warm run): memos full
            got = batched(target, data, size or 0, problems)
        elif phase == "per-line warm":  # a difference here is a bug of the per-line memos
            got = per_line(target, data)
        elif phase == "cold":
            clear(*modules)
            got = batched(target, data, size or 0, problems)
        elif phase == "per-line after batch":
            clear(*modules)
            batched(target, data, 0, problems)
            got = per_line(target, data)
        elif phase == "interleaved":
            clear(*modules)
            got = []
            for j, i in enumerate(range(0, n, size or 1)):
                chunk = data[i:i + (size or 1)]
                got += batched(target, chunk, 0, problems) if j % 2 == 0 else per_line(target, chunk)
        elif phase == "empty":
            got = None
            try:
                res = target.batch([])
                if type(res) is not list or res != []:
                    problems[f"batch of [] returned {short(res, 80)}"] += 1
            except Exception as e:  # noqa: BLE001
                problems[f"batch of [] raised {type(e).__name__}: {e}"] += 1
        else:
            raise AssertionError(phase)
        seconds = time.perf_counter() - t0
        mismatches: list[int] = []
        if got is not None:
            if len(got) != n:
                problems[f"{len(got)} results for {n} inputs in all"] += 1
            mismatches = [k for k in range(min(n, len(got))) if got[k] != ref[perm[k]]]
            for k in mismatches:
                if len(shown) >= n_examples:
                    break
                if perm[k] not in shown:
                    shown.add(perm[k])
                    examples += [f"[{corpus} {target.name}, {label}] input {perm[k]}: {short(items[perm[k]])}",
                                 f"    per line: {short(ref[perm[k]])}",
                                 f"    batch   : {short(got[k])}"]
        problem_text = "; ".join(f"{p} (x{c})" for p, c in problems.items())
        equal = not mismatches and not problems
        print(f"| {corpus} | {target.name} | {label} | {0 if got is None else len(got)} | {len(mismatches)} |"
              f" {problem_text} | {seconds:.2f} | {'equal' if equal else '**DIFFERENT**'} |")
        if not equal:
            failures.append((corpus, target.name, label, len(mismatches), dict(problems)))
    return failures, examples


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "eval" / "loghub2k",
                    help="directory of the Loghub-2.0 samples (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the generated corpora (default: %(default)s)")
    ap.add_argument("--generated", type=int, default=50_000, help="generated lines (default: %(default)s; --quick: 10000)")
    ap.add_argument("--quick", action="store_true", help="about a minute: fewer generated lines, batch sizes 7 and all")
    ap.add_argument("--corpus", action="append", choices=["loghub", "generated", "mutated", "adversarial"],
                    help="check this corpus only (repeatable)")
    ap.add_argument("--function", choices=["redact", "fingerprint"], help="check this function only")
    ap.add_argument("--examples", type=int, default=5, help="mismatch examples shown per corpus and function")
    ap.add_argument("--src", type=Path, default=None,
                    help="directory holding the opsloop package to check (default: layers/opsloop of this repository)")
    args = ap.parse_args(argv)
    try:
        sys.stdout.reconfigure(errors="backslashreplace", line_buffering=True)  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    if args.src is not None:
        sys.path.insert(0, str(args.src.resolve()))
    redact_module = importlib.import_module("opsloop.redact")
    fingerprint_module = importlib.import_module("opsloop.fingerprint")
    modules = (redact_module, fingerprint_module)

    t_start = time.perf_counter()
    loghub = loghub_lines(args.data)
    if loghub is None:
        print(f"loghub: skipped, no Loghub-2.0 samples in {args.data} (see --data); "
              "the mutated and adversarial corpora start from generated lines instead")
    data = build_all(args.seed, 10_000 if args.quick else args.generated, loghub)
    built = time.perf_counter() - t_start
    print(f"Batch equivalence of opsloop in {Path(redact_module.__file__).parent} (Python {sys.version.split()[0]},"
          f" seed {args.seed}{', quick' if args.quick else ''}; corpora built in {built:.1f} s)")
    print()
    print("| corpus | function | mode | lines | mismatches | problems | s | result |")
    print("|---|---|---|---:|---:|---|---:|---|")
    failures: list[tuple[str, str, str, int, dict[str, int]]] = []
    examples: list[str] = []
    rows = 0
    for ci, (corpus, items) in enumerate(data.items()):
        if args.corpus and corpus not in args.corpus:
            continue
        for target in targets(redact_module, fingerprint_module, args.function):
            plan = [m for m in target.plan if m[2] in QUICK_SIZES] if args.quick else target.plan
            f, e = check(corpus, items, target, plan, args.seed + 100 + ci, modules, args.examples)
            failures += f
            examples += e
            rows += len(plan)

    print()
    if examples:
        print("Mismatch examples:")
        for line in examples:
            print(line)
        print()
    print("- corpora: " + ", ".join(f"{k} {len(v):,} lines ({sum(map(len, v)):,} characters)" for k, v in data.items()
                                   if not args.corpus or k in args.corpus)
          + ("" if loghub is not None else "; loghub skipped (no data)"))
    print(f"- {rows} comparisons with the per-line results, {len(failures)} different,"
          f" {time.perf_counter() - t_start:.0f} s in all")
    for corpus, name, label, m, problems in failures:
        print(f"- DIFFERENT: {corpus}, {name}, {label}: {m} mismatches"
              + (f"; {'; '.join(f'{p} (x{c})' for p, c in problems.items())}" if problems else ""))
    print(f"- batch results equal per-line results: {'yes' if not failures else 'NO'}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
