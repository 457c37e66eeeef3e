"""The offline run with a subscription batch from a member account: every output names that account."""

from __future__ import annotations

import json
from pathlib import Path

from opsloop.cli import main
from opsloop.confluence.storage import render_report
from opsloop.models import Classification, Incident, Report
from opsloop.report import to_markdown
from opsloop.slack.blocks import incident_blocks
from opsloop.report_rules import ExtractiveSummarizer

from .helpers import ROOT

MEMBER = "222233334444"


def test_offline_run_of_a_member_account_batch_names_the_account_in_slack_confluence_and_the_report(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["local", "run", "--event", str(ROOT / "events" / "cloudwatch_logs_subscription_member_account.json"),
                 "--out", str(out)]) == 0
    first_post = json.loads(next(iter(sorted((out / "slack").glob("*chat.postMessage.json")))).read_text())
    assert f"*Account:* {MEMBER} (us-east-1)" in json.dumps(first_post["request"] if "request" in first_post
                                                          else first_post)
    page = next((out / "confluence" / "pages").glob("*.html")).read_text()
    assert f"<th>Account</th><td>{MEMBER} (us-east-1)</td>" in page
    report = next((out / "knowledge").glob("*.md")).read_text()
    assert f"Account: {MEMBER} (us-east-1)." in report


def test_offline_run_accepts_a_kinesis_batch_from_the_logs_destination(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["local", "run", "--event", str(ROOT / "events" / "kinesis_member_logs.json"), "--out", str(out)]) == 0
    first_post = next(iter(sorted((out / "slack").glob("*chat.postMessage.json")))).read_text()
    assert f"*Account:* {MEMBER} (us-east-1)" in first_post


def _incident(**kw: object) -> Incident:
    base = dict(incident_id="20261203T100000-3f0d0a9aaa0f-6d5eb0", fingerprint="3f0d0a9aaa0fb337",
                template="Connection is not available", message="Connection is not available", source="/ecs/pay",
                service="pay", account="222233334444", region="eu-west-1",
                related_incident_id="20261203T095900-3f0d0a9aaa0f-111aaa", related_account="111122223333",
                related_region="eu-west-1")
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


def test_the_second_accounts_incident_names_the_first_in_slack_and_the_report() -> None:
    from opsloop.models import Analysis

    incident = _incident()
    cls = Classification(category="database", severity="high")
    text = json.dumps(incident_blocks(incident, cls, Analysis(summary="s", root_cause="r")))
    assert "*Account:* 222233334444 (eu-west-1)" in text
    assert "*Also open in:* 20261203T095900-3f0d0a9aaa0f-111aaa in 111122223333 (eu-west-1)" in text
    report = ExtractiveSummarizer("en").summarize(incident, cls, Analysis(summary="s", root_cause="r"), [], "U1", None)
    assert report.accounts == ["222233334444 (eu-west-1)"]
    md = to_markdown(report)
    assert "The same error in: 20261203T095900-3f0d0a9aaa0f-111aaa in 111122223333 (eu-west-1)." in md
    assert "111122223333" in render_report(report)


def test_an_incident_without_account_renders_as_before() -> None:
    from opsloop.models import Analysis

    incident = _incident(account=None, region=None, related_incident_id=None)
    text = json.dumps(incident_blocks(incident, Classification(category="database", severity="high"),
                                      Analysis(summary="s", root_cause="r")))
    assert "Account" not in text and "Also open in" not in text
    assert Report.from_dict({**ExtractiveSummarizer("en").summarize(
        incident, Classification(category="x", severity="low"), Analysis(summary="s", root_cause="r"), [], "", None).to_dict()}).accounts == []
