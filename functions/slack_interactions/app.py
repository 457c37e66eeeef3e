"""SlackInteractionsFunction: Slack's interactivity and Events API requests (HttpApi).

Acks within Slack's 3 seconds: a Resolve click is handled inline (a few fast calls); a question asked
in an incident's thread is handed to an asynchronous invocation of this same function.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from opsloop import wiring
from opsloop.config import get_secrets, get_settings
from opsloop.observability import count, logger
from opsloop.resolve import HttpResponse, body_of, handle_resolve


def _reply_via(response_url: str):
    def reply(text: str) -> None:
        if not response_url:
            return
        from slack_sdk.webhook import WebhookClient

        try:
            WebhookClient(response_url, timeout=2).send(text=text, response_type="ephemeral", replace_original=False)
        except Exception as exc:  # noqa: BLE001 - a lost ephemeral note must not fail the click
            logger().warning("ephemeral reply failed", extra={"error": type(exc).__name__})
    return reply


def _http(event: dict[str, Any]) -> HttpResponse:
    from opsloop.slack.interactions import SlackRequestRejected, parse_event, parse_interaction, verify_request

    body = body_of(event)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        verify_request(headers, body, get_secrets().slack_signing_secret.get_secret_value())
    except SlackRequestRejected as exc:
        count("SlackRequestRejected", reason=exc.reason)
        logger().warning("slack request rejected", extra={"reason": exc.reason})
        return HttpResponse(401, {"error": "request rejected"})
    path = str(event.get("rawPath") or event.get("path") or "")
    if path.endswith("/slack/events"):
        ev = parse_event(body)
        if getattr(ev, "challenge", None):
            return HttpResponse(200, {"challenge": ev.challenge})
        if headers.get("x-slack-retry-num"):
            return HttpResponse(200, {"ok": True})  # already being answered
        if getattr(ev, "type", "") == "app_mention" and getattr(ev, "thread_ts", None) and not getattr(ev, "bot_id", None):
            _invoke_self({"opsloop_async": "question", "channel": ev.channel, "thread_ts": ev.thread_ts,
                          "user": ev.user, "text": ev.text})
        return HttpResponse(200, {"ok": True})
    interaction = parse_interaction(body)
    if interaction.action_id != "resolve_incident":
        return HttpResponse(200, {"ok": True})
    notifier = wiring.slack_notifier()
    outcome = handle_resolve(interaction, store=wiring.incident_store(), sfn=wiring.aws_client("stepfunctions"),
                             allowed=get_settings().allowed_resolvers, is_member=notifier.is_channel_member,
                             reply=_reply_via(interaction.response_url), now=time.time())
    return HttpResponse(200, {"ok": True, "outcome": outcome})


def _invoke_self(payload: dict[str, Any]) -> None:
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not name:
        return _answer(payload)  # outside Lambda (offline run): answer inline
    wiring.aws_client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload).encode())


def _answer(payload: dict[str, Any]) -> None:
    from opsloop.questions import answer_in_thread

    answer_in_thread(str(payload.get("channel", "")), str(payload.get("thread_ts", "")), str(payload.get("text", "")),
                     store=wiring.incident_store(), notifier=wiring.slack_notifier(), analyst=wiring.analyst())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if event.get("opsloop_async") == "question":
        _answer(event)
        return {"ok": True}
    return _http(event).to_api_gateway()
