"""The one inbound path from Slack: interactivity, the Events API and the ``/opsloop`` slash command.

Every request reaching SlackInteractionsFunction goes through :func:`route`, in this order:

1. the signing secret is read and checked (a placeholder or malformed secret refuses every request: 503);
2. the body is decoded strictly (256 KB cap, strict base64, UTF-8) and its signature and 5-minute replay
   window verified (401 when not provably from Slack; 400 when the body cannot even be decoded);
3. the verified body is parsed into a typed record; a signed but malformed request answers 400 with a
   short reason (never 500);
4. the path's handler runs. Slack retries (``X-Slack-Retry-Num``) are not acked blindly: an Events API
   delivery is answered unless the store says its ``event_id`` was already answered.

Handlers acknowledge within Slack's 3 seconds: clicks and commands do a few fast calls inline; a thread
question is handed to an asynchronous invocation of the same function.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InputError
from ..observability import count, logger

if TYPE_CHECKING:
    from ..ports import TaskCallbacks
from .interactions import (Interaction, SlackEvent, SlackRequestRejected, UrlVerification, ViewSubmission,
                           parse_command, parse_event, parse_payload, verify_api_event)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: dict[str, Any]

    def to_api_gateway(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(self.body)}


@dataclass
class SlackPorts:
    """What the Slack handlers need, each built only when first used (a rejected request builds nothing)."""

    signing_secret: Callable[[], str]
    store: Callable[[], Any]
    callbacks: Callable[[], TaskCallbacks]
    notifier: Callable[[], Any]
    analyst: Callable[[], Any]
    allowed_resolvers: Callable[[], list[str]]
    summarizer: Callable[[], Any] = field(default=lambda: None)
    invoke_async: Callable[[dict[str, Any]], None] | None = None  # None: answer inline (offline run, tests)
    clock: Callable[[], float] = time.time


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    raw = event.get("headers")
    return {str(k).lower(): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _path(event: Mapping[str, Any]) -> str:
    path = str(event.get("rawPath") or event.get("path") or "")
    for name in ("interactions", "events", "commands"):
        if path.rstrip("/").endswith("/slack/" + name):
            return name
    return ""


def route(event: Mapping[str, Any], ports: SlackPorts) -> HttpResponse:
    """Answer one API Gateway (HTTP API v2) request from Slack."""
    path = _path(event)
    if not path:
        return HttpResponse(404, {"error": "unknown path"})
    try:
        secret = ports.signing_secret()
    except ConfigError as exc:
        return HttpResponse(503, {"error": str(exc)})
    try:
        body = verify_api_event(event, secret, now=ports.clock())
    except SlackRequestRejected as exc:
        count("SlackRequestRejected", reason=exc.reason)
        logger().warning("slack request rejected", extra={"reason": exc.reason})
        return HttpResponse(401, {"error": "request rejected"})
    except InputError as exc:
        count("SlackRequestRejected", reason="undecodable")
        return HttpResponse(400, {"error": str(exc)})
    headers = _headers(event)
    try:
        if path == "events":
            return _events(body, headers, ports)
        if path == "commands":
            from .commands import handle_command

            return HttpResponse(200, handle_command(parse_command(body), ports))
        return _interactions(body, ports)
    except InputError as exc:
        count("SlackRequestMalformed", path=path)
        logger().warning("signed slack request is malformed", extra={"path": path, "reason": str(exc)[:200]})
        return HttpResponse(400, {"error": str(exc)[:200]})


# -- interactivity -------------------------------------------------------------------------------------
def _interactions(body: str, ports: SlackPorts) -> HttpResponse:
    record = parse_payload(body)
    if isinstance(record, ViewSubmission):
        from .actions import handle_view_submission

        return HttpResponse(200, handle_view_submission(record, ports))
    from .actions import handle_action

    return HttpResponse(200, handle_action(record, ports))


# -- Events API ----------------------------------------------------------------------------------------
def question_of(ev: SlackEvent | UrlVerification) -> SlackEvent | None:
    """The event when it is a person's question in a thread (an @mention there), else None."""
    if isinstance(ev, SlackEvent) and ev.type == "app_mention" and ev.thread_ts and not ev.ignorable:
        return ev
    return None


def _events(body: str, headers: Mapping[str, str], ports: SlackPorts) -> HttpResponse:
    ev = parse_event(body)
    if isinstance(ev, UrlVerification):
        return HttpResponse(200, {"challenge": ev.challenge})
    question = question_of(ev)
    if question is None:
        return HttpResponse(200, {"ok": True})
    key = question.event_id or f"{question.channel}-{question.ts}"
    retry = headers.get("x-slack-retry-num")
    if retry and ports.store().event_answered(key):
        return HttpResponse(200, {"ok": True, "outcome": "already answered"})
    job = {"opsloop_async": "question", "event_id": key, "channel": question.channel,
           "thread_ts": question.thread_ts, "user": question.user, "text": question.text}
    if ports.invoke_async is None:
        return HttpResponse(200, {"ok": True, "outcome": answer_question(job, ports)})
    ports.invoke_async(job)
    return HttpResponse(200, {"ok": True, "outcome": "answering"})


def answer_question(job: Mapping[str, Any], ports: SlackPorts) -> str:
    """Answer a question job once per Slack event: answered | duplicate | not an incident thread."""
    from ..questions import answer_in_thread

    store = ports.store()
    key = str(job.get("event_id") or "")
    if key and not store.claim_event(key, now=ports.clock()):
        count("SlackEventDuplicate")
        return "duplicate"
    try:
        answered = answer_in_thread(str(job.get("channel", "")), str(job.get("thread_ts", "")),
                                    str(job.get("text", "")), store=store, notifier=ports.notifier(),
                                    analyst=ports.analyst())
    except Exception:
        if key:  # let Slack's next retry (or a later delivery) answer it
            try:
                store.event_done(key, answered=False)
            except Exception:  # noqa: BLE001 - the claim lapses after its lease anyway
                pass
        raise
    if key:
        store.event_done(key)
    return "answered" if answered else "not an incident thread"


def handle(event: Mapping[str, Any], ports: SlackPorts) -> dict[str, Any]:
    """The Lambda entry point's body: an asynchronous question job, or an HTTP request from Slack."""
    if event.get("opsloop_async") == "question":
        return {"ok": True, "outcome": answer_question(event, ports)}
    return route(event, ports).to_api_gateway()


def default_ports() -> SlackPorts:
    """The deployed wiring: adapters from :mod:`opsloop.wiring`, secrets checked before use."""
    import os

    from .. import wiring
    from ..config import get_secrets, get_settings
    from .credentials import checked_signing_secret

    def invoke_async(job: dict[str, Any]) -> None:
        wiring.aws_client("lambda").invoke(FunctionName=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                                           InvocationType="Event", Payload=json.dumps(job).encode())

    return SlackPorts(
        signing_secret=lambda: checked_signing_secret(get_secrets().slack_signing_secret.get_secret_value()),
        store=wiring.incident_store, callbacks=wiring.task_callbacks, notifier=wiring.slack_notifier,
        analyst=wiring.analyst, summarizer=wiring.summarizer,
        allowed_resolvers=lambda: get_settings().allowed_resolvers,
        invoke_async=invoke_async if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else None)


__all__ = ["default_ports", "HttpResponse", "Interaction", "SlackPorts", "answer_question", "handle", "question_of", "route"]
