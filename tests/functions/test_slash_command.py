"""/opsloop through the deployed handler: signed like everything else, answered inline."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from opsloop.incidents import storm_scope
from opsloop.slack.interactions import command_body

from .helpers import ROOT, load_event
from .test_slack_boundary import SECRET, _env, _event, _handler

INCIDENT = load_event("state_machine_input.json")["incident"]
IID = INCIDENT["incident_id"]


def _open_incident(store: Any) -> None:
    now = time.time()
    store.record(storm_scope(INCIDENT), INCIDENT["fingerprint"], 7, now=now, new_incident_id=IID, window_seconds=900)
    store.create_incident(INCIDENT, now=now)
    store.update_incident(IID, slack={"channel": "C0OPS", "ts": "1790000000.000100",
                                      "permalink": "https://example.slack.com/archives/C0OPS/p1790000000000100"})
    store.set_wait_token(IID, "t", "open", now=now)
    store.acknowledge(IID, "U0ONCALL01", now=now)
    store.track_open(IID, {"service": INCIDENT["service"], "permalink": "https://example.slack.com/archives/C0OPS/p1",
                           "opened_at": now - 600, "fingerprint": INCIDENT["fingerprint"], "source": INCIDENT["source"],
                           "account": INCIDENT.get("account"), "region": INCIDENT.get("region")})


def _command(text: str, user: str = "U0ONCALL01") -> dict[str, Any]:
    return _handler()(_event(command_body(text, user, "C0OPS"), path="/slack/commands"))


def test_status_names_the_open_incident_with_owner_age_count_and_link(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        store = _env(monkeypatch, SECRET)
        monkeypatch.setenv("OPSLOOP_ALLOWED_RESOLVERS", "U0ONCALL01")
        _open_incident(store)
        plain = _handler()(_event("command=%2Fopsloop&text=status&user_id=U0ONCALL01", path="/slack/commands"))
        rich = _command("status")
    assert plain["statusCode"] == 200 and IID in json.loads(plain["body"])["text"]
    text = json.loads(rich["body"])["text"]
    assert "1 open incident" in text and "<@U0ONCALL01>" in text and "10 min" in text and "7 occurrence" in text
    assert "https://example.slack.com/archives/C0OPS/p1" in text


def test_mute_and_unmute_are_authorised_and_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        store = _env(monkeypatch, SECRET)
        monkeypatch.setenv("OPSLOOP_ALLOWED_RESOLVERS", "U0ONCALL01")
        from opsloop import config

        config.reset_caches()
        _open_incident(store)
        refused = json.loads(_command(f"mute {IID} 3 noise", user="U0INTRUDER")["body"])["text"]
        assert "not allowed" in refused and store.fingerprint_state(storm_scope(INCIDENT), INCIDENT["fingerprint"]).get("muted_by") is None
        muted = json.loads(_command(f"mute {IID} 3 load test noise")["body"])["text"]
        state = store.fingerprint_state(storm_scope(INCIDENT), INCIDENT["fingerprint"])
        assert "3 day" in muted and state["muted_by"] == "U0ONCALL01" and state["muted_reason"] == "load test noise"
        assert store.count_if_muted(storm_scope(INCIDENT), INCIDENT["fingerprint"], 1, now=time.time()) is not None
        assert "Unmuted" in json.loads(_command(f"unmute {IID}")["body"])["text"]
        assert store.count_if_muted(storm_scope(INCIDENT), INCIDENT["fingerprint"], 1, now=time.time()) is None


def test_unknown_input_gets_the_help_text(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        _env(monkeypatch, SECRET)
        text = json.loads(_command("dance")["body"])["text"]
    assert "Unknown command" in text and "/opsloop status" in text


def test_an_unsigned_command_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        _env(monkeypatch, SECRET)
        response = _handler()(_event(command_body("status", "U0ONCALL01", "C0OPS"), secret="f" * 32,
                                     path="/slack/commands"))
    assert response["statusCode"] == 401


def test_the_manifest_declares_the_command_and_its_scope() -> None:
    manifest = yaml.safe_load(Path(ROOT / "slack/manifest.yaml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/opsloop" and command["url"].endswith("/slack/commands")
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]
