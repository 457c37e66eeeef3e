"""Snooze for N hours and "Not an incident" for N days, through the signed Slack boundary (the router the
deployed handler uses): the person picks the value, opsloop accepts only values it offered, and the
message shows who did what until when."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import boto3
import pytest
from moto import mock_aws
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from opsloop.callbacks import StepFunctionsCallbacks
from opsloop.incidents import IncidentStore, iso, storm_scope
from opsloop.local.slack_server import SlackStandIn
from opsloop.models import Analysis, Classification, Incident
from opsloop.slack.interactions import interaction_body, view_submission_body
from opsloop.slack.messages import IncidentRoom
from opsloop.slack.notifier import SlackNotifier, make_client
from opsloop.slack.router import SlackPorts, route

from .helpers import RecordingSfn, create_table, load_event, signed_event

INCIDENT = load_event("state_machine_input.json")["incident"]
IID = INCIDENT["incident_id"]
SECRET = "8f14e45fceea167a5a36dedd4bea2543"
TOKEN = "xoxb-1111-2222-notarealtoken"
ONCALL = "U0ONCALL01"


def _event(body: str) -> dict[str, Any]:
    return signed_event(body, SECRET)


@pytest.fixture()
def room() -> Any:
    out = Path(tempfile.mkdtemp())
    with mock_aws(), SlackStandIn(out, TOKEN, "C0OPS", members=(ONCALL,)) as slack:
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        store = IncidentStore(ddb, create_table(ddb))
        notifier = SlackNotifier(make_client(TOKEN, base_url=slack.base_url), "C0OPS")
        store.create_incident(INCIDENT, now=time.time())
        analysis = Analysis(summary="Pool exhausted", root_cause="A batch job holds connections.")
        posted = notifier.post_incident(Incident.from_dict(INCIDENT), Classification("database", "high"), analysis)
        store.update_incident(IID, slack={"channel": posted.channel, "ts": posted.ts, "permalink": ""},
                              analysis=analysis.to_dict(), classification={"category": "database", "severity": "high"})
        store.set_wait_token(IID, "token-1", "open", now=time.time())
        sfn = RecordingSfn()
        ports = SlackPorts(signing_secret=lambda: SECRET, store=lambda: store, callbacks=lambda: StepFunctionsCallbacks(sfn),
                           notifier=lambda: notifier, analyst=lambda: None, allowed_resolvers=lambda: [ONCALL])
        yield store, slack, sfn, ports, posted, out


def _calls(out: Path, method: str) -> list[dict[str, Any]]:
    calls = [json.loads(p.read_text()) for p in sorted((out / "slack").glob("*.json"))]
    return [c["payload"] for c in calls if c["method"] == method]


def _blocks(payload: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = payload.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def _pick(ports: SlackPorts, posted: Any, value: str, user: str = ONCALL) -> Any:
    return route(_event(interaction_body(incident_id=IID, user_id=user, channel_id="C0OPS", message_ts=posted.ts,
                                         action_id="snooze_incident", selected=value, response_url="")), ports)


def test_the_message_offers_snooze_for_1_4_or_24_hours_within_block_kit_limits(room: Any) -> None:
    _, _, _, _, _, out = room
    blocks = _blocks(_calls(out, "chat.postMessage")[0])
    actions = next(b for b in blocks if b["type"] == "actions")
    menu = next(e for e in actions["elements"] if e["action_id"] == "snooze_incident")
    assert menu["type"] == "static_select" and Block.parse(actions).to_dict() == actions
    assert [o["text"]["text"] for o in menu["options"]] == ["Snooze 1 h", "Snooze 4 h", "Snooze 24 h"]
    assert [o["value"] for o in menu["options"]] == [f"{h}|{IID}" for h in (1, 4, 24)]
    assert len(menu["placeholder"]["text"]) <= 150 and len(menu["options"]) <= 100
    assert all(len(o["text"]["text"]) <= 75 and len(o["value"]) <= 150 for o in menu["options"])
    assert "token" not in json.dumps(menu).lower()


def test_snoozing_for_24_hours_is_stored_and_shown_with_who_and_until_when(room: Any) -> None:
    store, _, sfn, ports, posted, out = room
    before = time.time()
    response = _pick(ports, posted, f"24|{IID}")
    assert response.status == 200 and response.body["outcome"] == "snoozed"
    item = store.get_incident(IID)
    until = item.snoozed_until
    assert before + 24 * 3600 - 5 <= until <= time.time() + 24 * 3600 and item.snoozed_by == ONCALL
    shown = json.dumps(_blocks(_calls(out, "chat.update")[-1]))
    assert f"Snoozed until {iso(until)} by <@{ONCALL}>" in shown
    assert not sfn.calls and item.status == "WAITING", "a snooze does not end the wait"
    # a second, shorter pick changes nothing (the longer snooze stands)
    again = _pick(ports, posted, f"1|{IID}")
    assert again.body["outcome"] == "already" and store.get_incident(IID).snoozed_until == until


@pytest.mark.parametrize("forged", ["999", "0", "5", "48"])
def test_a_forged_number_of_hours_is_refused_and_changes_nothing(room: Any, forged: str) -> None:
    store, _, _, ports, posted, out = room
    updates = len(_calls(out, "chat.update"))
    response = _pick(ports, posted, f"{forged}|{IID}")
    assert response.status == 200 and response.body["outcome"] == "refused"
    assert not store.get_incident(IID).snoozed_until and len(_calls(out, "chat.update")) == updates


@pytest.mark.parametrize("value", ["-1|x", "4h|" + IID, "4", "4|not an id", "|" + IID, "1e3|" + IID])
def test_a_malformed_option_value_is_a_bad_request(room: Any, value: str) -> None:
    store, _, _, ports, posted, _ = room
    response = _pick(ports, posted, value)
    assert response.status == 400 and not store.get_incident(IID).snoozed_until


def test_a_pick_whose_value_was_changed_after_signing_is_rejected(room: Any) -> None:
    store, _, _, ports, posted, _ = room
    body = interaction_body(incident_id=IID, user_id=ONCALL, channel_id="C0OPS", message_ts=posted.ts,
                            action_id="snooze_incident", selected=f"1|{IID}", response_url="")
    event = _event(body)
    payload = json.loads(parse_qs(body)["payload"][0])
    payload["actions"][0]["selected_option"]["value"] = f"24|{IID}"
    event["body"] = urlencode({"payload": json.dumps(payload)})
    assert route(event, ports).status == 401 and not store.get_incident(IID).snoozed_until


def test_someone_not_allowed_cannot_snooze(room: Any) -> None:
    store, _, _, ports, posted, _ = room
    assert _pick(ports, posted, f"4|{IID}", user="U0INTRUDER").body["outcome"] == "forbidden"
    assert not store.get_incident(IID).snoozed_until


def _open_dismiss(ports: SlackPorts, posted: Any, slack: Any) -> dict[str, Any]:
    route(_event(interaction_body(incident_id=IID, user_id=ONCALL, channel_id="C0OPS", message_ts=posted.ts,
                                  action_id="dismiss_incident", response_url="")), ports)
    return slack.views[-1]


def test_the_not_an_incident_modal_offers_a_bounded_number_of_days(room: Any) -> None:
    _, slack, _, ports, posted, _ = room
    view = _open_dismiss(ports, posted, slack)
    assert View(**view).to_dict() == view, "valid Block Kit view"
    days = next(b for b in view["blocks"] if b["block_id"] == "days")["element"]
    assert days["type"] == "number_input" and days["is_decimal_allowed"] is False
    assert (days["min_value"], days["max_value"], days["initial_value"]) == ("1", "90", "7")


@pytest.mark.parametrize("days", ["0", "91", "3.5", "-1", "9999", "٣", "seven"])
def test_a_forged_number_of_days_is_refused_and_nothing_is_muted(room: Any, days: str) -> None:
    store, slack, sfn, ports, posted, _ = room
    view = _open_dismiss(ports, posted, slack)
    response = route(_event(view_submission_body(view, ONCALL, values={"reason": "load test", "days": days})), ports)
    assert response.body["response_action"] == "errors" and "1 to 90" in response.body["errors"]["days"]
    assert not sfn.calls and store.get_incident(IID).status == "WAITING"
    assert not (store.fingerprint_state(storm_scope(INCIDENT), INCIDENT["fingerprint"]) or {}).get("muted_by")


def test_the_chosen_days_are_recorded_with_who_and_why(room: Any) -> None:
    store, slack, sfn, ports, posted, _ = room
    view = _open_dismiss(ports, posted, slack)
    before = time.time()
    response = route(_event(view_submission_body(view, ONCALL, values={"reason": "load test", "days": "30"})), ports)
    assert response.body == {} and json.loads(sfn.calls[0]["output"])["mute_days"] == 30
    state = store.fingerprint_state(storm_scope(INCIDENT), INCIDENT["fingerprint"]) or {}
    assert state["muted_by"] == ONCALL and state["muted_reason"] == "load test"
    assert before + 30 * 86400 - 5 <= float(state["muted_until"]) <= time.time() + 30 * 86400


class _Thread(IncidentRoom):
    """A notifier that records what is said in the incident's thread (a real class, not a mock)."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def post_incident(self, incident: Any, classification: Any, analysis: Any) -> Any:
        from opsloop.ports import PostedMessage

        return PostedMessage("C0OPS", "1790000000.000200")

    def post_in_thread(self, message: Any, text: str) -> None:
        self.said.append(text)


def test_on_recurrence_the_thread_says_who_muted_it_why_and_how_often_it_happened_meanwhile() -> None:
    from dataclasses import replace

    from opsloop.lifecycle import notify_open

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        store = IncidentStore(ddb, create_table(ddb))
        incident = Incident.from_dict(INCIDENT)
        now = time.time()
        store.mute(storm_scope(INCIDENT), incident.fingerprint, until=now - 1, by=ONCALL, reason="load <!here> test",
                   incident_id=IID, now=now - 86400)
        store.count_if_muted(storm_scope(INCIDENT), incident.fingerprint, 4, now=now - 100)
        thread = _Thread()
        notify_open(replace(incident, incident_id=IID + "-2"), Classification("database", "high"), Analysis("s", "r"), "t",
                    store, thread, now=now)
        (note,) = thread.said
        assert f"marked *not an incident* by <@{ONCALL}>" in note and "load &lt;!here&gt; test" in note
        assert "4 time(s) while muted" in note
