"""Cost per incident, measured by the offline run and priced from opsloop.cost's list-price table.

Three scenarios, each a real `opsloop local run` (intake, the real state machine in moto, every handler
in-process) into a fresh out dir:

- one incident: the bundled sample (3 lines of one error);
- storm: 10,000 lines of the same error in one CloudWatch Logs delivery (one incident, counted);
- recurrence: the bundled sample run twice into one out dir; the second run is priced.

Prints a Markdown table of the measured usage and its cost, with each scenario's total as a ratio to the
one-incident run of the same invocation, then the full priced rows of the one-incident run.
Usage: .venv/bin/python benchmarks/cost.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "opsloop"))

from opsloop.cost import markdown  # noqa: E402
from opsloop.local.runner import RunOptions, encode_subscription, run  # noqa: E402

STORM_LINE = ("2026-11-25T09:14:{s:02d}.{ms:03d}Z ERROR [http-nio-8080-exec-{t}] c.e.orders.OrderRepository - "
              "Failed to load order {order}\njava.sql.SQLTransientConnectionException: HikariPool-1 - Connection "
              "is not available, request timed out after {wait}ms.\n\tat com.zaxxer.hikari.pool.HikariPool."
              "createTimeoutException(HikariPool.java:696)")


def _quiet(_: str) -> None:
    return None


REAL_STDOUT = sys.stdout


def _scenario(name: str, work: Path) -> dict:
    try:
        return _measure(name, work)
    finally:  # handlers' stdout is redirected to the run's log from moto's threads: take the terminal back
        sys.stdout = REAL_STDOUT


def _measure(name: str, work: Path) -> dict:
    out = work / name
    if name == "recurrence":
        run(RunOptions(out=out), say=_quiet)
        result = run(RunOptions(out=out), say=_quiet)
    elif name == "storm":
        lines = [STORM_LINE.format(s=i % 60, ms=i % 1000, t=i % 16, order=80000 + i, wait=30000 + i % 7)
                 for i in range(10_000)]
        event = work / "storm.json"
        import json

        event.write_text(json.dumps(encode_subscription("/ecs/orders-api", lines)), encoding="utf-8")
        result = run(RunOptions(out=out, event=event, thread=ROOT / "events" / "slack_thread.json"), say=_quiet)
    else:
        result = run(RunOptions(out=out), say=_quiet)
    import json

    execution = json.loads((out / "execution.json").read_text(encoding="utf-8"))
    if result.status != "SUCCEEDED" or "cost" not in execution:
        raise SystemExit(f"{name}: the run ended {result.status}")
    [meta] = (out / "knowledge").glob("*.metadata.json")
    counted = json.loads(meta.read_text(encoding="utf-8"))["metadataAttributes"]["incident_occurrences"]
    return {**execution["cost"], "lines_counted": counted}


def main() -> None:
    import logging

    logging.raiseExceptions = False  # a handler's logger may outlive the log file of the run that made it
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="opsloop-cost-") as tmp:
        costs = {name: _scenario(name, Path(tmp)) for name in ("one incident", "storm", "recurrence")}
    base = costs["one incident"]["total_usd"]
    print("| scenario | lines counted | transitions | Lambda requests | Lambda GB-s | DynamoDB units | EventBridge events | "
          "S3 requests | model tokens | total (USD) | × one incident |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, c in costs.items():
        q = {r["item"]: r["quantity"] for r in c["rows"]}
        ddb = q["DynamoDB write request units"] + q["DynamoDB read request units"]
        s3 = q["S3 PUT/COPY/POST/LIST requests"] + q["S3 GET and other requests"]
        tokens = sum(v for k, v in q.items() if k.startswith("Model "))
        print(f"| {name} | {c['lines_counted']} | {q['Step Functions state transitions']:g} | {q['Lambda requests']:g} | "
              f"{c['lambda_gb_seconds']:.3f} | {ddb:g} | {q['EventBridge events']:g} | {s3:g} | {tokens:g} | "
              f"{c['total_usd']:.6f} | {c['total_usd'] / base:.2f} |")
    print()
    print(f"One incident, every priced row ({costs['one incident']['region']}, list prices of "
          f"{costs['one incident']['prices_as_of']}; Lambda durations measured in-process on this machine):")
    print()
    print(markdown(costs["one incident"]))
    print(f"\n({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
