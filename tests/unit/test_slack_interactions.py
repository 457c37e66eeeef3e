"""Only requests Slack signed in the last five minutes get through, and a click yields exactly an incident id."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest

from opsloop.errors import InputError, PermanentError
from opsloop.slack.interactions import (
    Interaction,
    SlackEvent,
    SlackRequestRejected,
    UrlVerification,
    interaction_body,
    parse_event,
    parse_interaction,
    sign_request,
    verify_api_event,
    verify_request,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_790_000_000


def api_event(body: str, headers: dict[str, str], *, b64: bool = False) -> dict[str, object]:
    """An API Gateway HTTP API (payload v2) event: headers lowercased, body maybe base64."""
    return {
        "version": "2.0", "routeKey": "POST /slack/interactions", "rawPath": "/slack/interactions",
        "headers": {k.lower(): v for k, v in headers.items()} | {"content-type": "application/x-www-form-urlencoded"},
        "body": base64.b64encode(body.encode()).decode() if b64 else body,
        "isBase64Encoded": b64,
    }


def click(value: str = "inc-20261001-ab12cd", **kw: str) -> str:
    return interaction_body(value, kw.pop("user_id", "U024BE7LH"), kw.pop("channel_id", "C0INCIDENTS"),
                            kw.pop("message_ts", "1790000000.000100"), **kw)


def test_a_correctly_signed_fresh_request_is_accepted() -> None:
    body = click()
    verify_request(sign_request(body, SECRET, NOW), body, SECRET, now=NOW + 10)


def test_headers_are_matched_case_insensitively() -> None:
    body = click()
    headers = {k.lower(): v for k, v in sign_request(body, SECRET, NOW).items()}
    verify_request(headers, body, SECRET, now=NOW)
    verify_request({k.upper(): v for k, v in headers.items()}, body, SECRET, now=NOW)


@pytest.mark.parametrize("tamper", ["body", "secret", "signature"])
def test_a_tampered_request_is_rejected_as_bad_signature(tamper: str) -> None:
    body = click()
    headers = sign_request(body, SECRET, NOW)
    if tamper == "body":
        body = click(value="inc-other")
    elif tamper == "signature":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    with pytest.raises(SlackRequestRejected) as err:
        verify_request(headers, body, "another-secret" if tamper == "secret" else SECRET, now=NOW)
    assert err.value.reason == "bad_signature"
    assert isinstance(err.value, PermanentError)
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_request_older_or_newer_than_five_minutes_is_rejected_as_stale(age: int) -> None:
    body = click()
    with pytest.raises(SlackRequestRejected) as err:
        verify_request(sign_request(body, SECRET, NOW), body, SECRET, now=NOW + age)
    assert err.value.reason == "stale_timestamp"


def test_the_edge_of_the_replay_window_is_still_accepted() -> None:
    body = click()
    verify_request(sign_request(body, SECRET, NOW), body, SECRET, now=NOW + 300)


@pytest.mark.parametrize("drop", ["X-Slack-Signature", "X-Slack-Request-Timestamp", "both", "garbage-ts"])
def test_missing_or_unusable_headers_are_rejected(drop: str) -> None:
    body = click()
    headers = sign_request(body, SECRET, NOW)
    if drop == "both":
        headers = {}
    elif drop == "garbage-ts":
        headers["X-Slack-Request-Timestamp"] = "yesterday"
    else:
        del headers[drop]
    with pytest.raises(SlackRequestRejected) as err:
        verify_request(headers, body, SECRET, now=NOW)
    assert err.value.reason == "missing_headers"


@pytest.mark.parametrize("b64", [True, False])
def test_api_gateway_events_are_verified_over_the_decoded_body(b64: bool) -> None:
    body = click()
    event = api_event(body, sign_request(body, SECRET, NOW), b64=b64)
    assert verify_api_event(event, SECRET, now=NOW) == body


def test_a_base64_body_whose_content_was_changed_is_rejected() -> None:
    body = click()
    event = api_event(click(value="inc-other"), sign_request(body, SECRET, NOW), b64=True)
    with pytest.raises(SlackRequestRejected):
        verify_api_event(event, SECRET, now=NOW)


def test_a_body_that_is_not_base64_is_an_input_error() -> None:
    event = {"headers": {}, "body": "%%%not-base64%%%", "isBase64Encoded": True}
    with pytest.raises(InputError):
        verify_api_event(event, SECRET, now=NOW)


def test_a_resolve_click_parses_into_an_interaction() -> None:
    got = parse_interaction(click(user_name="alice"))
    assert got == Interaction(type="block_actions", action_id="resolve_incident", incident_id="inc-20261001-ab12cd",
                              user_id="U024BE7LH", user_name="alice", channel_id="C0INCIDENTS",
                              message_ts="1790000000.000100",
                              response_url="https://hooks.slack.com/actions/T0LOCAL/1/local", trigger_id="1.1.local")


@pytest.mark.parametrize("value", ["inc-1\n", "<!here>", "inc 1", "x" * 129, "",
                                   "AAAAKgAAAAIAAAAAAAAAAcvQ8K+Dq4u7r==", "inc-1;DROP TABLE", "../../etc/passwd"])
def test_a_hostile_button_value_is_refused(value: str) -> None:
    with pytest.raises(InputError) as err:
        parse_interaction(click(value=value))
    assert value not in str(err.value) or value == ""


def test_a_forged_user_or_channel_id_is_refused() -> None:
    with pytest.raises(InputError):
        parse_interaction(click(user_id="U1>|<!here>"))
    with pytest.raises(InputError):
        parse_interaction(click(channel_id="#general"))


def test_a_response_url_outside_slack_is_dropped() -> None:
    got = parse_interaction(click(response_url="https://169.254.169.254/latest/meta-data"))
    assert got.response_url == ""


@pytest.mark.parametrize("body", ["", "payload=", "payload=%7Bnot-json", "nopayload=1",
                                  urlencode({"payload": json.dumps({"type": "view_submission"})}),
                                  urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})}),
                                  urlencode({"payload": json.dumps(["block_actions"])})])
def test_anything_but_a_block_actions_payload_is_an_input_error(body: str) -> None:
    with pytest.raises(InputError):
        parse_interaction(body)


def test_url_verification_returns_the_challenge() -> None:
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    assert parse_event(body) == UrlVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")


def event_callback(event: dict[str, object]) -> str:
    return json.dumps({"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                       "event_id": "Ev08MFMKH6", "event_time": 1790000100, "event": event})


def test_a_mention_in_a_thread_is_parsed_with_bounded_text() -> None:
    got = parse_event(event_callback({"type": "app_mention", "user": "U024BE7LH", "channel": "C0INCIDENTS",
                                      "text": "<@U0OPSLOOP> why? " + "z" * 10_000, "ts": "1790000200.000200",
                                      "thread_ts": "1790000000.000100", "event_ts": "1790000200.000200"}))
    assert isinstance(got, SlackEvent)
    assert (got.type, got.channel, got.user, got.thread_ts, got.event_id) == \
        ("app_mention", "C0INCIDENTS", "U024BE7LH", "1790000000.000100", "Ev08MFMKH6")
    assert got.text.startswith("<@U0OPSLOOP> why? ") and len(got.text) <= 4000
    assert not got.ignorable


def test_bot_messages_and_edits_are_ignorable() -> None:
    own = parse_event(event_callback({"type": "message", "bot_id": "B0OPSLOOP", "user": "U0OPSLOOP",
                                      "channel": "C0INCIDENTS", "text": "answer", "ts": "1790000300.000300",
                                      "thread_ts": "1790000000.000100"}))
    edit = parse_event(event_callback({"type": "message", "subtype": "message_changed", "channel": "C0INCIDENTS",
                                       "ts": "1790000300.000400"}))
    human = parse_event(event_callback({"type": "message", "user": "U024BE7LH", "channel": "C0INCIDENTS",
                                        "text": "restarted the pool", "ts": "1790000300.000500"}))
    assert isinstance(own, SlackEvent) and own.ignorable
    assert isinstance(edit, SlackEvent) and edit.ignorable
    assert isinstance(human, SlackEvent) and not human.ignorable and human.thread_ts is None


@pytest.mark.parametrize("body", ["not json", "[]", json.dumps({"type": "app_rate_limited"}),
                                  json.dumps({"type": "url_verification", "challenge": "a\nb"}),
                                  event_callback({"type": "message", "channel": "general", "ts": "1.1"})])
def test_malformed_events_are_input_errors(body: str) -> None:
    with pytest.raises(InputError):
        parse_event(body)
