"""The local Slack stand-in speaks enough of the Web API for the real WebClient and SlackNotifier, records
every call without the token, and refuses what Slack refuses."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from opsloop.errors import PermanentError
from opsloop.local.slack_server import SlackStandIn
from opsloop.models import Analysis, Classification, Incident
from opsloop.slack.notifier import SlackNotifier, make_client

TOKEN = "xoxb-local-0000-notarealtoken"
CHANNEL = "C0INCIDENTS"
INCIDENT = Incident(incident_id="inc-1", fingerprint="fp", template="Timeout <*>",
                    message="Timeout <!here> <@U024BE7LH> after 30s", source="/ecs/orders-api", service="orders-api")
CLASSIFICATION = Classification(category="timeout", severity="high")
ANALYSIS = Analysis(summary="Upstream is slow.", root_cause="Pool too small.", fix_steps=["Raise the pool"])


@pytest.fixture
def stand_in(tmp_path: Path):
    with SlackStandIn(tmp_path, TOKEN, CHANNEL, members=["U1", "U2"]) as s:
        yield s


def recorded(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) | {"file": p.name} for p in sorted((out / "slack").glob("*.json"))]


def test_the_whole_notifier_conversation_works_and_is_recorded(stand_in: SlackStandIn, tmp_path: Path) -> None:
    notifier = SlackNotifier(make_client(TOKEN, base_url=stand_in.base_url), CHANNEL)
    stand_in.seed_thread(CHANNEL, None, [{"user": "U1", "text": "I restarted the pool"}])

    posted = notifier.post_incident(INCIDENT, CLASSIFICATION, ANALYSIS)
    reply_ts = notifier.post_in_thread(posted, "Still open after 1 h")
    notifier.update_occurrences(posted, INCIDENT, CLASSIFICATION, ANALYSIS)
    notifier.mark_resolved(posted, INCIDENT, CLASSIFICATION, ANALYSIS, "U1", "https://acme.atlassian.net/wiki/x/1")
    thread = notifier.fetch_thread(posted)

    # Slack's ts: wall-clock seconds.micros (six digits), so the thread's times are real times.
    assert posted.channel == CHANNEL and re.fullmatch(r"\d{10}\.\d{6}", posted.ts)
    assert abs(float(posted.ts) - time.time()) < 60
    assert posted.permalink.endswith(f"/archives/{CHANNEL}/p{posted.ts.replace('.', '')}")
    assert float(reply_ts) > float(posted.ts)
    assert [(m.user, m.text) for m in thread] == [
        ("U0OPSLOOP", "Resolved by U1: Timeout &lt;∗&gt; in orders-api — Upstream is slow."),
        ("U1", "I restarted the pool"),
        ("U0OPSLOOP", "Still open after 1 h"),
    ]
    assert notifier.is_channel_member(CHANNEL, "U2") and not notifier.is_channel_member(CHANNEL, "U3")

    calls = recorded(tmp_path)
    assert [c["file"] for c in calls] == [
        "0001-chat.postMessage.json", "0002-chat.getPermalink.json", "0003-chat.postMessage.json",
        "0004-chat.update.json", "0005-chat.update.json", "0006-conversations.replies.json",
        "0007-conversations.members.json", "0008-conversations.members.json"]
    first = calls[0]
    assert first["method"] == "chat.postMessage" and set(first) == {"method", "payload", "file"}
    assert isinstance(first["payload"]["blocks"], list)  # blocks as sent: a JSON array
    assert calls[2]["payload"]["thread_ts"] == posted.ts
    resolved = stand_in.messages()[0]
    assert resolved["ts"] == posted.ts and "Resolved by U1" in resolved["text"]
    assert not any(b["type"] == "actions" for b in resolved["blocks"])


def test_no_file_contains_the_token_even_when_sent_in_the_body(stand_in: SlackStandIn, tmp_path: Path) -> None:
    client = WebClient(base_url=stand_in.base_url)  # no header: the token travels as a form field
    client.api_call("auth.test", params={"token": TOKEN})
    WebClient(token=TOKEN, base_url=stand_in.base_url).auth_test()
    everything = "".join(p.read_text() for p in (tmp_path / "slack").iterdir())
    assert TOKEN not in everything
    assert len(list((tmp_path / "slack").iterdir())) == 2


def test_a_wrong_token_is_refused_like_slack_does(stand_in: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxb-wrong", base_url=stand_in.base_url).chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=stand_in.base_url).auth_test()
    assert err.value.response["error"] == "not_authed"
    bad = SlackNotifier(make_client("xoxb-wrong", base_url=stand_in.base_url), CHANNEL)
    with pytest.raises(PermanentError, match="invalid_auth"):
        bad.post_incident(INCIDENT, CLASSIFICATION, ANALYSIS)
    assert stand_in.messages() == []


def test_messages_slack_would_refuse_are_refused(stand_in: SlackStandIn) -> None:
    client = WebClient(token=TOKEN, base_url=stand_in.base_url)
    cases = {
        "invalid_blocks": dict(channel=CHANNEL, text="x", blocks=[{"type": "divider"}] * 51),
        "msg_too_long": dict(channel=CHANNEL, text="x" * 40_001),
        "channel_not_found": dict(channel="C0OTHER", text="x"),
    }
    for error, kwargs in cases.items():
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(**kwargs)
        assert err.value.response["error"] == error
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert err.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=CHANNEL, text="x",
                                blocks=[{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    assert err.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=CHANNEL, ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_replies_paginate_with_a_cursor_and_seeded_messages_join_the_thread(stand_in: SlackStandIn) -> None:
    client = WebClient(token=TOKEN, base_url=stand_in.base_url)
    parent = client.chat_postMessage(channel=CHANNEL, text="incident")["ts"]
    seeded = stand_in.seed_thread(CHANNEL, parent, [{"user": "U1", "text": f"note {i}"} for i in range(4)])
    assert len(seeded) == 4 and seeded == sorted(seeded, key=float)

    first = client.conversations_replies(channel=CHANNEL, ts=parent, limit=3)
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_replies(channel=CHANNEL, ts=parent, limit=3, cursor=cursor)

    texts = [m["text"] for m in first["messages"] + second["messages"]]
    assert texts == ["incident", "note 0", "note 1", "note 2", "note 3"]
    assert first["has_more"] is True and second["response_metadata"]["next_cursor"] == ""
    with pytest.raises(SlackApiError) as err:
        client.conversations_replies(channel=CHANNEL, ts="1.000009")
    assert err.value.response["error"] == "thread_not_found"


def test_a_second_run_into_the_same_out_dir_continues_numbering_and_timestamps(tmp_path: Path) -> None:
    with SlackStandIn(tmp_path, TOKEN, CHANNEL) as first:
        ts1 = WebClient(token=TOKEN, base_url=first.base_url).chat_postMessage(channel=CHANNEL, text="one")["ts"]
    with SlackStandIn(tmp_path, TOKEN, CHANNEL) as second:
        ts2 = WebClient(token=TOKEN, base_url=second.base_url).chat_postMessage(channel=CHANNEL, text="two")["ts"]
    assert float(ts2) > float(ts1)
    assert [c["file"] for c in recorded(tmp_path)] == ["0001-chat.postMessage.json", "0002-chat.postMessage.json"]


def test_unknown_methods_are_refused(stand_in: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(token=TOKEN, base_url=stand_in.base_url).api_call("admin.users.list")
    assert err.value.response["error"] == "unknown_method"


def test_message_ts_are_wall_clock_and_strictly_increasing(stand_in: SlackStandIn) -> None:
    client = make_client(TOKEN, base_url=stand_in.base_url)
    before = time.time()
    parent = client.chat_postMessage(channel=CHANNEL, text="incident")["ts"]
    stamps = stand_in.seed_thread(CHANNEL, parent, [{"user": "U1", "text": f"n{i}"} for i in range(50)])
    after = time.time()
    values = [parent, *stamps]
    assert all(re.fullmatch(r"\d{10}\.\d{6}", ts) for ts in values)
    assert [float(v) for v in values] == sorted(float(v) for v in values)
    assert len(set(values)) == len(values)  # even 50 in the same microsecond range are distinct
    assert before - 1 <= float(parent) and float(values[-1]) <= after + 1
