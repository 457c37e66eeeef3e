#!/usr/bin/env python3
"""Estate benchmark: one minute of a simulated estate through `Intake`, with several concurrent containers.

    .venv/bin/python benchmarks/estate.py [--groups 200] [--templates 20] [--storm 50000] [--containers 8]

Every log group of the estate (spread over --accounts accounts) sends a trickle of error lines from
--templates error kinds; one group storms --storm lines of one error within the minute, in batches of
--storm-batch lines (CloudWatch Logs delivers a storm as many batches). The batches are shuffled and
handed to --containers threads, each with its own `Intake` (as Lambda containers are), on one moto
DynamoDB table with +--ddb-latency-ms per call (the network round trip moto does not have). Slack is
counted as if every opened incident were posted at once, so count refreshes are exercised.

Prints a Markdown table: incidents opened vs the distinct (account, group, template) truth, executions
started ("Incident Opened" events), Slack calls, DynamoDB calls per line, p50/p99 batch latency, lines
counted vs sent, and the non-model cost of that minute at the list prices below (us-east-1, named here).
The storm is also run at smaller sizes in the same run, so the table shows DynamoDB calls per line falling
as the storm grows. Data is synthetic, made here.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "opsloop"))
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")

# List prices, us-east-1 (USD), as published by AWS for these services:
LAMBDA_GB_SECOND_ARM = 0.0000133334  # Lambda arm64 duration, per GB-second
LAMBDA_REQUEST = 0.20 / 1e6  # per request
SFN_TRANSITION = 0.025 / 1000  # Step Functions Standard, per state transition
SFN_TRANSITIONS_PER_EXECUTION = 14  # the incident state machine's happy path (statemachine/incident.asl.json)
DDB_WRITE_REQUEST = 0.625 / 1e6  # DynamoDB on-demand, per write request unit
DDB_READ_REQUEST = 0.125 / 1e6  # DynamoDB on-demand, per read request unit
EVENTBRIDGE_EVENT = 1.00 / 1e6  # EventBridge custom events, per event
LAMBDA_MEMORY_GB = 0.5  # IntakeFunction MemorySize 512

TEMPLATES = [
    "ERROR OrderRepository - Failed to load order {n}: java.sql.SQLTransientConnectionException: HikariPool-1 - "
    "Connection is not available, request timed out after {ms}ms.",
    "ERROR payment provider returned 503 for charge ch_{hex} after {ms} ms",
    "Traceback (most recent call last):\n  File \"/var/task/app.py\", line 41, in handler\nKeyError: 'Item{k}'",
    "[ERROR] upstream connect error or disconnect/reset before headers. host=10.0.{b}.7:8443 kind {k}",
    "ERROR Task timed out after {s}.{c:02d} seconds RequestId: {hex}-aaaa kind {k}",
]


def message(t: int, rng: random.Random) -> str:
    n = rng.randrange(10**6)
    base = TEMPLATES[t % len(TEMPLATES)]
    # each template id is its own static word so 20 templates are 20 distinct errors
    return base.format(n=n, ms=30000 + n % 10, hex=f"{n:016x}", k=f"variant{t}", b=n % 255, s=n % 900, c=n % 100) + \
        f" in module{chr(97 + t % 26)}{'x' * (t // 26)}"


def payload(owner: str, group: str, lines: list[str], t0: int) -> str:
    doc = {"messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group, "logStream": "app/1",
           "subscriptionFilters": ["opsloop-errors"],
           "logEvents": [{"id": str(i), "timestamp": t0 + i, "message": m} for i, m in enumerate(lines)]}
    return base64.b64encode(gzip.compress(json.dumps(doc).encode(), compresslevel=1)).decode()


def build(args: argparse.Namespace, storm: int,
          rng: random.Random) -> tuple[list[tuple[bool, str]], set[tuple[str, str, int]], int]:
    accounts = [f"{100000000000 + i * 111111111:012d}" for i in range(args.accounts)]
    batches, truth, total = [], set(), 0
    t0 = 1_790_000_000_000
    for g in range(args.groups):
        owner, group = accounts[g % len(accounts)], f"/ecs/service-{g:03d}"
        if g == 0:  # the storm: one error, many batches
            for start in range(0, storm, args.storm_batch):
                n = min(args.storm_batch, storm - start)
                batches.append((True, payload(owner, group, [message(0, rng) for _ in range(n)], t0 + start)))
            truth.add((owner, group, 0))
            total += storm
            continue
        lines_, kinds = [], rng.sample(range(args.templates), k=min(3, args.templates))
        for _ in range(args.trickle):
            t = rng.choice(kinds)
            lines_.append(message(t, rng))
            truth.add((owner, group, t))
        batches.append((False, payload(owner, group, lines_, t0)))
        total += len(lines_)
    rng.shuffle(batches)
    return batches, truth, total


def run(args: argparse.Namespace, storm: int) -> dict[str, Any]:
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models import DynamoDBBackend
    from opsloop.config import load_settings
    from opsloop.eventbus import EventBridgePublisher
    from opsloop.incidents import IncidentStore
    from opsloop.intake import Intake

    # DynamoDB applies each conditional write atomically; moto does not under threads: one lock per call.
    lock = threading.RLock()
    for name in ("update_item", "put_item", "delete_item", "get_item"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_locked", False):
            continue

        def locked(self: Any, *a: Any, __o: Any = original, **kw: Any) -> Any:
            with lock:
                return __o(self, *a, **kw)
        locked._locked = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)

    rng = random.Random(7)
    batches, truth, total = build(args, storm, rng)
    calls: dict[str, int] = {}
    storm_calls = {"n": 0}
    local = threading.local()  # which kind of batch this thread is handling, and simulated writes
    count_lock = threading.Lock()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        events = boto3.client("events", region_name="us-east-1")
        events.create_event_bus(Name="bus")
        put_events = {"n": 0}

        class SlowDb:
            def __getattr__(self, name: str) -> Any:
                call = getattr(ddb, name)

                def slow(**kw: Any) -> Any:
                    if not getattr(local, "simulated", False):  # NotifySlack's write is not intake's
                        with count_lock:
                            calls[name] = calls.get(name, 0) + 1
                            storm_calls["n"] += int(getattr(local, "storm", False))
                    time.sleep(args.ddb_latency_ms / 1000)
                    return call(**kw)
                return slow

        class Events:
            def put_events(self, **kw: Any) -> Any:
                with count_lock:
                    put_events["n"] += len(kw["Entries"])
                return events.put_events(**kw)

        slack = {"updates": 0}

        class Notifier:
            def update_occurrences(self, *a: Any) -> None:
                with count_lock:
                    slack["updates"] += 1

        class PostedStore(IncidentStore):
            def create_incident(self, incident: dict[str, Any], *, now: float) -> None:
                super().create_incident(incident, now=now)
                # as if NotifySlack had posted at once: later batches refresh the count
                local.simulated = True
                try:
                    self._simulate_post(incident)
                finally:
                    local.simulated = False

            def _simulate_post(self, incident: dict[str, Any]) -> None:
                self.update_incident(incident["incident_id"], slack={"channel": "C1", "ts": "1.0"},
                                     classification={"category": "code", "severity": "high"},
                                     analysis={"summary": "s", "root_cause": "r"})

        settings = load_settings({"OPSLOOP_EVENT_BUS_NAME": "bus", "OPSLOOP_SLACK_UPDATE_SECONDS": "60"})
        clock_start = time.time()
        containers = [Intake(settings, PostedStore(SlowDb(), "t"), EventBridgePublisher(Events(), settings.event_bus_name), notifier=Notifier,
                             clock=lambda: clock_start + (time.time() - clock_start))
                      for _ in range(args.containers)]
        latencies: list[float] = []
        opened: list[str] = []

        def work(i: int) -> None:
            intake = containers[i % args.containers]
            for is_storm, b in batches[i::args.containers]:
                local.storm = is_storm
                s = time.perf_counter()
                r = intake.handle_subscription(b, region="us-east-1")
                with count_lock:
                    latencies.append((time.perf_counter() - s) * 1000)
                    opened.extend(r.opened)

        wall0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.containers) as pool:
            list(pool.map(work, range(args.containers)))
        wall = time.perf_counter() - wall0
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName="t"):
            items += page["Items"]
    counted = sum(int(i["count"]["N"]) for i in items if i["pk"]["S"].startswith("FP#"))
    lat = sorted(latencies)
    writes = sum(v for k, v in calls.items() if k in ("update_item", "put_item"))
    reads = sum(v for k, v in calls.items() if k in ("get_item", "query", "scan"))
    # Slack calls: one post per execution (the state machine posts once) plus the count refreshes.
    slack_calls = put_events["n"] + slack["updates"]
    gb_s = sum(lat) / 1000 * LAMBDA_MEMORY_GB
    cost = {
        "Lambda": gb_s * LAMBDA_GB_SECOND_ARM + len(batches) * LAMBDA_REQUEST,
        "Step Functions": put_events["n"] * SFN_TRANSITIONS_PER_EXECUTION * SFN_TRANSITION,
        "DynamoDB": writes * DDB_WRITE_REQUEST + reads * DDB_READ_REQUEST,
        "EventBridge": put_events["n"] * EVENTBRIDGE_EVENT,
    }
    return {"storm": storm, "batches": len(batches), "lines": total, "truth": len(truth), "opened": len(set(opened)),
            "executions": put_events["n"], "slack": slack_calls, "ddb": sum(calls.values()), "writes": writes,
            "reads": reads, "p50": statistics.median(lat), "p99": lat[max(0, int(len(lat) * .99) - 1)],
            "counted": counted, "gb_s": gb_s, "cost": cost, "wall": wall, "storm_ddb": storm_calls["n"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--accounts", type=int, default=4)
    ap.add_argument("--templates", type=int, default=20)
    ap.add_argument("--trickle", type=int, default=5, help="lines per quiet log group in the minute")
    ap.add_argument("--storm", type=int, default=50_000, help="lines of the storming group in the minute")
    ap.add_argument("--storm-batch", type=int, default=500, help="lines per delivered batch of the storm")
    ap.add_argument("--containers", type=int, default=8)
    ap.add_argument("--ddb-latency-ms", type=float, default=4.0)
    args = ap.parse_args()

    sizes = sorted({max(args.storm_batch, args.storm // 10), max(args.storm_batch, args.storm // 2), args.storm})
    runs = [run(args, s) for s in sizes]
    print(f"Estate minute: {args.groups} log groups over {args.accounts} accounts, {args.templates} error kinds, "
          f"{args.trickle} lines per quiet group, one group storming (batches of {args.storm_batch}); "
          f"{args.containers} concurrent containers; moto +{args.ddb_latency_ms:g} ms per DynamoDB call\n")
    head = "| measure | " + " | ".join(f"storm {r['storm']:,}" for r in runs) + " |"
    print(head + "\n|---|" + "---|" * len(runs))

    def row(label: str, fn: Any) -> None:
        print(f"| {label} | " + " | ".join(fn(r) for r in runs) + " |")

    row("lines sent / counted on incidents", lambda r: f"{r['lines']:,} / {r['counted']:,}")
    row("batches", lambda r: f"{r['batches']:,}")
    row("incidents opened / distinct (account, group, template)", lambda r: f"{r['opened']} / {r['truth']}")
    row("executions started (Incident Opened events)", lambda r: f"{r['executions']}")
    row("Slack calls (posts + count refreshes)", lambda r: f"{r['slack']}")
    row("DynamoDB calls (writes / reads)", lambda r: f"{r['ddb']:,} ({r['writes']:,} / {r['reads']:,})")
    row("DynamoDB calls per line", lambda r: f"{r['ddb'] / r['lines']:.4f}")
    row("DynamoDB calls per storm line (the storming group's batches only)",
        lambda r: f"{r['storm_ddb'] / r['storm']:.4f} ({r['storm_ddb']:,} calls)")
    row("batch latency p50 / p99 (ms)", lambda r: f"{r['p50']:.1f} / {r['p99']:.1f}")
    row("Lambda GB-s (512 MB × batch time)", lambda r: f"{r['gb_s']:.2f}")
    for k in ("Lambda", "Step Functions", "DynamoDB", "EventBridge"):
        row(f"cost of the minute, {k} (USD)", lambda r, k=k: f"{r['cost'][k]:.6f}")
    row("cost of the minute, total non-model (USD)", lambda r: f"{sum(r['cost'].values()):.6f}")
    ok = all(r["counted"] == r["lines"] and r["opened"] == r["truth"] == r["executions"] for r in runs)
    print(f"\nEvery line counted exactly once and one execution per true incident: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
