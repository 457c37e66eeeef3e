"""A small local Slack: the subset of the Web API opsloop calls, served on 127.0.0.1.

It lets the offline run, and the adapter tests, drive the real ``slack_sdk.WebClient`` end to end without a
workspace. It behaves like Slack where opsloop can notice: a bearer token that must match (else
``invalid_auth``), JSON or form-encoded bodies, wall-clock, strictly increasing message timestamps (``seconds.micros``), threads, cursor pagination,
and messages Slack would refuse (more than 50 blocks, blocks that do not validate, text over 40,000
characters) refused the same way.

Methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.getPermalink``,
``conversations.replies``, ``conversations.members``.

Every call is recorded as ``<out>/slack/<NNNN>-<method>.json`` = ``{"method": ..., "payload": ...}``, the
payload being the request body as received (blocks left as sent; a ``token`` field, if any, removed). The
numbering continues after files already there, so two runs into one out dir keep both conversations.

A fault plan (:mod:`opsloop.local.faults`) can make a method answer HTTP 429 (``Retry-After``, error
``ratelimited``) or a 5xx before anything is recorded or changed, as Slack does when it refuses a call.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .loopback import LoopbackServer

MAX_BODY = 5 * 1024 * 1024
MAX_BLOCKS = 50
MAX_TEXT = 40_000
_RECORD_NAME = re.compile(r"^(\d{4,})-[A-Za-z0-9_.]+\.json$")
_METHOD = re.compile(r"^[A-Za-z0-9_.]{1,64}$")


class SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class SlackStandIn(LoopbackServer):
    """A local Slack Web API subset. ``start()`` returns the base URL to give ``WebClient(base_url=...)``."""

    def __init__(self, out_dir: Path, token: str, channel: str, *, members: Iterable[str] = ("U0LOCAL",),
                 bot_user_id: str = "U0OPSLOOP", bot_id: str = "B0OPSLOOP", team: str = "opsloop-local",
                 faults: Any = None, scopes: Iterable[str] | None = None) -> None:
        """``scopes``: sent as the ``x-oauth-scopes`` header, like Slack does for the token's granted scopes."""
        self.root = Path(out_dir) / "slack"
        self.faults = faults  # an opsloop.local.faults.FaultPlan, or None
        self.scopes = None if scopes is None else ",".join(scopes)
        self._token = token
        self.channel = channel
        self.members = list(members)
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team = team
        self._lock = threading.RLock()
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._pending_seeds: dict[str, list[dict[str, Any]]] = {}
        self.views: list[dict[str, Any]] = []  # modals opened with views.open, in order
        self._seq = 0
        self._last_ts_micros = 0
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        existing = [int(m.group(1)) for p in self.root.iterdir() if (m := _RECORD_NAME.match(p.name))]
        self._seq = max(existing, default=0)
        stand_in = self

        class Handler(_Handler):
            server_version = "opsloop-slack-stand-in"
            owner = stand_in

        self.base_url = self._serve(Handler, "/api/", "slack-stand-in")
        return self.base_url

    # -- inspection and seeding -----------------------------------------------------------------------
    def messages(self) -> list[dict[str, Any]]:
        """Every message the channel holds (posted or seeded), oldest first, as Slack would return them."""
        with self._lock:
            return [copy.deepcopy(m) for m in sorted(self._messages.values(), key=lambda m: _ts_key(m["ts"]))]

    def seed_thread(self, channel: str, thread_ts: str | None, messages: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add replies from people to a thread, as if they had been typed in Slack; returns their ts.

        Each message is ``{"user": "U…", "text": "…"}`` (optional ``ts``, ``bot_id``). With ``thread_ts`` None
        the replies wait for the next top-level message posted in ``channel`` and join its thread, so a
        discussion can be prepared before the incident is posted.
        """
        prepared = [self._seed_message(m) for m in messages]
        with self._lock:
            if thread_ts is None:
                self._pending_seeds.setdefault(channel, []).extend(prepared)
                return []
            return [self._store_reply(channel, thread_ts, m) for m in prepared]

    @staticmethod
    def _seed_message(m: Mapping[str, Any]) -> dict[str, Any]:
        msg = {"type": "message", "user": str(m.get("user") or "U0LOCAL"), "text": str(m.get("text") or "")}
        for key in ("ts", "bot_id", "username"):
            if m.get(key):
                msg[key] = str(m[key])
        return msg

    def _store_reply(self, channel: str, thread_ts: str, msg: dict[str, Any]) -> str:
        msg = dict(msg)
        msg.setdefault("ts", self._next_ts())
        msg["thread_ts"] = thread_ts
        self._messages[(channel, msg["ts"])] = msg
        return str(msg["ts"])

    def _next_ts(self) -> str:
        """Slack's message id: wall-clock ``seconds.micros``, strictly increasing within the channel."""
        with self._lock:
            micros = max(time.time_ns() // 1000, self._last_ts_micros + 1)
            self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -- the API ---------------------------------------------------------------------------------------
    def _record(self, method: str, payload: Mapping[str, Any]) -> None:
        clean = {k: v for k, v in payload.items() if k != "token"}
        with self._lock:
            self._seq += 1
            path = self.root / f"{self._seq:04d}-{method}.json"
            path.write_text(json.dumps({"method": method, "payload": clean}, indent=2, ensure_ascii=False),
                            encoding="utf-8")

    def _authorised(self, header: str | None, payload: Mapping[str, Any]) -> None:
        supplied = ""
        if header and header.startswith("Bearer "):
            supplied = header[len("Bearer "):].strip()
        elif isinstance(payload.get("token"), str):
            supplied = payload["token"]
        if not supplied:
            raise SlackError("not_authed")
        if not hmac.compare_digest(supplied.encode(), self._token.encode()):
            raise SlackError("invalid_auth")

    def handle(self, method: str, payload: dict[str, Any], authorization: str | None, origin: str) -> dict[str, Any]:
        self._record(method, payload)
        self._authorised(authorization, payload)
        handler = _METHODS.get(method)
        if handler is None:
            raise SlackError("unknown_method")
        with self._lock:
            result = handler(self, payload, origin)
        return {"ok": True, **result}

    def _channel(self, payload: Mapping[str, Any]) -> str:
        channel = str(payload.get("channel") or "")
        if channel != self.channel:
            raise SlackError("channel_not_found")
        return channel

    def _api_post_message(self, payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
        channel = self._channel(payload)
        text, blocks = _checked_content(payload)
        if not text and not blocks:
            raise SlackError("no_text")
        msg: dict[str, Any] = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id,
                               "text": text, "ts": self._next_ts(), "team": "T0LOCAL"}
        if blocks:
            msg["blocks"] = blocks
        thread_ts = str(payload.get("thread_ts") or "")
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = self._messages.get((channel, thread_ts))
            if parent is not None:
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
        self._messages[(channel, msg["ts"])] = msg
        if not thread_ts:
            for seeded in self._pending_seeds.pop(channel, []):
                self._store_reply(channel, msg["ts"], seeded)
        return {"channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _api_update(self, payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
        channel = self._channel(payload)
        ts = str(payload.get("ts") or "")
        msg = self._messages.get((channel, ts))
        if msg is None:
            raise SlackError("message_not_found")
        text, blocks = _checked_content(payload)
        if "text" in payload:
            msg["text"] = text
        if "blocks" in payload:
            msg["blocks"] = blocks
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": channel, "ts": ts, "text": msg.get("text", ""), "message": copy.deepcopy(msg)}

    def _api_permalink(self, payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
        channel = self._channel(payload)
        ts = str(payload.get("message_ts") or "")
        if (channel, ts) not in self._messages:
            raise SlackError("message_not_found")
        return {"channel": channel, "permalink": f"{origin}/archives/{channel}/p{ts.replace('.', '')}"}

    def _api_replies(self, payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
        channel = self._channel(payload)
        ts = str(payload.get("ts") or "")
        thread = [m for (c, _), m in self._messages.items()
                  if c == channel and (m["ts"] == ts or m.get("thread_ts") == ts)]
        if not thread:
            raise SlackError("thread_not_found")
        thread.sort(key=lambda m: _ts_key(m["ts"]))
        page, next_cursor = _page(thread, payload, default_limit=1000)
        return {"messages": copy.deepcopy(page), "has_more": bool(next_cursor),
                "response_metadata": {"next_cursor": next_cursor}}

    def _api_members(self, payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
        self._channel(payload)
        page, next_cursor = _page(self.members, payload, default_limit=100)
        return {"members": list(page), "response_metadata": {"next_cursor": next_cursor}}

    def _api_views_open(self, payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
        trigger = str(payload.get("trigger_id") or "")
        if not trigger:
            raise SlackError("invalid_trigger_id")
        view = _checked_view(payload.get("view"))
        opened = {**view, "id": f"V{len(self.views) + 1:08d}", "team_id": "T0LOCAL", "state": {"values": {}}}
        self.views.append(copy.deepcopy(opened))
        return {"view": opened}

    def _api_auth_test(self, payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
        return {"url": f"{origin}/", "team": self.team, "user": "opsloop", "team_id": "T0LOCAL",
                "user_id": self.bot_user_id, "bot_id": self.bot_id, "is_enterprise_install": False}


def _checked_view(view: Any) -> dict[str, Any]:
    """A modal view, refused the way Slack refuses it (Block Kit limits for views)."""
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            raise SlackError("invalid_arguments") from None
    if not isinstance(view, dict) or view.get("type") != "modal":
        raise SlackError("invalid_arguments")
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.views import View

    try:
        View(**view).validate_json()
    except (SlackObjectFormationError, TypeError, KeyError, ValueError):
        raise SlackError("invalid_arguments") from None
    blocks = view.get("blocks") or []
    if len(blocks) > 100 or len(str(view.get("private_metadata") or "")) > 3000 or \
            len(str(view.get("callback_id") or "")) > 255:
        raise SlackError("invalid_arguments")
    for block in blocks:
        element = block.get("element") or {}
        if element.get("type") == "plain_text_input":
            limit = int(element.get("max_length") or 3000)
            if limit > 3000 or len(str(element.get("initial_value") or "")) > limit:
                raise SlackError("invalid_arguments")
    return view


_METHODS = {
    "auth.test": SlackStandIn._api_auth_test,
    "views.open": SlackStandIn._api_views_open,
    "chat.postMessage": SlackStandIn._api_post_message,
    "chat.update": SlackStandIn._api_update,
    "chat.getPermalink": SlackStandIn._api_permalink,
    "conversations.replies": SlackStandIn._api_replies,
    "conversations.members": SlackStandIn._api_members,
}


def _ts_key(ts: str) -> tuple[int, int]:
    whole, _, frac = ts.partition(".")
    try:
        return int(whole), int((frac + "000000")[:6])
    except ValueError:
        return 0, 0


def _page(items: list[Any], payload: Mapping[str, Any], *, default_limit: int) -> tuple[list[Any], str]:
    """Slack-style cursor pagination: an opaque cursor, empty when there is nothing more."""
    try:
        limit = int(payload.get("limit") or default_limit)
    except (TypeError, ValueError):
        raise SlackError("invalid_limit") from None
    limit = max(1, min(limit, 1000))
    cursor = str(payload.get("cursor") or "")
    start = 0
    if cursor:
        if not cursor.startswith("offset_") or not cursor[7:].isdigit():
            raise SlackError("invalid_cursor")
        start = int(cursor[7:])
    end = start + limit
    return items[start:end], (f"offset_{end}" if end < len(items) else "")


def _checked_content(payload: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The message's text and blocks, refused the way Slack refuses them."""
    text = payload.get("text") or ""
    if not isinstance(text, str):
        text = str(text)
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    blocks: Any = payload.get("blocks") or []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            raise SlackError("invalid_blocks_format") from None
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise SlackError("invalid_blocks")
    if blocks:
        from slack_sdk.errors import SlackObjectFormationError
        from slack_sdk.models.blocks import Block

        for b in blocks:
            try:
                parsed = Block.parse(b) if isinstance(b, dict) else None
                if parsed is None:
                    raise SlackError("invalid_blocks")
                parsed.to_dict()
            except (SlackObjectFormationError, KeyError, TypeError, ValueError):
                raise SlackError("invalid_blocks") from None
    return text, blocks


class _Handler(BaseHTTPRequestHandler):
    owner: SlackStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the files are the log
        return

    def do_GET(self) -> None:  # noqa: N802
        self._serve(b"")

    def do_POST(self) -> None:  # noqa: N802
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._reply(413, {"ok": False, "error": "request_too_large"})
            return
        self._serve(self.rfile.read(length) if length else b"")

    def _serve(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        if not parts.path.startswith("/api/") or not _METHOD.match(parts.path[5:]):
            self._reply(404, {"ok": False, "error": "unknown_method"})
            return
        method = parts.path[5:]
        fault = self.owner.faults.take(f"slack.{method}") if self.owner.faults is not None else None
        if fault is not None:
            if fault.kind == "429":
                from .faults import RETRY_AFTER_SECONDS

                self._reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(RETRY_AFTER_SECONDS)})
            else:
                self._reply(int(fault.kind), {"ok": False, "error": "internal_error"})
            return
        try:
            payload = _parse_body(body, self.headers.get("Content-Type") or "", parts.query)
        except ValueError:
            self._reply(200, {"ok": False, "error": "invalid_json"})
            return
        host, port = self.server.server_address[:2]
        try:
            result = self.owner.handle(method, payload, self.headers.get("Authorization"), f"http://{host}:{port}")
        except SlackError as exc:
            result = {"ok": False, "error": exc.error}
        self._reply(200, result)

    def _reply(self, status: int, data: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.owner.scopes is not None:
            self.send_header("x-oauth-scopes", self.owner.scopes)
        self.end_headers()
        self.wfile.write(body)


def _parse_body(body: bytes, content_type: str, query: str) -> dict[str, Any]:
    """JSON or form fields, plus any query-string arguments (Slack accepts all three)."""
    payload: dict[str, Any] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        payload[key] = values[0] if len(values) == 1 else values
    if not body:
        return payload
    text = body.decode("utf-8", errors="replace")
    if content_type.split(";")[0].strip().lower() == "application/json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("JSON body is not an object")
        payload.update(data)
    else:
        for key, values in parse_qs(text, keep_blank_values=True).items():
            payload[key] = values[0] if len(values) == 1 else values
    return payload


__all__ = ["SlackStandIn"]
