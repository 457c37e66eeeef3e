"""The cost of an incident: usage priced from the one price table, summed."""

from __future__ import annotations

import math

import pytest

from opsloop.cost import PRICES, Usage, markdown, model_prices, price


def test_each_kind_of_usage_is_priced_from_the_table_and_summed() -> None:
    u = Usage(transitions=13, architecture="arm64", memory_mb={"AnalyzeFunction": 512, "IntakeFunction": 1024})
    u.invocations = [("AnalyzeFunction", 100.2), ("AnalyzeFunction", 0.4), ("IntakeFunction", 1999.0)]
    for op in ("PutItem", "UpdateItem", "GetItem", "Query"):
        u.count_call("dynamodb", op, {})
    u.count_call("dynamodb", "BatchWriteItem", {"RequestItems": {"t": [{}, {}, {}]}})
    u.count_call("events", "PutEvents", {"Entries": [{}, {}]})
    u.count_call("s3", "PutObject", {})
    u.count_call("s3", "GetObject", {})
    u.input_tokens, u.output_tokens, u.model_id = 4000, 500, "us.amazon.nova-pro-v1:0"
    t = price(u)
    rows = {r["item"]: r for r in t["rows"]}
    assert rows["Step Functions state transitions"]["cost_usd"] == pytest.approx(13 * 0.025 / 1000)
    assert rows["Lambda requests"]["quantity"] == 3
    # 512 MB × (101 ms + 1 ms) rounded up per invocation; 1 GB × 1999 ms.
    assert rows["Lambda AnalyzeFunction (512 MB)"]["quantity"] == pytest.approx(0.5 * 0.102)
    assert rows["Lambda IntakeFunction (1024 MB)"]["quantity"] == pytest.approx(1.999)
    assert rows["DynamoDB write request units"]["quantity"] == 2 + 3
    assert rows["DynamoDB read request units"]["quantity"] == 2
    assert rows["EventBridge events"]["quantity"] == 2
    assert rows["S3 PUT/COPY/POST/LIST requests"]["quantity"] == 1 == rows["S3 GET and other requests"]["quantity"]
    assert rows["Model input tokens (us.amazon.nova-pro-v1:0)"]["cost_usd"] == pytest.approx(4 * 0.0008)
    assert rows["Model output tokens (us.amazon.nova-pro-v1:0)"]["cost_usd"] == pytest.approx(0.5 * 0.0032)
    assert t["total_usd"] == pytest.approx(math.fsum(r["cost_usd"] for r in t["rows"]))
    assert t["region"] == "us-east-1" and t["prices_as_of"]
    assert "**total**" in markdown(t)


def test_x86_functions_cost_more_per_gb_second_and_unknown_models_say_so() -> None:
    arm = price(Usage(invocations=[("F", 1000.0)], memory_mb={"F": 1024}, architecture="arm64"))
    x86 = price(Usage(invocations=[("F", 1000.0)], memory_mb={"F": 1024}, architecture="x86_64"))
    assert x86["total_usd"] - arm["total_usd"] == pytest.approx(
        PRICES["lambda_per_gb_second_x86_64"] - PRICES["lambda_per_gb_second_arm64"])
    assert model_prices("acme.unknown-v1") is None
    unknown = price(Usage(input_tokens=10, model_id="acme.unknown-v1"))
    assert "no list price" in next(r for r in unknown["rows"] if r["item"].startswith("Model input"))["note"]
