"""The CloudWatch dashboard shows only metrics the code emits, with exactly the dimensions it emits them with
(a metric named with other dimensions is a different metric: the widget would stay empty)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from . import ROOT, resources

SERVICE = {"service"}  # Powertools adds service=POWERTOOLS_SERVICE_NAME to every metric
SEARCH = re.compile(r"SEARCH\('\{(?P<ns>[^,}]+),(?P<dims>[^}]*)\}\s+MetricName=\"(?P<name>\w+)\"")


def dashboard() -> dict[str, Any]:
    (dash,) = resources("AWS::CloudWatch::Dashboard").values()
    body = dash["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", body))


def shown() -> set[tuple[str, frozenset[str]]]:
    """(metric name, dimension names) of every Opsloop metric the dashboard draws."""
    out = set()
    for widget in dashboard()["widgets"]:
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                m = SEARCH.search(row[0]["expression"])
                assert m, row
                if m["ns"] == "Opsloop":
                    out.add((m["name"], frozenset(d.strip() for d in m["dims"].split(","))))
                continue
            plain = [x for x in row if isinstance(x, str)]
            if plain[0] == "Opsloop":
                out.add((plain[1], frozenset(plain[2::2])))
    return out


def emitted() -> set[tuple[str, frozenset[str]]]:
    """(metric name, dimension names) of every count()/observe() call in the layer and the handlers.

    A call whose name is a variable is resolved through the ``for name, value in ((...), ...)`` loop around
    it (the intake handler's counters)."""
    found = set()
    files = [*(ROOT / "layers" / "opsloop" / "opsloop").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        loops: dict[str, list[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.For) and isinstance(node.target, ast.Tuple) and isinstance(node.iter, ast.Tuple):
                var = node.target.elts[0]
                names = [e.elts[0].value for e in node.iter.elts if isinstance(e, ast.Tuple)
                         and isinstance(e.elts[0], ast.Constant)]
                if isinstance(var, ast.Name):
                    loops[var.id] = names
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("count", "observe") and node.args):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names = [first.value]
            elif isinstance(first, ast.Name) and first.id in loops:
                names = loops[first.id]
            else:
                continue
            dims = frozenset(k.arg for k in node.keywords if k.arg) | SERVICE
            found.update((n, dims) for n in names)
        # Intake's per-batch counters: the keys of IntakeResult.metrics(), each counted by the handler with
        # ``count(name, value)`` and no dimension of its own.
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "metrics":
                for d in ast.walk(node):
                    if isinstance(d, ast.Dict):
                        found.update((k.value, frozenset(SERVICE)) for k in d.keys
                                     if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return found


def test_every_metric_on_the_dashboard_is_emitted_with_its_dimensions() -> None:
    missing = shown() - emitted()
    assert not missing, f"the dashboard shows metrics no code emits with these dimensions: {sorted(missing)}"


def test_the_dashboard_covers_what_an_operator_asks() -> None:
    names = {n for n, _ in shown()}
    assert {"IncidentsOpened", "LinesDeduplicated", "IncidentClosed", "TimeToResolve", "AnalysisLatency",
            "AnalysisInputTokens", "AnalysisOutputTokens", "IncidentFailed"} <= names
    rows = [r for w in dashboard()["widgets"] for r in w["properties"]["metrics"] if isinstance(r[0], str)]
    assert any(r[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"] for r in rows)  # DLQ depth
    assert {r[1] for r in rows if r[0] == "AWS/States"} == {"ExecutionsSucceeded", "ExecutionsFailed",
                                                             "ExecutionsTimedOut", "ExecutionsAborted"}


def test_the_alarms_are_kept() -> None:
    alarms = {k for k in resources("AWS::CloudWatch::Alarm")}
    assert {"DeadLettersAlarm", "ExecutionsFailedAlarm", "ExecutionsTimedOutAlarm", "ExecutionsAbortedAlarm",
            "IntakeErrorsAlarm", "SlackApi5xxAlarm"} <= alarms


def _emf(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def _metric(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for r in records:
        for spec in r["_aws"]["CloudWatchMetrics"]:
            if any(m["Name"] == name for m in spec["Metrics"]):
                return {"dims": set(spec["Dimensions"][0]), "value": r[name], "unit": spec["Metrics"][0]["Unit"],
                        **{k: r[k] for k in spec["Dimensions"][0]}}
    raise AssertionError(f"{name} was not emitted")


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "opsloop")  # as the template's Globals set it
    return lambda: _emf(capsys.readouterr().out)


def test_the_analyze_step_emits_latency_and_tokens_per_engine(emf: Any) -> None:
    from opsloop.lifecycle import analyze_step
    from opsloop.models import Analysis, Budget, Classification, Incident

    class Analyst:
        def analyze(self, incident: Incident, classification: Classification) -> Analysis:
            return Analysis(summary="s", root_cause="r", engine="bedrock-kb",
                            budget=Budget(input_tokens=1200, output_tokens=300, elapsed_ms=2400))

    analyze_step(Incident(incident_id="i", fingerprint="f", template="t", message="m", source="g", service="s"),
                 Classification(category="database", severity="high"), Analyst())
    records = emf()
    lat = _metric(records, "AnalysisLatency")
    assert (lat["dims"], lat["engine"], lat["service"], lat["value"], lat["unit"]) == (
        {"engine", "service"}, "bedrock-kb", "opsloop", [2400.0], "Milliseconds")
    assert _metric(records, "AnalysisInputTokens")["value"] == [1200.0]
    assert _metric(records, "AnalysisOutputTokens")["value"] == [300.0]


def test_closing_an_incident_emits_its_outcome_and_resolving_the_time_to_resolve(emf: Any) -> None:
    from datetime import datetime

    from opsloop.lifecycle import notify_outcome
    from opsloop.models import Analysis, Classification, Incident

    class Store:
        def get_incident(self, incident_id: str) -> None:
            return None

        def move(self, *a: Any, **k: Any) -> bool:
            return True

        def close_fingerprint(self, *a: Any) -> None:
            pass

        def untrack_open(self, *a: Any) -> None:
            pass

    now = datetime.fromisoformat("2026-10-01T10:30:00+00:00").timestamp()
    notify_outcome(Incident(incident_id="i", fingerprint="f", template="t", message="m", source="g", service="s",
                            first_seen="2026-10-01T10:00:00Z"), Classification(category="db", severity="high"),
                   Analysis(summary="s", root_cause="r"), {}, {}, {}, Store(), None, now=now)  # type: ignore[arg-type]
    records = emf()
    closed = _metric(records, "IncidentClosed")
    assert (closed["dims"], closed["outcome"]) == ({"outcome", "service"}, "CLOSED")
    ttr = _metric(records, "TimeToResolve")
    assert (ttr["dims"], ttr["value"], ttr["unit"]) == ({"service"}, [1800.0], "Seconds")


def test_the_scan_sees_the_intake_counters_emitted_through_a_loop() -> None:
    # The dashboard's line counters come from the intake handler's loop: the scan must resolve it.
    assert ("LinesDeduplicated", frozenset(SERVICE)) in emitted()
    assert ("IncidentsOpened", frozenset(SERVICE)) in emitted()
    assert not {("LinesDeduplicated", frozenset({"service", "x"}))} <= emitted()


def test_dashboard_json_has_no_unsubstituted_references() -> None:
    (dash,) = resources("AWS::CloudWatch::Dashboard").values()
    refs = set(re.findall(r"\$\{([^}]+)\}", dash["Properties"]["DashboardBody"]["Fn::Sub"]))
    assert refs <= {"AWS::Region", "IncidentStateMachine", "DeadLetterQueue.QueueName"}
    assert Path(ROOT / "template.yaml").read_text(encoding="utf-8").count("AWS::CloudWatch::Dashboard") == 1
