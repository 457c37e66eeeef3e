"""The incident room's other buttons through the real ASL (moto's interpreter) and the deployed handlers:
Escalate now, Not an incident, Acknowledge. Every path ends visibly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsloop.local import runner
from opsloop.local.runner import RESOLVER, RunOptions, run

pytestmark = pytest.mark.slow


def _quiet(_: str) -> None:
    pass


def _posts(out: Path) -> list[str]:
    calls = [json.loads(p.read_text()) for p in sorted((out / "slack").glob("*.json"))]
    return [c["payload"].get("text", "") for c in calls if c["method"] == "chat.postMessage"]


def _clicker(action_id: str, submit: dict[str, str] | None = None) -> Any:
    def click(dispatcher: Any, aws: Any, incident_id: str, signing_secret: str, interaction_body: Any,
              sign_request: Any, slack: Any = None) -> str:
        from opsloop.slack.interactions import view_submission_body

        ref = json.loads(aws.incident_item(incident_id)["slack"]["S"])
        body = interaction_body(incident_id=incident_id, user_id=RESOLVER, channel_id=ref["channel"],
                                message_ts=ref["ts"], action_id=action_id)
        answer = runner._post_signed(dispatcher, body, signing_secret, sign_request)
        if submit is not None:
            answer = runner._post_signed(dispatcher, view_submission_body(slack.views[-1], RESOLVER, values=submit),
                                         signing_secret, sign_request)
        return json.dumps(answer)
    return click


def test_escalate_now_ends_the_wait_in_the_escalation_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_click_resolve", _clicker("escalate_incident"))
    out = tmp_path / "out"
    result = run(RunOptions(out=out, timeout_seconds=60), say=_quiet)
    assert result.status == "FAILED"
    assert result.states[-7:-5] == ["Route Slack Action", "Escalate Unresolved Incident"]
    assert result.states[-1] == "Unresolved in Time"
    assert any(f"<@{RESOLVER}> escalated this incident" in t for t in _posts(out))
    assert any("*draft* report" in t for t in _posts(out)), "escalated by hand: the thread is kept as a draft"
    assert len(list((out / "knowledge" / "drafts").glob("*.md"))) == 1 and not list((out / "knowledge").glob("*.md"))


def test_not_an_incident_closes_visibly_with_who_and_why(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_click_resolve", _clicker("dismiss_incident", {"reason": "load test traffic",
                                                                                "days": "3"}))
    out = tmp_path / "out"
    result = run(RunOptions(out=out, timeout_seconds=60), say=_quiet)
    assert result.status == "SUCCEEDED"
    assert result.states[-3:] == ["Route Slack Action", "Close as Not an Incident", "Not an Incident"]
    assert any("Not an incident, said" in t and "load test traffic" in t and "3 day" in t for t in _posts(out))
    assert not list((out / "knowledge").glob("*.md")), "no report for something that was not an incident"


def test_acknowledged_incident_gets_no_reminder_and_names_its_owner(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_click_resolve", _clicker("ack_incident"))
    out = tmp_path / "out"
    result = run(RunOptions(out=out, reminder_seconds=3, escalation_seconds=1, timeout_seconds=60), say=_quiet)
    assert result.status == "FAILED" and "Remind in Thread and Wait" in result.states
    assert not any("still open" in t for t in _posts(out)), "acknowledged: no reminder"
    calls = [json.loads(p.read_text()) for p in sorted((out / "slack").glob("*.json"))]
    updates = [json.dumps(c["payload"]) for c in calls if c["method"] == "chat.update"]
    assert any(f"Acknowledged by <@{RESOLVER}>" in u for u in updates), "the message shows the owner"


def test_snoozed_for_an_hour_no_reminder_is_posted_and_the_message_says_until_when(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def pick(dispatcher: Any, aws: Any, incident_id: str, signing_secret: str, interaction_body: Any,
             sign_request: Any, slack: Any = None) -> str:
        ref = json.loads(aws.incident_item(incident_id)["slack"]["S"])
        body = interaction_body(incident_id=incident_id, user_id=RESOLVER, channel_id=ref["channel"],
                                message_ts=ref["ts"], action_id="snooze_incident", selected=f"1|{incident_id}",
                                response_url="")
        return json.dumps(runner._post_signed(dispatcher, body, signing_secret, sign_request))

    monkeypatch.setattr(runner, "_click_resolve", pick)
    out = tmp_path / "out"
    result = run(RunOptions(out=out, reminder_seconds=3, escalation_seconds=1, timeout_seconds=60), say=_quiet)
    assert result.status == "FAILED" and "Remind in Thread and Wait" in result.states
    assert not any("still open" in t for t in _posts(out)), "snoozed: no reminder"
    calls = [json.loads(p.read_text()) for p in sorted((out / "slack").glob("*.json"))]
    updates = [json.dumps(c["payload"]) for c in calls if c["method"] == "chat.update"]
    assert any("Snoozed until" in u and f"by <@{RESOLVER}>" in u for u in updates), "the message shows the snooze"
