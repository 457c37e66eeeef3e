"""The Notifier port over the Slack Web API (slack_sdk's WebClient).

Step Functions decides what to do with a failure by the error's class name, so every Slack failure leaves
this module as :class:`~opsloop.errors.TransientError` (rate limits, 5xx, connection trouble: worth a retry)
or :class:`~opsloop.errors.PermanentError` (bad token, unknown channel, missing scope: a retry will not
help). Messages carry the Slack method and error code, never the token or the message content.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterator
from http.client import HTTPException
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from ..errors import PermanentError, TransientError
from ..models import Analysis, Classification, Incident, ThreadMessage
from ..ports import PostedMessage
from .blocks import MESSAGE_TEXT_MAX, fallback_text, incident_blocks
from .messages import IncidentRoom
from .mrkdwn import clean, truncate

log = logging.getLogger(__name__)
_ERROR_CODE = re.compile(r"[a-z0-9_]{1,64}")

THREAD_TEXT_MAX = 4000  # per fetched message: enough for a discussion, bounded for the summariser's prompt
REPLIES_PAGE_SIZE = 200  # conversations.replies accepts up to 1000; Slack recommends no more than 200
MEMBERS_PAGE_SIZE = 200
MAX_PAGES = 100  # a cursor that never ends must not keep a Lambda busy until its timeout

# Slack error codes that say "try again later" (https://docs.slack.dev/reference/methods/chat.postMessage#errors)
TRANSIENT_SLACK_ERRORS = frozenset({
    "ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error", "request_timeout",
    "team_added_to_org", "message_limit_exceeded",
})


class CappedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, but it gives up when Slack asks for a longer wait than a Lambda should sleep.

    The stock handler sleeps for whatever Retry-After says; a long one would burn the function's timeout.
    Giving up raises TransientError, and Step Functions retries later with backoff instead.
    """

    def __init__(self, max_retry_count: int = 2, max_wait_seconds: float = 10.0):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return _retry_after(response) <= self.max_wait_seconds

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        import time

        state.next_attempt_requested = True
        time.sleep(min(_retry_after(response), self.max_wait_seconds) + random.random() * 0.1)
        state.increment_current_attempt()


def _retry_after(response: HttpResponse | None) -> float:
    if response is None:
        return 0.0
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            raw = values[0] if isinstance(values, list) and values else values
            try:
                return max(0.0, float(str(raw)))
            except ValueError:
                return 1.0
    return 1.0


def make_client(token: str, base_url: str | None = None, *, timeout: int = 10, max_retry_count: int = 2,
                max_retry_wait_seconds: float = 10.0) -> WebClient:
    """A WebClient that retries 429s (honouring a bounded Retry-After) and dropped connections."""
    handlers: list[RetryHandler] = [
        CappedRateLimitRetryHandler(max_retry_count=max_retry_count, max_wait_seconds=max_retry_wait_seconds),
        ConnectionErrorRetryHandler(max_retry_count=max_retry_count),
    ]
    kwargs: dict[str, Any] = {"token": token, "timeout": timeout, "retry_handlers": handlers}
    if base_url:
        kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    return WebClient(**kwargs)


def map_slack_error(method: str, exc: BaseException) -> Exception:
    """Translate a slack_sdk / transport failure into TransientError or PermanentError."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", 0) or 0
        data = getattr(response, "data", None)
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        # Slack's codes are snake_case words; anything else (an HTML error page, say) is not echoed.
        code = code if _ERROR_CODE.fullmatch(code) else f"http_{status}"
        message = f"Slack {method} failed: {code} (HTTP {status})"
        if status == 429 or status >= 500 or code in TRANSIENT_SLACK_ERRORS:
            return TransientError(message)
        return PermanentError(message)
    if isinstance(exc, (URLError, TimeoutError, ConnectionError, HTTPException, OSError)):
        return TransientError(f"Slack {method} failed: {type(exc).__name__} (connection)")
    if isinstance(exc, SlackClientError):
        return PermanentError(f"Slack {method} failed: {type(exc).__name__}")
    return PermanentError(f"Slack {method} failed: {type(exc).__name__}")


class SlackNotifier(IncidentRoom):
    """opsloop's :class:`~opsloop.ports.Notifier` for a Slack channel (the wording: :class:`IncidentRoom`).

    ``post_in_thread`` sends *trusted* mrkdwn written by opsloop itself (it may contain formatting and
    links); callers that quote anything untrusted in it must escape that part with
    :func:`opsloop.slack.mrkdwn.escape` first. Everything else builds its text from the incident and
    analysis through :mod:`opsloop.slack.blocks`, which escapes all of it.
    """

    def __init__(self, client: WebClient, channel: str, *, thread_text_max: int = THREAD_TEXT_MAX):
        self.client = client
        self.channel = channel
        self.thread_text_max = thread_text_max

    # -- plumbing ---------------------------------------------------------------------------------------
    def _call(self, method: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure leaves as one of two classes
            mapped = map_slack_error(method, exc)
            log.warning("slack call failed", extra={"slack_method": method, "error": str(mapped)})
            raise mapped from exc

    def _permalink(self, channel: str, ts: str) -> str:
        """The message's permalink, or "" when Slack cannot give one: a link is nice to have, not needed."""
        try:
            resp = self.client.chat_getPermalink(channel=channel, message_ts=ts)
            link = resp.get("permalink") if resp is not None else None
            return link if isinstance(link, str) else ""
        except Exception as exc:  # noqa: BLE001
            log.info("slack permalink unavailable", extra={"error": type(exc).__name__})
            return ""

    # -- Notifier -------------------------------------------------------------------------------------
    def post_incident(self, incident: Incident, classification: Classification,
                      analysis: Analysis) -> PostedMessage:
        resp = self._call(
            "chat.postMessage", self.client.chat_postMessage,
            channel=self.channel,
            text=fallback_text(incident, classification, analysis),
            blocks=incident_blocks(incident, classification, analysis),
            unfurl_links=False, unfurl_media=False,
        )
        channel = str(resp.get("channel") or self.channel)
        ts = str(resp.get("ts") or "")
        if not ts:
            raise PermanentError("Slack chat.postMessage answered without a message ts")
        return PostedMessage(channel=channel, ts=ts, permalink=self._permalink(channel, ts))

    def update_occurrences(self, message: PostedMessage, incident: Incident, classification: Classification,
                           analysis: Analysis) -> None:
        self._call(
            "chat.update", self.client.chat_update,
            channel=message.channel, ts=message.ts,
            text=fallback_text(incident, classification, analysis),
            blocks=incident_blocks(incident, classification, analysis),
        )

    def show_state(self, message: PostedMessage, incident: Incident, classification: Classification,
                   analysis: Analysis | None, state: str) -> None:
        """Update the incident message with a state line (acknowledged, snoozed, not an incident, …)."""
        self._call(
            "chat.update", self.client.chat_update,
            channel=message.channel, ts=message.ts,
            text=fallback_text(incident, classification, analysis or Analysis(summary="", root_cause="")),
            blocks=incident_blocks(incident, classification, analysis, state=state),
        )

    def post_in_thread(self, message: PostedMessage, text: str) -> str:
        """Reply in the incident's thread with opsloop-authored mrkdwn (trusted; bounded to Slack's limit)."""
        resp = self._call(
            "chat.postMessage", self.client.chat_postMessage,
            channel=message.channel, thread_ts=message.ts,
            text=truncate(clean(text), MESSAGE_TEXT_MAX),
            unfurl_links=False, unfurl_media=False,
        )
        return str(resp.get("ts") or "")

    def post_notice(self, text: str) -> PostedMessage:
        """A top-level message in the incident channel with opsloop-authored mrkdwn (e.g. a failure report
        for an incident that failed before its message was posted)."""
        resp = self._call(
            "chat.postMessage", self.client.chat_postMessage,
            channel=self.channel, text=truncate(clean(text), MESSAGE_TEXT_MAX),
            unfurl_links=False, unfurl_media=False,
        )
        return PostedMessage(channel=str(resp.get("channel") or self.channel), ts=str(resp.get("ts") or ""))

    def mark_resolved(self, message: PostedMessage, incident: Incident, classification: Classification,
                      analysis: Analysis, resolved_by: str, page_url: str) -> None:
        self._call(
            "chat.update", self.client.chat_update,
            channel=message.channel, ts=message.ts,
            text=fallback_text(incident, classification, analysis, resolved_by=resolved_by),
            blocks=incident_blocks(incident, classification, analysis, resolved_by=resolved_by,
                                   page_url=page_url),
        )

    def fetch_thread(self, message: PostedMessage, limit: int = 200) -> list[ThreadMessage]:
        """The thread, parent first, oldest to newest, at most ``limit`` messages.

        Bot messages are kept (opsloop's own answers are part of the story); their author is the bot id.
        Text is raw (escape it for wherever it goes next) but bounded and free of control characters.
        """
        out: list[ThreadMessage] = []
        for raw in self._paginate("conversations.replies", self.client.conversations_replies, "messages",
                                  channel=message.channel, ts=message.ts, page_size=REPLIES_PAGE_SIZE,
                                  limit=limit):
            if not isinstance(raw, dict):
                continue
            author = raw.get("user") or raw.get("bot_id") or raw.get("username") or ""
            out.append(ThreadMessage(
                user=truncate(clean(author), 64),
                text=truncate(clean(raw.get("text") or ""), self.thread_text_max),
                ts=str(raw.get("ts") or ""),
            ))
        return out

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """Open a modal for the person whose click carried ``trigger_id`` (valid for 3 seconds)."""
        resp = self._call("views.open", self.client.views_open, trigger_id=trigger_id, view=view)
        opened = resp.get("view") if resp is not None else None
        return str(opened.get("id", "")) if isinstance(opened, dict) else ""

    def is_channel_member(self, channel: str, user: str) -> bool:
        """Whether ``user`` is in ``channel`` (used to authorise a Resolve click)."""
        members = self._paginate("conversations.members", self.client.conversations_members, "members",
                                 channel=channel, page_size=MEMBERS_PAGE_SIZE, limit=None)
        return any(m == user for m in members)

    def _paginate(self, method: str, fn: Callable[..., Any], key: str, *, page_size: int,
                  limit: int | None, **kwargs: Any) -> Iterator[Any]:
        cursor: str | None = None
        yielded = 0
        for _ in range(MAX_PAGES):
            want = page_size if limit is None else min(page_size, limit - yielded)
            if want <= 0:
                return
            args = dict(kwargs, limit=want)
            if cursor:
                args["cursor"] = cursor
            resp = self._call(method, fn, **args)
            for item in resp.get(key) or []:
                if limit is not None and yielded >= limit:
                    return
                yielded += 1
                yield item
            cursor = ((resp.get("response_metadata") or {}).get("next_cursor") or "").strip()
            if not cursor:
                return
        log.warning("slack pagination stopped", extra={"slack_method": method, "pages": MAX_PAGES})


__all__ = ["CappedRateLimitRetryHandler", "SlackNotifier", "make_client", "map_slack_error"]
