"""What a reader of a recurrence's report sees: one ordered timeline with real times, and counts that agree."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from opsloop.local.runner import RunOptions, run


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def recurrence(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("fidelity") / "out"
    began = time.time()
    first = run(RunOptions(out=out), say=lambda _: None)
    first_execution = json.loads((out / "execution.json").read_text(encoding="utf-8"))
    lines: list[str] = []
    second = run(RunOptions(out=out), say=lines.append)
    ended = time.time()
    assert first.status == second.status == "SUCCEEDED"
    return {"out": out, "began": began, "ended": ended, "first": first_execution,
            "second": json.loads((out / "execution.json").read_text(encoding="utf-8")), "lines": lines}


def _report(out: Path) -> tuple[str, dict]:
    [md] = sorted((out / "knowledge").glob("*.md"))
    meta = json.loads(md.with_name(md.name + ".metadata.json").read_text(encoding="utf-8"))["metadataAttributes"]
    return md.read_text(encoding="utf-8"), meta


def test_the_stored_timeline_is_ordered_with_real_times_and_each_event_once(recurrence: dict) -> None:
    md, _ = _report(recurrence["out"])
    section = md.split("## Timeline\n", 1)[1].split("\n## ", 1)[0].split("\nResolved by", 1)[0]
    entries = [re.match(r"- (\S+): (.*)", line).groups() for line in section.strip().splitlines()]
    times = [_iso(at) for at, _ in entries]
    assert times == sorted(times)
    assert len({(at, text) for at, text in entries}) == len(entries)
    assert [text for _, text in entries].count("Error last seen") == 1
    thread = [(t, text) for t, (_, text) in zip(times, entries) if re.match(r"U0[A-Z0-9]+: ", text)]
    # Two runs' conversations, each message at the time it was posted (seconds precision), not one shared time.
    assert len(thread) >= 8 and len({t for t, _ in thread}) >= 2
    assert all(recurrence["began"] - 1 <= t <= recurrence["ended"] + 1 for t, _ in thread)
    first_seen = min(t for t, (_, text) in zip(times, entries) if text == "Error first seen")
    assert all(t >= first_seen for t, _ in thread)


def test_counts_agree_in_the_report_the_metadata_and_the_confluence_page(recurrence: dict) -> None:
    out = recurrence["out"]
    md, meta = _report(out)
    second_id = recurrence["second"]["incident_id"]
    this = int(meta["incident_occurrences"])
    total = int(meta["occurrences"])
    assert meta["incident_count"] == 2 and total > this >= 1
    counts = f"{this} occurrence(s) in this incident, {total} in total across 2 incidents"
    assert counts in md
    symptoms = md.split("## Symptoms\n", 1)[1].split("\n", 1)[0]
    assert f"was logged {this} time(s) in this incident" in symptoms
    [page] = sorted((out / "confluence" / "pages").glob("*.html"))
    body = page.read_text(encoding="utf-8")
    assert f"<th>Occurrences</th><td>{counts}</td>" in body
    assert f"logged {this} time(s) in this incident" in body
    assert second_id in body and recurrence["first"]["incident_id"] in body
    # No other number of occurrences appears unlabelled anywhere on the page.
    assert set(re.findall(r"(\d+) occurrence\(s\)", body)) == {str(this)}


def test_the_recurrence_reports_its_cost_from_what_it_measured(recurrence: dict) -> None:
    execution = recurrence["second"]
    cost = execution["cost"]
    rows = {r["item"]: r for r in cost["rows"]}
    assert cost["region"] == "us-east-1" and cost["currency"] == "USD"
    assert rows["Step Functions state transitions"]["quantity"] == len(execution["states"])
    lambda_rows = [r for name, r in rows.items() if name.startswith("Lambda ") and name != "Lambda requests"]
    assert {r["item"].split()[1] for r in lambda_rows} >= {"IntakeFunction", "AnalyzeFunction", "SummarizeFunction"}
    assert all(r["quantity"] > 0 and "(512 MB)" in r["item"] for r in lambda_rows)  # template.yaml's Globals
    assert rows["Lambda requests"]["quantity"] >= len(lambda_rows)
    assert rows["DynamoDB write request units"]["quantity"] > 0 and rows["EventBridge events"]["quantity"] == 1
    assert rows["S3 PUT/COPY/POST/LIST requests"]["quantity"] >= 1  # the stored report
    assert rows["Model input tokens (amazon.nova-pro-v1:0)"]["quantity"] == 0  # the local analyst uses no model
    assert "no model" in rows["Model input tokens (amazon.nova-pro-v1:0)"]["note"]
    assert cost["total_usd"] == sum(r["cost_usd"] for r in cost["rows"]) > 0
    line = next(x for x in recurrence["lines"] if x.strip().startswith("cost: $"))
    assert f"${cost['total_usd']:.6f}" in line and "us-east-1" in line
