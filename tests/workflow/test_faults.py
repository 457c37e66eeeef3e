"""Faults survived: the real ASL in moto, with failures injected at chosen steps (`--faults`).

GIVEN the bundled sample incident and a fault plan (Slack 429/5xx, Confluence 409/429/5xx, Bedrock
throttling, an ingestion job already running, a Lambda timeout) WHEN `opsloop local run` drives it THEN the
incident reaches a terminal state a user can see (resolved, or a failure message in Slack and the
IncidentFailed metric) and nothing is duplicated: one incident message, one Confluence page, one report.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from opsloop.cli import main
from opsloop.local.faults import FaultPlan, FaultRule, FaultSpecError
from opsloop.local.runner import RunOptions, run


def _quiet(_: str) -> None:
    pass


def _posts(out: Path) -> list[dict]:
    return [json.loads(p.read_text())["payload"] for p in sorted((out / "slack").glob("*chat.postMessage*"))]


def _metrics(out: Path) -> list[str]:
    names = []
    for line in (out / "logs" / "functions.log").read_text().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        for directive in (doc.get("_aws") or {}).get("CloudWatchMetrics", []):
            names += [m["Name"] for m in directive.get("Metrics", [])]
    return names


def _metric_docs(out: Path) -> list[dict]:
    docs = []
    for line in (out / "logs" / "functions.log").read_text().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and (doc.get("_aws") or {}).get("CloudWatchMetrics"):
            docs.append(doc)
    return docs


def _assert_nothing_duplicated(out: Path) -> None:
    parents = [p for p in _posts(out) if not p.get("thread_ts")]
    assert len(parents) == 1, [p.get("text", "")[:80] for p in parents]
    assert len(list((out / "confluence" / "pages").glob("*.html"))) <= 1
    assert len(list((out / "knowledge").glob("*.md"))) <= 1


RECOVERED = [
    # Slack's rate limit: the client waits Retry-After and tries again inside the step
    ("slack.chat.postMessage=429x2", 2),
    # a Slack 5xx while posting the incident, then while marking it resolved: the steps are retried
    ("slack.chat.postMessage=500,slack.chat.update=503", 2),
    # the outcome reply fails once; Confluence fails to create the page, then rate-limits its search
    ("slack.chat.postMessage=502x1@2,confluence.create=500,confluence.search=429", 3),
    # Bedrock throttles the analysis and the summary; another ingestion job is running at start
    ("bedrock.analyze=throttle,bedrock.summarize=throttle,ingestion.start=conflict", 3),
    # the other 5xx kinds: Slack 504 on the incident post; Confluence 502 on create, 504 on a label
    ("slack.chat.postMessage=504,confluence.create=502,confluence.label=504", 3),
    # the Knowledge Base throttles the ingestion start and the status check
    ("ingestion.start=throttle,ingestion.status=throttle", 2),
    # one Lambda timeout each, after the calls went out (the message posted, the summary written): every step
    # is idempotent per incident, so it is retried once, and nothing is posted or stored twice
    ("lambda.NotifySlackFunction=timeout,lambda.SummarizeFunction=timeout,lambda.StoreReportFunction=timeout", 3),
]


@pytest.mark.slow
@pytest.mark.parametrize("spec,injected", RECOVERED, ids=[s for s, _ in RECOVERED])
def test_transient_faults_are_retried_and_the_incident_is_resolved_once(tmp_path: Path, spec: str,
                                                                       injected: int) -> None:
    out = tmp_path / "out"
    result = run(RunOptions(out=out, faults=FaultPlan.parse(spec), timeout_seconds=120), say=_quiet)

    doc = json.loads((out / "execution.json").read_text())
    assert len(doc["faults"]["injected"]) == injected, doc["faults"]
    assert result.status == "SUCCEEDED", (doc.get("error"), doc.get("cause"))
    assert "Report Failure" not in result.states
    _assert_nothing_duplicated(out)
    assert len(list((out / "confluence" / "pages").glob("*.html"))) == 1
    assert len(list((out / "knowledge").glob("*.md"))) == 1, "the report is stored and ingested"
    outcome = [p for p in _posts(out) if p.get("thread_ts") and "Resolved by" in p.get("text", "")]
    assert len(outcome) == 1, "one outcome reply in the thread"
    assert "IncidentFailed" not in _metrics(out)
    if spec.startswith("slack.chat.postMessage=429"):
        at = [datetime.strptime(f["at"], "%Y-%m-%dT%H:%M:%S.%fZ") for f in doc["faults"]["injected"]]
        assert (at[1] - at[0]).total_seconds() >= 0.9, "the client waited the Retry-After Slack asked for"


FAILED = [
    # the summary times out, and again on its one retry: the failure path says so in the incident's thread
    ("lambda.SummarizeFunction=timeoutx2", "summarize"),
    # posting timed out twice after the message went out: the failure is reported in that message's thread
    ("lambda.NotifySlackFunction=timeoutx2", "notify"),
]


@pytest.mark.slow
@pytest.mark.parametrize("spec,step", FAILED, ids=[s for s, _ in FAILED])
def test_a_lambda_timeout_ends_in_the_visible_failure_path(tmp_path: Path, spec: str, step: str) -> None:
    out = tmp_path / "out"
    result = run(RunOptions(out=out, faults=FaultPlan.parse(spec), timeout_seconds=120), say=_quiet)

    assert result.status == "FAILED" and result.states[-2:] == ["Report Failure", "Incident Failed"]
    failure = [p for p in _posts(out) if "could not finish" in p.get("text", "")]
    assert len(failure) == 1 and f"step *{step}*" in failure[0]["text"] and "Sandbox.Timedout" in failure[0]["text"]
    assert failure[0].get("thread_ts"), "the failure is told in the incident's own thread"
    assert "IncidentFailed" in _metrics(out)
    _assert_nothing_duplicated(out)
    # the failed incident is closed: the next occurrence opens a new one
    again = run(RunOptions(out=out), say=_quiet)
    assert again.status == "SUCCEEDED" and again.incident_id != result.incident_id


@pytest.mark.slow
def test_a_draft_that_cannot_be_stored_ends_in_the_failure_path_after_the_escalation(tmp_path: Path) -> None:
    # GIVEN nobody resolves, and storing the draft times out on every attempt
    out = tmp_path / "out"
    result = run(RunOptions(out=out, resolve="never", reminder_seconds=1, escalation_seconds=1, timeout_seconds=120,
                            faults=FaultPlan.parse("lambda.StoreReportFunction=timeoutx*")), say=_quiet)

    assert result.status == "FAILED" and result.states[-2:] == ["Report Failure", "Incident Failed"]
    assert "Escalate Unresolved Incident" in result.states and "Start Draft Ingestion" not in result.states
    texts = [p.get("text", "") for p in _posts(out)]
    assert sum("Nobody resolved" in t for t in texts) == 1, "the escalation was said before the draft failed"
    failure = [t for t in texts if "could not finish" in t]
    assert len(failure) == 1 and "step *store_draft*" in failure[0]
    assert not any("*draft* report" in t for t in texts), "no claim that a draft was stored"
    assert "IncidentFailed" in _metrics(out)
    closed = [doc.get("outcome") for doc in _metric_docs(out) if "IncidentClosed" in doc]
    assert closed == ["ESCALATED"], "closed once, as escalated (not counted again as failed)"
    _assert_nothing_duplicated(out)


@pytest.mark.slow
def test_a_failed_reminder_is_retried_and_the_escalation_still_ends_the_incident(tmp_path: Path) -> None:
    # GIVEN nobody resolves, and Slack fails the reminder (the second post) once
    out = tmp_path / "out"
    result = run(RunOptions(out=out, resolve="never", reminder_seconds=1, escalation_seconds=1, timeout_seconds=120,
                            faults=FaultPlan.parse("slack.chat.postMessage=503x1@2")), say=_quiet)

    assert result.status == "FAILED"
    assert result.states[-7:-5] == ["Remind in Thread and Wait", "Escalate Unresolved Incident"]
    assert result.states[-1] == "Unresolved in Time"
    assert "Report Failure" not in result.states
    texts = [p.get("text", "") for p in _posts(out)]
    assert sum("still open" in t for t in texts) == 1 and sum("Nobody resolved" in t for t in texts) == 1, texts
    _assert_nothing_duplicated(out)


@pytest.mark.slow
def test_confluence_version_conflicts_on_a_recurrence_update_the_one_page(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(RunOptions(out=out), say=_quiet).status == "SUCCEEDED"
    # WHEN the recurrence's page update meets three 409s (someone keeps editing the page)
    second = run(RunOptions(out=out, faults=FaultPlan.parse("confluence.update=409x3"), timeout_seconds=120),
                 say=_quiet)
    doc = json.loads((out / "execution.json").read_text())
    assert len(doc["faults"]["injected"]) == 3
    assert second.status == "SUCCEEDED", (doc.get("error"), doc.get("cause"))
    assert doc["page"]["created"] is False and doc["page"]["version"] == 2
    assert len(list((out / "confluence" / "pages").glob("*.html"))) == 1
    assert len(list((out / "knowledge").glob("*.md"))) == 1


# -- the spec ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, message", [
    ("", "empty"),
    ("slack.chat.postMessage", "is not TARGET=KIND"),
    ("sqs.send=500", "unknown target 'sqs'"),
    ("slack.chat.nope=429", "no method 'chat.nope'"),
    ("slack.chat.postMessage=409", "cannot fail with '409'"),
    ("confluence.delete=500", "unknown Confluence operation"),
    ("bedrock.analyze=500", "cannot fail with '500'"),
    ("ingestion.status=conflict", "cannot fail with 'conflict'"),
    ("lambda.IntakeFunction=timeout", "not a function the state machine invokes"),
    ("lambda.SummarizeFunction=timeoutx0", "between 1 and 100"),
    ("confluence.create=500,confluence.create=503", "named twice"),
])
def test_a_malformed_spec_is_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        FaultPlan.parse(spec)


def test_the_cli_refuses_a_malformed_spec_with_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["local", "run", "--out", str(tmp_path / "out"), "--faults", "slack.chat.postMessage=42x2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--faults" in err and "cannot fail with '42'" in err
    assert not (tmp_path / "out").exists(), "nothing ran"


def test_which_calls_fail() -> None:
    plan = FaultPlan.parse("slack.chat.postMessage=429x2@2,confluence.*=503x*,lambda.SummarizeFunction=timeout")
    assert [plan.take("slack.chat.postMessage") is not None for _ in range(4)] == [False, True, True, False]
    assert plan.take("slack.chat.update") is None
    assert all(plan.take("confluence.create") is not None for _ in range(5))
    assert plan.take("lambda.SummarizeFunction") == FaultRule("lambda.SummarizeFunction", "timeout", 1)
    assert plan.take("lambda.SummarizeFunction") is None
    assert [e["call"] for e in plan.injected() if e["target"] == "slack.chat.postMessage"] == [2, 3]
    assert plan.spec == "slack.chat.postMessage=429x2@2,confluence.*=503x*,lambda.SummarizeFunction=timeoutx1"
