"""Resolve in Slack: verification, authorisation, exactly-once SendTaskSuccess, polite second clicks."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opsloop.callbacks import StepFunctionsCallbacks
from opsloop.incidents import IncidentStatus, IncidentStore
from opsloop.wait import handle_resolve
from opsloop.slack.interactions import interaction_body, parse_interaction, sign_request

from .helpers import RecordingSfn, create_table, load_event

INCIDENT = load_event("state_machine_input.json")["incident"]
IID = INCIDENT["incident_id"]
SECRET = "8f14e45fceea167a5a36dedd4bea2543"  # the shape Slack issues: 32 hex characters


@pytest.fixture()
def store() -> Any:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        s = IncidentStore(ddb, create_table(ddb))
        s.create_incident(INCIDENT, now=time.time())
        s.update_incident(IID, slack={"channel": "C0OPS", "ts": "1790000000.000100", "permalink": ""})
        s.set_wait_token(IID, "token-1", "open", now=time.time())
        yield s


def _click(user: str = "U0ONCALL01") -> Any:
    return parse_interaction(interaction_body(incident_id=IID, user_id=user, channel_id="C0OPS",
                                              message_ts="1790000000.000100"))


def _resolve(store: Any, sfn: RecordingSfn, *, user: str = "U0ONCALL01", allowed: list[str] | None = None,
             members: set[str] = frozenset()) -> tuple[str, list[str]]:
    replies: list[str] = []
    outcome = handle_resolve(_click(user), store=store, callbacks=StepFunctionsCallbacks(sfn), allowed=["U0ONCALL01"] if allowed is None else allowed,
                             is_member=lambda ch, u: u in members, reply=replies.append, now=time.time())
    return outcome, replies


def test_authorised_click_sends_task_success_once_with_the_stored_token(store: Any) -> None:
    sfn = RecordingSfn()
    outcome, replies = _resolve(store, sfn)
    assert outcome == "resolved"
    assert len(sfn.calls) == 1 and sfn.calls[0]["taskToken"] == "token-1"
    assert json.loads(sfn.calls[0]["output"])["resolved_by"] == "U0ONCALL01"
    assert "Resolved by" in replies[0]

    again, replies2 = _resolve(store, sfn)  # WHEN someone clicks again
    assert again == "already" and len(sfn.calls) == 1
    assert "already resolved" in replies2[0] and "U0ONCALL01" in replies2[0]


def test_unlisted_user_cannot_resolve(store: Any) -> None:
    sfn = RecordingSfn()
    outcome, replies = _resolve(store, sfn, user="U0INTRUDER")
    assert outcome == "forbidden" and not sfn.calls
    assert "not allowed" in replies[0]
    assert store.get_incident(IID).status == "WAITING", "a refused click changes nothing"


def test_without_a_list_channel_members_may_resolve(store: Any) -> None:
    sfn = RecordingSfn()
    assert _resolve(store, sfn, user="U0STRANGER", allowed=[], members={"U0MEMBER1"})[0] == "forbidden"
    assert _resolve(store, sfn, user="U0MEMBER1", allowed=[], members={"U0MEMBER1"})[0] == "resolved"


def test_expired_wait_is_reported_and_the_incident_stays_resolvable(store: Any) -> None:
    outcome, replies = _resolve(store, RecordingSfn(fail_with="TaskTimedOut"))
    assert outcome == "expired" and "wait has ended" in replies[0]
    assert store.get_incident(IID).status == "WAITING"


# -- the HTTP edge, through the deployed handler ------------------------------------------------------
@pytest.fixture()
def http_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        table = create_table(ddb)
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="opsloop", SecretString=json.dumps({"slack_bot_token": "xoxb-1111-2222-notarealtoken", "slack_signing_secret": SECRET,
                                                     "username": "u", "password": "p"}))["ARN"]
        monkeypatch.setenv("OPSLOOP_TABLE_NAME", table)
        monkeypatch.setenv("OPSLOOP_SECRET_ARN", arn)
        monkeypatch.setenv("OPSLOOP_SLACK_CHANNEL_ID", "C0OPS")
        from opsloop import wiring

        wiring.reset()
        yield


def _api_event(body: str, headers: dict[str, str], path: str = "/slack/interactions") -> dict[str, Any]:
    return {"version": "2.0", "rawPath": path, "headers": headers, "body": body, "isBase64Encoded": False}


def _handler() -> Any:
    import importlib.util

    from .helpers import ROOT

    spec = importlib.util.spec_from_file_location("slack_interactions_app", ROOT / "functions/slack_interactions/app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.handler


@pytest.mark.parametrize("tamper", ["bad_signature", "stale_timestamp"])
def test_requests_not_signed_by_slack_are_rejected(http_env: Any, tamper: str) -> None:
    body = interaction_body(incident_id=IID, user_id="U0ONCALL01", channel_id="C0OPS", message_ts="1790000000.000100")
    ts = int(time.time()) - (600 if tamper == "stale_timestamp" else 0)
    headers = {k.lower(): v for k, v in sign_request(body, SECRET if tamper != "bad_signature" else "wrong", ts).items()}
    response = _handler()(_api_event(body, headers))
    assert response["statusCode"] == 401


def test_url_verification_challenge_is_answered(http_env: Any) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "legacy"})
    headers = {k.lower(): v for k, v in sign_request(body, SECRET, int(time.time())).items()}
    response = _handler()(_api_event(body, headers, "/slack/events"))
    assert response["statusCode"] == 200 and json.loads(response["body"])["challenge"] == "c-123"


def test_a_click_after_escalation_explains_that_opsloop_stopped_waiting(store: Any) -> None:
    store.move(IID, IncidentStatus.ESCALATED)
    outcome, replies = _resolve(store, RecordingSfn())
    assert outcome == "already" and "stopped waiting" in replies[0]
