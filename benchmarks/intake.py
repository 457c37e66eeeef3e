#!/usr/bin/env python3
"""Intake throughput: the intake handler on realistic CloudWatch Logs subscription batches.

Each batch is decoded (base64 + gzip), redacted, fingerprinted, grouped and recorded in DynamoDB
(moto, in-process) exactly as IntakeFunction does it. Prints lines/s and per-batch latency as a table,
plus the share of time in each stage (so the hot spots are visible).

    .venv/bin/python benchmarks/intake.py [--batches 200] [--lines 100] [--templates 5]

Data: synthetic lines in the shape of real application logs (Java stack traces, JSON structured logs,
Python tracebacks, plain lines with ids, IPs and durations), made here; no external data is read.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "opsloop"))
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")


def line(rng: random.Random, kind: int) -> str:
    n = rng.randrange(10**6)
    if kind == 0:
        return (f"2026-11-25T09:14:{n % 60:02d}.112Z ERROR [http-nio-8080-exec-{n % 50}] c.e.orders.OrderRepository - "
                f"Failed to load order {n}\njava.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not "
                f"available, request timed out after {30000 + n % 10}ms.\n\tat com.zaxxer.hikari.pool.HikariPool."
                "createTimeoutException(HikariPool.java:696)\n\tat com.example.orders.OrderRepository.findById("
                "OrderRepository.java:57)")
    if kind == 1:
        return json.dumps({"level": "error", "time": f"2026-11-25T09:{n % 60:02d}:00Z", "msg":
                           f"payment provider returned 503 for charge ch_{n:x} after {n % 900} ms",
                           "request_id": f"{n:032x}", "client_ip": f"10.{n % 255}.{n % 7}.{n % 200}"})
    if kind == 2:
        return (f"Traceback (most recent call last):\n  File \"/var/task/app.py\", line {40 + n % 3}, in handler\n"
                f"    item = table.get_item(Key={{'pk': '{n}'}})['Item']\nKeyError: 'Item'")
    if kind == 3:
        return f"[ERROR] {time.time():.3f} upstream connect error or disconnect/reset before headers. host=10.0.{n % 255}.7:8443 reset reason: connection failure"
    return f"ERROR Task timed out after {n % 900 + 1}.{n % 100:02d} seconds RequestId: {n:08x}-aaaa-bbbb-cccc-{n:012x}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--lines", type=int, default=100, help="lines per batch")
    ap.add_argument("--templates", type=int, default=5, help="distinct error kinds in the stream (1-5)")
    ap.add_argument("--ddb-latency-ms", type=float, default=4.0,
                    help="added to every DynamoDB call to stand for the network round trip moto does not have")
    args = ap.parse_args()

    import boto3
    from moto import mock_aws
    from opsloop.config import load_settings
    from opsloop.eventbus import EventBridgePublisher
    from opsloop.fingerprint import fingerprint_rows
    from opsloop.incidents import IncidentStore
    from opsloop.intake import Intake
    from opsloop.local.runner import encode_subscription
    from opsloop.logparse import decode_subscription
    from opsloop.redact import redact_texts

    rng = random.Random(7)
    batches = [encode_subscription(f"/ecs/service-{b % 3}", [line(rng, rng.randrange(args.templates))
                                                              for _ in range(args.lines)])["awslogs"]["data"]
               for b in range(args.batches)]
    total = args.batches * args.lines

    # Stage costs without AWS, to find the hot spots.
    t0 = time.perf_counter()
    decoded = [decode_subscription(b) for b in batches]
    t1 = time.perf_counter()
    redacted = [redact_texts([l.message for l in d.lines]) for d in decoded]  # per batch, as intake does
    t2 = time.perf_counter()
    for texts in redacted:
        fingerprint_rows(texts)
    t3 = time.perf_counter()

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        events = boto3.client("events", region_name="us-east-1")

        class SlowDb:  # the same client, plus a fixed round trip per call
            def __getattr__(self, name):
                call = getattr(ddb, name)

                def slow(**kw):
                    time.sleep(args.ddb_latency_ms / 1000)
                    return call(**kw)
                return slow

        runs = {}
        for label, parallel in (("sequential", 1), ("parallel", 8)):
            ddb.delete_table(TableName="t") if "t" in ddb.list_tables()["TableNames"] else None
            ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")
            intake = Intake(load_settings({}), IncidentStore(SlowDb(), "t"), EventBridgePublisher(events, "default"))
            intake.parallel_groups = parallel
            latencies = []
            start = time.perf_counter()
            for b in batches:
                s = time.perf_counter()
                intake.handle_subscription(b)
                latencies.append((time.perf_counter() - s) * 1000)
            runs[label] = (time.perf_counter() - start, sorted(latencies))

    print(f"Intake on {args.batches} batches × {args.lines} lines ({total} lines, {args.templates} error kinds), "
          f"DynamoDB and EventBridge in moto, +{args.ddb_latency_ms:g} ms per DynamoDB call\n")
    print("| measure | value |\n|---|---|")
    for label, (wall, lat) in runs.items():
        print(f"| end-to-end lines/s, fingerprints recorded {label} | {total / wall:,.0f} |")
        print(f"| per-batch latency p50 / p95 / max (ms), {label} | {statistics.median(lat):.1f} / "
              f"{lat[int(len(lat) * .95) - 1]:.1f} / {lat[-1]:.1f} |")
    wall = runs["parallel"][0]
    print(f"| decode (base64+gzip+JSON) lines/s | {total / (t1 - t0):,.0f} |")
    print(f"| redact lines/s | {total / (t2 - t1):,.0f} |")
    print(f"| fingerprint lines/s | {total / (t3 - t2):,.0f} |")
    stage = (t3 - t0)
    print(f"| share of parallel wall time in decode+redact+fingerprint | {stage / wall:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
