"""Requests from Slack (button clicks, Events API) arriving through API Gateway (HTTP API, payload v2).

Slack is a security boundary: anyone on the internet can reach the endpoint. Every request is checked
against the app's signing secret over the raw body with a 5-minute replay window
(https://docs.slack.dev/authentication/verifying-requests-from-slack/), then parsed into small typed
records whose ids are validated strictly, because they end up in Slack mentions, DynamoDB keys and logs.
The helpers that *build* signed requests exist so the offline run and the tests click Resolve through the
very same verification path.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from ..errors import InputError, PermanentError
from .blocks import RESOLVE_ACTION_ID, RESOLVE_BLOCK_ID
from .mrkdwn import CHANNEL_ID, INCIDENT_ID, USER_ID, clean, truncate

REPLAY_WINDOW_SECONDS = 300
MAX_BODY_BYTES = 256 * 1024  # Slack's payloads are a few kB; anything far larger is not from Slack
EVENT_TEXT_MAX = 4000
NAME_MAX = 80

_TS = re.compile(r"\d{1,12}\.\d{1,9}")
_CHOICE = re.compile(r"\d{1,3}")


class SlackRequestRejected(PermanentError):
    """The request is not provably from Slack. ``reason``: bad_signature | stale_timestamp | missing_headers."""

    def __init__(self, reason: str):
        super().__init__(f"Slack request rejected: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Interaction:
    """A click on one of opsloop's buttons (a ``block_actions`` payload)."""

    type: str
    action_id: str
    incident_id: str
    user_id: str
    user_name: str
    channel_id: str
    message_ts: str
    response_url: str
    trigger_id: str
    choice: str = ""  # a menu's pick (Snooze: the hours), digits only; the allowed set is checked by the action


@dataclass(frozen=True)
class ViewSubmission:
    """A submitted modal (a ``view_submission`` payload): the Resolve confirmation form.

    ``values`` maps each input's ``block_id`` to the text typed (or left pre-filled); ``incident_id`` comes
    from the view's ``private_metadata``, which opsloop set when it opened the modal.
    """

    type: str
    callback_id: str
    incident_id: str
    user_id: str
    user_name: str
    view_id: str
    values: dict[str, str]


@dataclass(frozen=True)
class SlashCommand:
    """A ``/opsloop …`` slash command (form-encoded fields, see Slack's slash-command reference)."""

    command: str
    text: str
    user_id: str
    user_name: str
    channel_id: str
    response_url: str
    trigger_id: str


@dataclass(frozen=True)
class SlackEvent:
    """An Events API event opsloop listens to: an @mention or a message, usually in an incident thread."""

    type: str  # app_mention | message | (anything else: ignorable)
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: str | None = None
    bot_id: str | None = None
    subtype: str | None = None
    event_id: str = ""

    @property
    def ignorable(self) -> bool:
        """True for bots (opsloop's own replies included), edits/deletions and event types opsloop ignores."""
        return bool(self.bot_id) or self.subtype is not None or self.type not in ("app_mention", "message") \
            or not self.user


@dataclass(frozen=True)
class UrlVerification:
    """Slack's handshake when the Events request URL is configured: answer with the challenge."""

    challenge: str


# -- verification ---------------------------------------------------------------------------------------

def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else None
    return None


def verify_request(headers: Mapping[str, str], body: str | bytes, signing_secret: str,
                   now: float | None = None) -> None:
    """Raise :class:`SlackRequestRejected` unless Slack signed ``body`` within the last 5 minutes.

    Headers are matched case-insensitively (API Gateway lowercases them). ``body`` is the raw body as
    received, after base64 decoding (see :func:`request_body`).
    """
    if not signing_secret:
        raise PermanentError("the Slack signing secret is not configured")
    timestamp = _header(headers, "x-slack-request-timestamp")
    signature = _header(headers, "x-slack-signature")
    if not timestamp or not signature:
        raise SlackRequestRejected("missing_headers")
    try:
        ts = int(timestamp.strip())
    except ValueError:
        raise SlackRequestRejected("missing_headers") from None
    current = time.time() if now is None else now
    if abs(current - ts) > REPLAY_WINDOW_SECONDS:
        raise SlackRequestRejected("stale_timestamp")

    class _Clock:
        def now(self) -> float:
            return current

    verifier = SignatureVerifier(signing_secret, clock=_Clock())  # type: ignore[arg-type]
    try:
        valid = verifier.is_valid(body=body, timestamp=str(ts), signature=signature.strip())
    except UnicodeDecodeError:
        valid = False
    if not valid:
        raise SlackRequestRejected("bad_signature")


def request_body(event: Mapping[str, Any]) -> str:
    """The raw request body of an API Gateway (HTTP API, payload v2) event, base64-decoded when flagged."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise InputError("request body is not a string")
    if event.get("isBase64Encoded"):
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise InputError("request body is too large")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("request body is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise InputError("request body is too large")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("request body is not UTF-8") from None


def verify_api_event(event: Mapping[str, Any], signing_secret: str, now: float | None = None) -> str:
    """Verify an API Gateway event from Slack and return its decoded body (the one the signature covers)."""
    headers = event.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise SlackRequestRejected("missing_headers")
    body = request_body(event)
    verify_request(headers, body, signing_secret, now=now)
    return body


def sign_request(body: str, signing_secret: str, timestamp: int) -> dict[str, str]:
    """The headers Slack would send with ``body``: used by the offline run and tests to click Resolve."""
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=str(timestamp), body=body)
    return {"X-Slack-Signature": str(signature), "X-Slack-Request-Timestamp": str(timestamp)}


# -- parsing --------------------------------------------------------------------------------------------

def _form_field(body: str, name: str) -> str:
    try:
        fields = parse_qs(body, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except ValueError:
        raise InputError("request body is not form-encoded") from None
    values = fields.get(name)
    if not values:
        raise InputError(f"request body has no {name!r} field")
    return values[0]


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError(f"{what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} is not a JSON object")
    return data


def _obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _checked(value: Any, pattern: Any, what: str, *, required: bool = True) -> str:
    text = _str(value)
    if not text and not required:
        return ""
    if not pattern.fullmatch(text):
        raise InputError(f"{what} is missing or malformed")
    return text


def _ts(value: Any, what: str, *, required: bool = True) -> str:
    return _checked(value, _TS, what, required=required)


def _response_url(value: Any) -> str:
    # Only Slack's own hooks: the URL is later POSTed to, so it must not point anywhere else.
    url = _str(value)
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not (host == "slack.com" or host.endswith(".slack.com")) or len(url) > 2000:
        return ""
    return url


VIEW_VALUE_MAX = 3000  # plain_text_input's own max_length


def parse_view_submission(payload: Mapping[str, Any]) -> ViewSubmission:
    """Parse a ``view_submission`` payload (already JSON-decoded) into its typed fields."""
    view = _obj(payload, "view")
    user = _obj(payload, "user")
    values: dict[str, str] = {}
    state = _obj(_obj(view, "state"), "values")
    for block_id, actions in list(state.items())[:20]:
        if not isinstance(actions, Mapping):
            continue
        for element in list(actions.values())[:1]:
            if isinstance(element, Mapping):
                text = _str(element.get("value"))
                values[truncate(clean(str(block_id)), 255)] = truncate(clean(text), VIEW_VALUE_MAX)
    callback_id = _str(view.get("callback_id"))
    if len(callback_id) > 255:
        raise InputError("view callback_id is malformed")
    return ViewSubmission(
        type="view_submission",
        callback_id=truncate(clean(callback_id), 255),
        incident_id=_checked(view.get("private_metadata"), INCIDENT_ID, "view private_metadata (incident id)",
                             required=False),
        user_id=_checked(user.get("id"), USER_ID, "user id"),
        user_name=truncate(clean(_str(user.get("username")) or _str(user.get("name"))), NAME_MAX),
        view_id=truncate(clean(_str(view.get("id"))), 64),
        values=values,
    )


def parse_payload(body: str) -> Interaction | ViewSubmission:
    """Parse a verified interactivity request: a button click (block_actions) or a submitted modal."""
    payload = _json_object(_form_field(body, "payload"), "payload")
    if _str(payload.get("type")) == "view_submission":
        return parse_view_submission(payload)
    return _block_actions(payload)


def parse_interaction(body: str) -> Interaction:
    """Parse a verified interaction request (form field ``payload`` holding JSON of type block_actions).

    Raises :class:`~opsloop.errors.InputError` for anything else, and in particular for a button value that
    is not exactly an incident id.
    """
    return _block_actions(_json_object(_form_field(body, "payload"), "payload"))


def parse_command(body: str) -> SlashCommand:
    """Parse a verified slash-command request (form fields ``command``, ``text``, ``user_id``, …)."""
    command = _form_field(body, "command")
    if command != "/opsloop":
        raise InputError("not the /opsloop command")
    try:
        text = _form_field(body, "text")
    except InputError:
        text = ""
    try:
        name = _form_field(body, "user_name")
    except InputError:
        name = ""
    fields = {k: "" for k in ("channel_id", "response_url", "trigger_id")}
    for k in fields:
        try:
            fields[k] = _form_field(body, k)
        except InputError:
            pass
    return SlashCommand(command=command, text=truncate(clean(text), 500),
                        user_id=_checked(_form_field(body, "user_id"), USER_ID, "user id"),
                        user_name=truncate(clean(name), NAME_MAX),
                        channel_id=_checked(fields["channel_id"], CHANNEL_ID, "channel id", required=False),
                        response_url=_response_url(fields["response_url"]),
                        trigger_id=truncate(clean(fields["trigger_id"]), 255))


def _block_actions(payload: Mapping[str, Any]) -> Interaction:
    kind = _str(payload.get("type"))
    if kind != "block_actions":
        raise InputError("interaction is not a block_actions payload")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], Mapping):
        raise InputError("interaction has no action")
    action = actions[0]
    action_id = _str(action.get("action_id"))
    if not action_id or len(action_id) > 255:
        raise InputError("interaction action_id is missing or malformed")
    choice = ""
    if _str(action.get("type")) == "static_select":  # a menu: "<choice>|<incident id>" in the picked option
        picked = _str(_obj(action, "selected_option").get("value"))
        choice, _, value = picked.partition("|")
        if not _CHOICE.fullmatch(choice):
            raise InputError("menu option value is malformed")
        incident_id = _checked(value, INCIDENT_ID, "menu option value (incident id)")
    else:
        incident_id = _checked(action.get("value"), INCIDENT_ID, "button value (incident id)")
    user = _obj(payload, "user")
    container = _obj(payload, "container")
    channel_id = _str(_obj(payload, "channel").get("id")) or _str(container.get("channel_id"))
    message_ts = _str(container.get("message_ts")) or _str(_obj(payload, "message").get("ts"))
    return Interaction(
        type=kind,
        action_id=truncate(clean(action_id), 255),
        incident_id=incident_id,
        user_id=_checked(user.get("id"), USER_ID, "user id"),
        user_name=truncate(clean(_str(user.get("username")) or _str(user.get("name"))), NAME_MAX),
        channel_id=_checked(channel_id, CHANNEL_ID, "channel id"),
        message_ts=_ts(message_ts, "message ts"),
        response_url=_response_url(payload.get("response_url")),
        trigger_id=truncate(clean(_str(payload.get("trigger_id"))), 255),
        choice=choice,
    )


def parse_event(body: str) -> SlackEvent | UrlVerification:
    """Parse a verified Events API request: the url_verification handshake or an event_callback."""
    data = _json_object(body, "event body")
    kind = _str(data.get("type"))
    if kind == "url_verification":
        challenge = _str(data.get("challenge"))
        if not challenge or len(challenge) > 256 or not challenge.isascii() or not challenge.isprintable():
            raise InputError("url_verification challenge is missing or malformed")
        return UrlVerification(challenge=challenge)
    if kind != "event_callback":
        raise InputError("not an event_callback")
    event = _obj(data, "event")
    etype = _str(event.get("type"))
    if not etype:
        raise InputError("event_callback has no event type")
    subtype = _str(event.get("subtype")) or None
    bot_id = _str(event.get("bot_id")) or None
    user = _str(event.get("user"))
    return SlackEvent(
        type=truncate(clean(etype), 64),
        channel=_checked(event.get("channel"), CHANNEL_ID, "event channel", required=False),
        user=user if USER_ID.fullmatch(user) else "",
        text=truncate(clean(_str(event.get("text"))), EVENT_TEXT_MAX),
        ts=_ts(event.get("ts"), "event ts", required=False),
        thread_ts=_ts(event.get("thread_ts"), "event thread_ts", required=False) or None,
        bot_id=truncate(clean(bot_id), 64) if bot_id else None,
        subtype=truncate(clean(subtype), 64) if subtype else None,
        event_id=truncate(clean(_str(data.get("event_id"))), 64),
    )


def interaction_body(incident_id: str, user_id: str, channel_id: str, message_ts: str, *,
                     user_name: str = "local-user", action_id: str = RESOLVE_ACTION_ID,
                     team_id: str = "T0LOCAL", api_app_id: str = "A0LOCAL",
                     response_url: str = "https://hooks.slack.com/actions/T0LOCAL/1/local",
                     trigger_id: str = "1.1.local", selected: str | None = None) -> str:
    """The form-encoded ``block_actions`` body Slack sends when someone clicks Resolve (or, with
    ``selected``, picks the option of that value in the ``action_id`` menu, e.g. Snooze)."""
    now = f"{time.time():.6f}"
    action: dict[str, Any] = {"action_id": action_id, "block_id": RESOLVE_BLOCK_ID,
                              "text": {"type": "plain_text", "text": "Resolve", "emoji": True},
                              "value": incident_id, "style": "primary", "type": "button", "action_ts": now}
    if selected is not None:
        action = {"action_id": action_id, "block_id": RESOLVE_BLOCK_ID, "type": "static_select",
                  "selected_option": {"text": {"type": "plain_text", "text": selected, "emoji": True},
                                      "value": selected},
                  "placeholder": {"type": "plain_text", "text": "Snooze reminders…", "emoji": True},
                  "action_ts": now}
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "",  # the deprecated verification token: opsloop relies on the signature instead
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False},
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": "local"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "incidents"},
        "message": {"type": "message", "ts": message_ts, "text": ""},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def view_submission_body(view: Mapping[str, Any], user_id: str, *, user_name: str = "local-user",
                         values: Mapping[str, str] | None = None, team_id: str = "T0LOCAL",
                         api_app_id: str = "A0LOCAL", view_id: str = "V0LOCAL") -> str:
    """The form-encoded ``view_submission`` body Slack sends when someone submits ``view`` (as opened).

    Each input keeps its ``initial_value`` unless ``values`` (block_id → text) says otherwise, as when a
    person edits the pre-filled text before pressing Submit."""
    state: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") if isinstance(block, Mapping) else None
        if block.get("type") == "input" and isinstance(element, Mapping):
            text = (values or {}).get(block["block_id"], element.get("initial_value", ""))
            state[block["block_id"]] = {element["action_id"]: {"type": element.get("type", "plain_text_input"),
                                                               "value": text}}
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "local"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "",
        "trigger_id": "2.2.local",
        "view": {**dict(view), "id": view_id, "team_id": team_id, "state": {"values": state},
                 "hash": "1.local", "app_id": api_app_id},
        "response_urls": [],
        "is_enterprise_install": False,
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def command_body(text: str, user_id: str, channel_id: str, *, user_name: str = "local-user",
                 team_id: str = "T0LOCAL") -> str:
    """The form-encoded body Slack sends for ``/opsloop <text>``."""
    return urlencode({"token": "", "team_id": team_id, "team_domain": "local", "channel_id": channel_id,
                      "channel_name": "incidents", "user_id": user_id, "user_name": user_name,
                      "command": "/opsloop", "text": text, "api_app_id": "A0LOCAL",
                      "response_url": f"https://hooks.slack.com/commands/{team_id}/1/local",
                      "trigger_id": "3.3.local"})


__all__ = [
    "SlashCommand", "ViewSubmission", "command_body", "parse_command", "parse_payload", "parse_view_submission",
    "view_submission_body",
    "Interaction", "SlackEvent", "SlackRequestRejected", "UrlVerification", "interaction_body",
    "parse_event", "parse_interaction", "request_body", "sign_request", "verify_api_event", "verify_request",
]
