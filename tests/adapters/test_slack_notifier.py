"""SlackNotifier against a local HTTP server with the real slack_sdk WebClient: the exact Web API calls,
thread pagination, and Slack failures mapped to the two errors Step Functions acts on."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

from opsloop.errors import PermanentError, TransientError
from opsloop.models import Analysis, Classification, Incident, ThreadMessage
from opsloop.ports import PostedMessage
from opsloop.slack.notifier import SlackNotifier, make_client

TOKEN = "xoxb-1111-2222-notarealtoken"
CHANNEL = "C0INCIDENTS"
INCIDENT = Incident(incident_id="inc-1", fingerprint="fp", template="Timeout <*>", message="Timeout <!here> after 30s",
                    source="/ecs/orders-api", service="orders-api", exception="TimeoutError", occurrences=2)
CLASSIFICATION = Classification(category="timeout", severity="medium")
ANALYSIS = Analysis(summary="Upstream is slow.", root_cause="Pool too small.", fix_steps=["Raise the pool"])
MESSAGE = PostedMessage(channel=CHANNEL, ts="1790000000.000100")


@pytest.fixture
def notifier(httpserver: HTTPServer) -> SlackNotifier:
    client = make_client(TOKEN, base_url=httpserver.url_for("/api/"), max_retry_count=1, max_retry_wait_seconds=1)
    return SlackNotifier(client, CHANNEL)


def requests(httpserver: HTTPServer, method: str) -> list[Request]:
    return [req for req, _ in httpserver.log if req.path == f"/api/{method}"]


def form(req: Request) -> dict[str, str]:
    return {k: v for k, v in req.form.items()}


def texts(o: Any) -> list[str]:
    if isinstance(o, dict):
        return [v for k, v in o.items() if k == "text" and isinstance(v, str)] + \
            [t for v in o.values() for t in texts(v)]
    if isinstance(o, list):
        return [t for x in o for t in texts(x)]
    return []


def test_post_incident_sends_blocks_and_text_and_returns_channel_ts_and_permalink(
        httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": CHANNEL, "ts": "1790000000.000100", "message": {}})
    httpserver.expect_request("/api/chat.getPermalink").respond_with_json(
        {"ok": True, "channel": CHANNEL, "permalink": "https://acme.slack.com/archives/C0INCIDENTS/p1790000000000100"})

    posted = notifier.post_incident(INCIDENT, CLASSIFICATION, ANALYSIS)

    assert posted == PostedMessage(channel=CHANNEL, ts="1790000000.000100",
                                   permalink="https://acme.slack.com/archives/C0INCIDENTS/p1790000000000100")
    [req] = requests(httpserver, "chat.postMessage")
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    body = req.get_json()
    assert set(body) == {"channel", "text", "blocks", "unfurl_links", "unfurl_media"}
    assert body["channel"] == CHANNEL
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    assert body["text"] == "[MEDIUM] TimeoutError in orders-api — Upstream is slow."
    assert body["blocks"][-1]["elements"][0]["value"] == "inc-1"
    assert not any("<!here>" in t for t in texts(body))
    [perma] = requests(httpserver, "chat.getPermalink")
    assert form(perma) == {"channel": CHANNEL, "message_ts": "1790000000.000100"}


def test_a_failing_permalink_does_not_fail_the_post(httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": CHANNEL, "ts": "1790000000.000100"})
    httpserver.expect_request("/api/chat.getPermalink").respond_with_json({"ok": False, "error": "message_not_found"})
    assert notifier.post_incident(INCIDENT, CLASSIFICATION, ANALYSIS).permalink == ""


def test_update_occurrences_rewrites_the_same_message(httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_request("/api/chat.update").respond_with_json({"ok": True, "channel": CHANNEL,
                                                                     "ts": MESSAGE.ts})
    notifier.update_occurrences(MESSAGE, INCIDENT.__class__(**{**INCIDENT.to_dict(), "occurrences": 57}),
                                CLASSIFICATION, ANALYSIS)
    [req] = requests(httpserver, "chat.update")
    body = req.get_json()
    assert (body["channel"], body["ts"]) == (CHANNEL, MESSAGE.ts)
    assert "*Occurrences:* 57" in texts(body["blocks"])
    assert any(b["type"] == "actions" for b in body["blocks"])


def test_post_in_thread_replies_under_the_incident(httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": CHANNEL, "ts": "1790000000.000300"})
    ts = notifier.post_in_thread(MESSAGE, ":hourglass: Still open after *2 h*. <https://x.example|runbook>")
    assert ts == "1790000000.000300"
    body = requests(httpserver, "chat.postMessage")[0].get_json()
    assert body["thread_ts"] == MESSAGE.ts and body["channel"] == CHANNEL
    assert body["text"] == ":hourglass: Still open after *2 h*. <https://x.example|runbook>"  # trusted: as given


def test_mark_resolved_swaps_the_button_for_the_resolution(httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_request("/api/chat.update").respond_with_json({"ok": True, "channel": CHANNEL, "ts": MESSAGE.ts})
    notifier.mark_resolved(MESSAGE, INCIDENT, CLASSIFICATION, ANALYSIS, "U024BE7LH",
                           "https://acme.atlassian.net/wiki/x/1")
    body = requests(httpserver, "chat.update")[0].get_json()
    assert not any(b["type"] == "actions" for b in body["blocks"])
    assert body["blocks"][-1]["elements"][0]["text"].startswith(":white_check_mark: Resolved by <@U024BE7LH>")
    assert body["text"].startswith("Resolved by U024BE7LH")


def test_fetch_thread_follows_the_cursor_and_bounds_each_message(
        httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    page1 = {"ok": True, "has_more": True, "response_metadata": {"next_cursor": "bmV4dF90czoxNzkw"},
             "messages": [{"type": "message", "user": "U0OPSLOOP", "bot_id": "B0OPSLOOP", "text": "incident",
                           "ts": MESSAGE.ts},
                          {"type": "message", "user": "U1", "text": "looking\x00 " + "a" * 9000,
                           "ts": "1790000000.000200", "thread_ts": MESSAGE.ts}]}
    page2 = {"ok": True, "has_more": False, "response_metadata": {"next_cursor": ""},
             "messages": [{"type": "message", "bot_id": "B0OTHER", "text": "bot says", "ts": "1790000000.000300"}]}
    httpserver.expect_ordered_request("/api/conversations.replies").respond_with_json(page1)
    httpserver.expect_ordered_request("/api/conversations.replies").respond_with_json(page2)

    thread = notifier.fetch_thread(MESSAGE)

    assert [(m.user, m.ts) for m in thread] == [("U0OPSLOOP", MESSAGE.ts), ("U1", "1790000000.000200"),
                                                ("B0OTHER", "1790000000.000300")]
    assert thread[1].text.startswith("looking a") and len(thread[1].text) == 4000 and thread[1].text.endswith("…")
    first, second = requests(httpserver, "conversations.replies")
    assert form(first) == {"channel": CHANNEL, "ts": MESSAGE.ts, "limit": "200"}
    assert form(second) == {"channel": CHANNEL, "ts": MESSAGE.ts, "limit": "198", "cursor": "bmV4dF90czoxNzkw"}


def test_fetch_thread_stops_at_the_limit(httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    msgs = [{"user": f"U{i}", "text": str(i), "ts": f"1790000000.{i:06d}"} for i in range(1, 4)]
    httpserver.expect_ordered_request("/api/conversations.replies").respond_with_json(
        {"ok": True, "messages": msgs[:2], "response_metadata": {"next_cursor": "c2"}})
    httpserver.expect_ordered_request("/api/conversations.replies").respond_with_json(
        {"ok": True, "messages": msgs[2:], "response_metadata": {"next_cursor": "c3"}})
    thread = notifier.fetch_thread(MESSAGE, limit=3)
    assert thread == [ThreadMessage(user=f"U{i}", text=str(i), ts=f"1790000000.{i:06d}") for i in range(1, 4)]
    assert [form(r)["limit"] for r in requests(httpserver, "conversations.replies")] == ["3", "1"]


def test_is_channel_member_pages_through_members(httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_ordered_request("/api/conversations.members").respond_with_json(
        {"ok": True, "members": ["U1", "U2"], "response_metadata": {"next_cursor": "page2"}})
    httpserver.expect_ordered_request("/api/conversations.members").respond_with_json(
        {"ok": True, "members": ["U3"], "response_metadata": {"next_cursor": ""}})
    assert notifier.is_channel_member(CHANNEL, "U3") is True
    assert form(requests(httpserver, "conversations.members")[1])["cursor"] == "page2"
    httpserver.clear_log()
    httpserver.expect_request("/api/conversations.members").respond_with_json(
        {"ok": True, "members": ["U1"], "response_metadata": {"next_cursor": ""}})
    assert notifier.is_channel_member(CHANNEL, "U9") is False


def test_rate_limiting_is_retried_then_surfaces_as_transient(httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"})
    with pytest.raises(TransientError) as err:
        notifier.post_incident(INCIDENT, CLASSIFICATION, ANALYSIS)
    assert "ratelimited" in str(err.value) and TOKEN not in str(err.value)
    assert len(requests(httpserver, "chat.postMessage")) == 2  # the first try and one retry (max_retry_count=1)


def test_a_retry_after_longer_than_the_cap_is_not_slept_through(
        httpserver: HTTPServer, notifier: SlackNotifier) -> None:
    httpserver.expect_request("/api/chat.update").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(TransientError):
        notifier.update_occurrences(MESSAGE, INCIDENT, CLASSIFICATION, ANALYSIS)
    assert len(requests(httpserver, "chat.update")) == 1


@pytest.mark.parametrize("status,error,expected", [
    (200, "invalid_auth", PermanentError), (200, "channel_not_found", PermanentError),
    (200, "not_in_channel", PermanentError), (200, "missing_scope", PermanentError),
    (200, "service_unavailable", TransientError), (200, "fatal_error", TransientError),
    (500, "internal_error", TransientError), (503, "", TransientError),
])
def test_slack_errors_map_to_transient_or_permanent(httpserver: HTTPServer, notifier: SlackNotifier, status: int,
                                                    error: str, expected: type[Exception]) -> None:
    if error:
        httpserver.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": error},
                                                                             status=status)
    else:
        httpserver.expect_request("/api/chat.postMessage").respond_with_data("<html>down</html>", status=status)
    with pytest.raises(expected) as err:
        notifier.post_in_thread(MESSAGE, "hello")
    assert type(err.value) is expected
    assert (error or f"http_{status}") in str(err.value)
    assert TOKEN not in str(err.value) and "hello" not in str(err.value)


def test_an_unreachable_slack_is_transient() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(TOKEN, base_url=f"http://127.0.0.1:{port}/api/", max_retry_count=0, timeout=2)
    with pytest.raises(TransientError) as err:
        SlackNotifier(client, CHANNEL).post_in_thread(MESSAGE, "hello")
    assert TOKEN not in str(err.value)


def test_make_client_keeps_the_base_url_usable_without_a_trailing_slash(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/auth.test").respond_with_json({"ok": True, "user_id": "U0OPSLOOP"})
    client = make_client(TOKEN, base_url=httpserver.url_for("/api"))
    assert client.auth_test()["user_id"] == "U0OPSLOOP"
    assert json.loads(json.dumps(client.auth_test().data))["ok"] is True


def test_post_notice_posts_top_level_in_the_incident_channel() -> None:
    # GIVEN the local Slack stand-in and a real WebClient
    import json
    import tempfile
    from pathlib import Path

    from opsloop.local.slack_server import SlackStandIn
    from opsloop.slack.notifier import SlackNotifier, make_client

    out = Path(tempfile.mkdtemp())
    with SlackStandIn(out, "xoxb-t", "C0OPS") as server:
        notifier = SlackNotifier(make_client("xoxb-t", base_url=server.base_url), "C0OPS")
        # WHEN a failure is reported before any incident message exists
        posted = notifier.post_notice(":x: step *publish* failed")
    # THEN one top-level message went to the channel, with no thread_ts
    calls = [json.loads(p.read_text()) for p in sorted((out / "slack").glob("*.json"))]
    posts = [c["payload"] for c in calls if c["method"] == "chat.postMessage"]
    assert posted.ts and posts[-1]["channel"] == "C0OPS" and "thread_ts" not in posts[-1]
