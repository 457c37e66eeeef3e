#!/usr/bin/env python3
"""Cold-start cost of each Lambda handler, and the size of what `sam build` packages.

For every functions/<name>/app.py: the import time of the handler module in a fresh interpreter (median
of --runs), with only the function's directory and the layer's package on sys.path, like Lambda's
/var/task + /opt/python. Heavy libraries are imported lazily on first use, so their cost is listed
separately. Sizes come from .aws-sam/build when it exists (run `make build` first).

    .venv/bin/python benchmarks/cold_start.py [--runs 5]

Measured with this machine's Python 3.11 (Lambda runs 3.13 on arm64: absolute numbers differ there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "opsloop"


def timed_import(paths: list[Path], stmt: str, runs: int) -> float:
    code = (f"import sys,time; sys.path[:0]={[str(p) for p in paths]!r}; t=time.perf_counter(); {stmt}; "
            "print(time.perf_counter()-t)")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True, env=env, check=True)
        samples.append(float(out.stdout.strip()) * 1000)
    return statistics.median(samples)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    build = ROOT / ".aws-sam" / "build"
    print(f"Handler import time (median of {args.runs} fresh interpreters, ms) and package size\n")
    print("| function | handler import (ms) | package (bytes) |\n|---|---|---|")
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        ms = timed_import([app.parent, LAYER], "import app", args.runs)
        logical = "".join(w.capitalize() for w in app.parent.name.split("_")) + "Function"
        print(f"| {app.parent.name} | {ms:.0f} | {du(build / logical) or 'n/a'} |")
    print(f"\nLayer unzipped: {du(build / 'OpsloopLayer') or 'n/a (run make build)'} bytes\n")
    print("| imported on first use | ms |\n|---|---|")
    for stmt in ("import boto3", "from aws_lambda_powertools import Logger", "from slack_sdk import WebClient",
                 "from atlassian import ConfluenceServer"):
        print(f"| `{stmt}` | {timed_import([LAYER], stmt, args.runs):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
