"""The Slack boundary through the deployed handler: placeholder secrets, strict bodies, malformed requests,
retried deliveries — each as Slack (or an attacker) would send it, as an API Gateway v2 event."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opsloop.incidents import IncidentStore
from opsloop.slack.credentials import checked_bot_token, checked_signing_secret
from opsloop.slack.interactions import interaction_body, sign_request
from opsloop.slack.messages import IncidentRoom

from .helpers import ROOT, create_table, load_event

INCIDENT = load_event("state_machine_input.json")["incident"]
IID = INCIDENT["incident_id"]
SECRET = "8f14e45fceea167a5a36dedd4bea2543"
TOKEN = "xoxb-1111-2222-notarealtoken"


def _handler() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("slack_interactions_app", ROOT / "functions/slack_interactions/app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.handler


def _env(monkeypatch: pytest.MonkeyPatch, secret: str, token: str = TOKEN) -> IncidentStore:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    table = create_table(ddb)
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="opsloop", SecretString=json.dumps({"slack_bot_token": token, "slack_signing_secret": secret,
                                                 "username": "u", "password": "p"}))["ARN"]
    monkeypatch.setenv("OPSLOOP_TABLE_NAME", table)
    monkeypatch.setenv("OPSLOOP_SECRET_ARN", arn)
    monkeypatch.setenv("OPSLOOP_SLACK_CHANNEL_ID", "C0OPS")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    from opsloop import config, wiring

    config.reset_caches()
    wiring.reset()
    return IncidentStore(ddb, table)


def _event(body: str, secret: str = SECRET, path: str = "/slack/interactions", *, b64: bool = False,
           raw_body: str | None = None, extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in sign_request(body, secret, int(time.time())).items()}
    headers.update(extra or {})
    sent = raw_body if raw_body is not None else (base64.b64encode(body.encode()).decode() if b64 else body)
    return {"version": "2.0", "rawPath": path, "headers": headers, "body": sent, "isBase64Encoded": b64 or raw_body is not None}


def _click() -> str:
    return interaction_body(incident_id=IID, user_id="U0ONCALL01", channel_id="C0OPS", message_ts="1790000000.000100")


@pytest.mark.parametrize("secret", ["replace-me", "replace-with-your-signing-secret", "s3cr3t", "0" * 32,
                                    "8f14e45fceea167a5a36dedd4bea25"])
def test_a_placeholder_or_short_signing_secret_refuses_even_a_correctly_signed_click(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str) -> None:
    with mock_aws():
        _env(monkeypatch, secret)
        response = _handler()(_event(_click(), secret))  # signed with the public placeholder
    assert response["statusCode"] == 503
    assert "slack_signing_secret" in json.loads(response["body"])["error"]
    out = capsys.readouterr().out
    assert '"SlackCredentialRefused"' in out and secret not in out.replace('"reason"', "")


@pytest.mark.parametrize("token", ["xoxb-replace-me", "xoxb-short", "xoxp-1111-2222-notarealtoken", ""])
def test_a_placeholder_bot_token_is_refused_with_the_fix_named(token: str) -> None:
    from opsloop.errors import ConfigError

    with pytest.raises(ConfigError, match="slack_bot_token .* OAuth"):
        checked_bot_token(token)


def test_real_shaped_credentials_are_accepted() -> None:
    assert checked_signing_secret(SECRET.upper()) == SECRET.upper()
    assert checked_bot_token(TOKEN) == TOKEN


def test_a_signed_body_over_256_kb_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        _env(monkeypatch, SECRET)
        big = _click() + "&pad=" + "x" * (1024 * 1024)
        assert _handler()(_event(big))["statusCode"] == 400
        assert _handler()(_event(big, b64=True))["statusCode"] == 400


def test_invalid_base64_is_a_400_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        _env(monkeypatch, SECRET)
        response = _handler()(_event(_click(), raw_body="!!not base64!!"))
    assert response["statusCode"] == 400 and "base64" in json.loads(response["body"])["error"]


@pytest.mark.parametrize("body,path", [
    ("payload=%7Bnot-json", "/slack/interactions"),
    ("nothing=here", "/slack/interactions"),
    (json.dumps({"type": "event_callback", "event": {}}), "/slack/events"),
    ("[1,2]", "/slack/events"),
    ("command=%2Fopsloop&text=status", "/slack/commands"),  # no user_id
])
def test_signed_but_malformed_requests_answer_400_with_a_reason(monkeypatch: pytest.MonkeyPatch, body: str,
                                                                path: str) -> None:
    with mock_aws():
        _env(monkeypatch, SECRET)
        response = _handler()(_event(body, path=path))
    assert response["statusCode"] == 400
    assert 0 < len(json.loads(response["body"])["error"]) <= 200


def test_a_legal_view_submission_that_is_not_ours_is_answered_200(monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import urlencode

    payload = {"type": "view_submission", "user": {"id": "U0ONCALL01", "username": "a"},
               "view": {"id": "V1", "callback_id": "someone_else", "private_metadata": "",
                        "state": {"values": {"b": {"a": {"type": "plain_text_input", "value": "hi"}}}}}}
    with mock_aws():
        _env(monkeypatch, SECRET)
        response = _handler()(_event(urlencode({"payload": json.dumps(payload)})))
    assert response["statusCode"] == 200


class _Thread(IncidentRoom):
    def __init__(self) -> None:
        self.posts: list[str] = []

    def post_in_thread(self, message: Any, text: str) -> str:
        self.posts.append(text)
        return "1790000001.000200"


class _Analyst:
    def analyze(self, incident: Any, classification: Any) -> Any:
        from opsloop.models import Analysis

        return Analysis(summary="s", root_cause="r", fix_steps=["f"], sources=[])


def test_a_retried_question_whose_first_delivery_was_lost_is_answered_exactly_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opsloop.slack.router import SlackPorts, route

    question = json.dumps({"type": "event_callback", "event_id": "Ev0QUESTION1", "event": {
        "type": "app_mention", "channel": "C0OPS", "user": "U0ASKER01", "text": "<@U0BOT> why?",
        "ts": "1790000050.000100", "thread_ts": "1790000000.000100"}})
    with mock_aws():
        store = _env(monkeypatch, SECRET)
        store.create_incident(INCIDENT, now=time.time())
        store.link_thread("C0OPS", "1790000000.000100", IID, now=time.time())
        thread = _Thread()
        ports = SlackPorts(signing_secret=lambda: SECRET, store=lambda: store, callbacks=lambda: None,
                           notifier=lambda: thread, analyst=_Analyst, allowed_resolvers=list)
        # GIVEN the first delivery never reached opsloop (timed out at the edge), Slack retries twice
        first = route(_event(question, path="/slack/events", extra={"x-slack-retry-num": "1"}), ports)
        second = route(_event(question, path="/slack/events", extra={"x-slack-retry-num": "2"}), ports)
    assert first.status == second.status == 200
    assert len(thread.posts) == 1, "answered once, not dropped and not twice"
    assert store is not None


def test_the_table_policy_grants_only_the_calls_the_code_makes() -> None:
    from opsloop.local.runner import _template_resources

    statement = _template_resources(ROOT)["IncidentsTablePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    # BatchGetItem: the template learner reads a batch's template buckets in one call
    assert set(statement["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                        "dynamodb:BatchGetItem"}
    code = "".join(p.read_text() for p in (ROOT / "layers/opsloop/opsloop").rglob("*.py"))
    assert "delete_item" not in code and "ConditionCheck" not in code
