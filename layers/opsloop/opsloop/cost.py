"""What one incident costs in AWS charges: the usage the offline run measured, priced from one table.

Prices are **on-demand list prices for us-east-1 (N. Virginia) as published on each service's AWS pricing
page in June 2025**, without the free tier, in USD. Update ``PRICES`` (and ``PRICES_AS_OF``) when AWS
changes them; nothing else in opsloop holds a price. Slack, Confluence and CloudWatch Logs ingestion of
your own logs are not AWS charges of opsloop and are not counted; neither are the Knowledge Base's vector
store and the deployed resources' fixed monthly costs (alarms, dashboard, secret): this is the marginal
cost of one more incident.

Usage, and how it is measured:

- Step Functions state transitions: the ``…StateEntered`` events of the execution's history (Standard
  workflows bill one transition per state entered).
- Lambda: one request per invocation, and GB-seconds = the function's ``MemorySize`` from template.yaml
  (function value, else ``Globals``) × its duration rounded up to the millisecond, per invocation.
- DynamoDB, EventBridge, S3, Secrets Manager: the API calls the functions made, counted per operation. DynamoDB on demand
  bills request units; each call is priced as one unit (items are under 1 KB; a Query or Scan over more
  would cost more), batch calls as one unit per item sent.
- Model tokens in and out: from the analysis budget and the summarizer. The local analyst and
  summarizer call no model, so the figure is 0 and says why.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

PRICES_REGION = "us-east-1"
PRICES_AS_OF = "2025-06"

PRICES: dict[str, float] = {
    # https://aws.amazon.com/step-functions/pricing/ — Standard workflows
    "stepfunctions_per_transition": 0.025 / 1000,
    # https://aws.amazon.com/lambda/pricing/
    "lambda_per_request": 0.20 / 1_000_000,
    "lambda_per_gb_second_arm64": 0.0000133334,
    "lambda_per_gb_second_x86_64": 0.0000166667,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/
    "dynamodb_per_write_unit": 0.625 / 1_000_000,
    "dynamodb_per_read_unit": 0.125 / 1_000_000,
    # https://aws.amazon.com/eventbridge/pricing/ — custom events, per 64 KB chunk
    "eventbridge_per_event": 1.00 / 1_000_000,
    # https://aws.amazon.com/s3/pricing/ — S3 Standard requests
    "s3_per_write_request": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_per_read_request": 0.0004 / 1000,  # GET, HEAD and all other requests
    # https://aws.amazon.com/secrets-manager/pricing/ — API calls (the secret's monthly fee is fixed)
    "secretsmanager_per_call": 0.05 / 10_000,
}

# https://aws.amazon.com/bedrock/pricing/ — on-demand, per 1,000 tokens (input, output).
MODEL_PRICES: dict[str, tuple[float, float]] = {
    "amazon.nova-micro-v1:0": (0.000035, 0.00014),
    "amazon.nova-lite-v1:0": (0.00006, 0.00024),
    "amazon.nova-pro-v1:0": (0.0008, 0.0032),
    "anthropic.claude-3-haiku-20240307-v1:0": (0.00025, 0.00125),
    "anthropic.claude-3-5-haiku-20241022-v1:0": (0.0008, 0.004),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": (0.003, 0.015),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": (0.003, 0.015),
    "anthropic.claude-sonnet-4-20250514-v1:0": (0.003, 0.015),
}
DEFAULT_MODEL = "amazon.nova-pro-v1:0"  # template.yaml's ModelId default

DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
S3_WRITES = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "CreateMultipartUpload",
             "UploadPart", "CompleteMultipartUpload", "ListObjectVersions"}


def model_prices(model_id: str) -> tuple[float, float] | None:
    """(input, output) USD per 1,000 tokens; a cross-Region profile (``us.…``) is priced as its model."""
    if model_id in MODEL_PRICES:
        return MODEL_PRICES[model_id]
    head, _, rest = model_id.partition(".")
    return MODEL_PRICES.get(rest) if head in ("us", "eu", "apac", "global", "jp", "au", "ca", "us-gov") else None


@dataclass
class Usage:
    """What one run used. Fill it while it runs; :func:`price` turns it into a cost table."""

    transitions: int = 0
    invocations: list[tuple[str, float]] = field(default_factory=list)  # (function, duration ms)
    memory_mb: dict[str, int] = field(default_factory=dict)
    architecture: str = "arm64"
    calls: Counter = field(default_factory=Counter)  # (service, operation) → units
    input_tokens: int = 0
    output_tokens: int = 0
    model_id: str = ""
    token_note: str = ""

    def count_call(self, service: str, operation: str, params: Mapping[str, Any] | None = None) -> None:
        units = 1
        if params and operation == "BatchWriteItem":
            units = sum(len(v) for v in (params.get("RequestItems") or {}).values()) or 1
        elif params and operation == "PutEvents":
            units = len(params.get("Entries") or []) or 1
        self.calls[(service, operation)] += units


def _ops(calls: Mapping[tuple[str, str], int], service: str, names: Iterable[str] | None = None,
         exclude: Iterable[str] = ()) -> int:
    chosen = set(names) if names is not None else None
    skip = set(exclude)
    return sum(n for (svc, op), n in calls.items()
               if svc == service and (chosen is None or op in chosen) and op not in skip)


def price(usage: Usage) -> dict[str, Any]:
    """The cost table: one row per priced item, its usage, its unit price and its cost, and the total."""
    p = PRICES
    rows: list[dict[str, Any]] = []

    def row(item: str, quantity: float, unit: str, unit_price: float, note: str = "") -> None:
        rows.append({"item": item, "quantity": round(quantity, 6), "unit": unit, "unit_price_usd": unit_price,
                     "cost_usd": quantity * unit_price, **({"note": note} if note else {})})

    row("Step Functions state transitions", usage.transitions, "transition", p["stepfunctions_per_transition"])
    row("Lambda requests", len(usage.invocations), "request", p["lambda_per_request"])
    gb_s: dict[str, float] = {}
    for name, ms in usage.invocations:
        memory = usage.memory_mb.get(name, 128)
        gb_s[name] = gb_s.get(name, 0.0) + memory / 1024 * math.ceil(max(ms, 0.0)) / 1000
    per_gb_s = p[f"lambda_per_gb_second_{usage.architecture}"] if f"lambda_per_gb_second_{usage.architecture}" in p \
        else p["lambda_per_gb_second_x86_64"]
    for name in sorted(gb_s):
        row(f"Lambda {name} ({usage.memory_mb.get(name, 128)} MB)", gb_s[name], "GB-s", per_gb_s)
    writes = _ops(usage.calls, "dynamodb", DYNAMODB_WRITES)
    reads = _ops(usage.calls, "dynamodb", DYNAMODB_READS)
    row("DynamoDB write request units", writes, "WRU", p["dynamodb_per_write_unit"])
    row("DynamoDB read request units", reads, "RRU", p["dynamodb_per_read_unit"])
    row("EventBridge events", _ops(usage.calls, "events", {"PutEvents"}), "event", p["eventbridge_per_event"])
    s3_writes = _ops(usage.calls, "s3", S3_WRITES)
    row("S3 PUT/COPY/POST/LIST requests", s3_writes, "request", p["s3_per_write_request"])
    row("S3 GET and other requests", _ops(usage.calls, "s3", exclude=S3_WRITES), "request", p["s3_per_read_request"])
    row("Secrets Manager API calls", _ops(usage.calls, "secretsmanager"), "call", p["secretsmanager_per_call"])
    model = usage.model_id or DEFAULT_MODEL
    prices = model_prices(model)
    note = usage.token_note or ("" if prices else f"no list price for {model} in opsloop.cost.MODEL_PRICES")
    row(f"Model input tokens ({model})", usage.input_tokens, "token", (prices[0] if prices else 0.0) / 1000, note)
    row(f"Model output tokens ({model})", usage.output_tokens, "token", (prices[1] if prices else 0.0) / 1000, note)
    total = sum(r["cost_usd"] for r in rows)
    return {"region": PRICES_REGION, "prices_as_of": PRICES_AS_OF, "currency": "USD", "rows": rows,
            "total_usd": total, "lambda_gb_seconds": round(sum(gb_s.values()), 6),
            "calls": {f"{svc}.{op}": n for (svc, op), n in sorted(usage.calls.items())}}


def markdown(table: Mapping[str, Any]) -> str:
    lines = ["| item | quantity | unit price (USD) | cost (USD) |", "|---|---:|---:|---:|"]
    for r in table["rows"]:
        lines.append(f"| {r['item']} | {r['quantity']:g} {r['unit']} | {r['unit_price_usd']:.10g} | "
                     f"{r['cost_usd']:.8f} |")
    lines.append(f"| **total** ({table['region']}, list prices of {table['prices_as_of']}) | | | "
                 f"**{table['total_usd']:.8f}** |")
    return "\n".join(lines)


__all__ = ["MODEL_PRICES", "PRICES", "PRICES_AS_OF", "PRICES_REGION", "Usage", "markdown", "model_prices", "price"]
