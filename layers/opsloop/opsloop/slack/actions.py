"""What opsloop does with a verified click on its message, or a submitted modal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..observability import logger
from .interactions import Interaction, ViewSubmission


def reply_via(response_url: str) -> Callable[[str], None]:
    """An ephemeral note to the person who clicked, through the click's response_url (best effort)."""
    def reply(text: str) -> None:
        if not response_url:
            return
        from slack_sdk.webhook import WebhookClient

        try:
            WebhookClient(response_url, timeout=2).send(text=text, response_type="ephemeral", replace_original=False)
        except Exception as exc:  # noqa: BLE001 - a lost ephemeral note must not fail the click
            logger().warning("ephemeral reply failed", extra={"error": type(exc).__name__})
    return reply


def handle_action(interaction: Interaction, ports: Any) -> dict[str, Any]:
    """A click on the incident message. Resolve opens the confirmation modal (nothing is resolved yet)."""
    from ..resolve import open_resolve_modal
    from .blocks import RESOLVE_ACTION_ID

    if interaction.action_id != RESOLVE_ACTION_ID:
        return {"ok": True, "outcome": "ignored"}
    notifier = ports.notifier()
    outcome = open_resolve_modal(interaction, store=ports.store(), allowed=ports.allowed_resolvers(),
                                 is_member=notifier.is_channel_member, notifier=notifier,
                                 reply=reply_via(interaction.response_url), now=ports.clock())
    return {"ok": True, "outcome": outcome}


def handle_view_submission(view: ViewSubmission, ports: Any) -> dict[str, Any]:
    """The submitted Resolve modal: verified like the click, authorised again, resolved once.

    A modal that is not opsloop's closes quietly (Slack closes a view on an empty 200). A refusal is shown
    in the modal itself (``response_action: errors``), since a view submission has no response_url."""
    from ..resolve import confirm_resolve
    from .modal import RESOLVE_CALLBACK_ID

    if view.callback_id != RESOLVE_CALLBACK_ID or not view.incident_id:
        return {}
    if not (view.values.get("root_cause") or "").strip():
        return {"response_action": "errors", "errors": {"root_cause": "Say what the root cause was."}}
    notes: list[str] = []
    notifier = ports.notifier()
    outcome = confirm_resolve(view, store=ports.store(), sfn=ports.sfn(), allowed=ports.allowed_resolvers(),
                              is_member=notifier.is_channel_member, reply=notes.append, now=ports.clock())
    if outcome == "resolved":
        return {}
    return {"response_action": "errors", "errors": {"root_cause": (notes[0] if notes else outcome)[:150]}}
