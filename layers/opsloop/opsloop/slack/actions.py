"""What opsloop does with a verified click on its message, or a submitted modal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..incidents import IncidentRecord, storm_scope
from ..observability import logger
from . import replies
from .blocks import (ACK_ACTION_ID, DISMISS_ACTION_ID, ESCALATE_ACTION_ID, ROOM_ACTIONS, SNOOZE_ACTION_ID,
                     SNOOZE_CHOICES, SNOOZE_HOURS)
from .interactions import Interaction, ViewSubmission
from .modal import MUTE_DAYS_MAX, MUTE_DAYS_MIN  # the modal states the bounds it offers
from .mrkdwn import escape

MUTE_DAYS_DEFAULT = 7


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
    from ..wait import open_resolve_modal
    from .blocks import RESOLVE_ACTION_ID

    if interaction.action_id in ROOM_ACTIONS:
        return {"ok": True, "outcome": room_action(interaction, ports)}
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
    from ..wait import confirm_resolve
    from .modal import DISMISS_CALLBACK_ID, RESOLVE_CALLBACK_ID

    if view.callback_id == DISMISS_CALLBACK_ID and view.incident_id:
        return _dismiss(view, ports)
    if view.callback_id != RESOLVE_CALLBACK_ID or not view.incident_id:
        return {}
    if not (view.values.get("root_cause") or "").strip():
        return {"response_action": "errors", "errors": {"root_cause": "Say what the root cause was."}}
    notes: list[str] = []
    notifier = ports.notifier()
    outcome = confirm_resolve(view, store=ports.store(), callbacks=ports.callbacks(), allowed=ports.allowed_resolvers(),
                              is_member=notifier.is_channel_member, reply=notes.append, now=ports.clock())
    if outcome == "resolved":
        return {}
    return {"response_action": "errors", "errors": {"root_cause": (notes[0] if notes else outcome)[:150]}}


def _state_line(item: IncidentRecord, now: float) -> str:
    from ..incidents import iso

    parts = []
    if item.acknowledged_by:
        parts.append(f":eyes: Acknowledged by <@{escape(item.acknowledged_by, 40)}> (owner)")
    if item.snoozed(now):
        parts.append(f":zzz: Snoozed until {iso(item.snoozed_until)} by <@{escape(item.snoozed_by, 40)}> "
                     "(no reminder until then)")
    return " · ".join(parts)


def _show(ports: Any, incident_id: str, now: float) -> None:
    """Redraw the incident message with its current state (best effort: the state itself is stored)."""
    from ..models import Classification

    item = ports.store().get_incident(incident_id)
    if item is None or item.slack is None or item.incident is None:
        return
    try:
        ports.notifier().show_state(item.slack, item.incident, item.classification or Classification("unknown", "medium"),
                                    item.analysis, _state_line(item, now))
    except Exception as exc:  # noqa: BLE001
        logger().warning("incident message not updated", extra={"error": type(exc).__name__})


def snooze_hours(choice: str) -> int | None:
    """The hours picked in the Snooze menu, if they are one of its options (a click on the older Snooze
    button, which carried no choice, is the default 4 h); None for anything else."""
    if not choice:
        return SNOOZE_HOURS
    return int(choice) if choice.isdigit() and int(choice) in SNOOZE_CHOICES else None


def room_action(interaction: Interaction, ports: Any) -> str:
    """Acknowledge | Snooze | Escalate now | Not an incident, each authorised and idempotent like Resolve."""
    from ..wait import authorised_item, end_wait, explain_not_waiting
    from .modal import dismiss_view

    store, now, notifier = ports.store(), ports.clock(), ports.notifier()
    reply = reply_via(interaction.response_url)
    item, refused = authorised_item(store, interaction.incident_id, interaction, ports.allowed_resolvers(),
                                    notifier.is_channel_member, reply)
    if item is None:
        return refused
    user = interaction.user_id
    if interaction.action_id == ACK_ACTION_ID:
        if not store.acknowledge(interaction.incident_id, user, now=now):
            if item.acknowledged_by:
                reply(replies.already_owned(item.acknowledged_by))
                return "already"
            return explain_not_waiting(item, reply)
        _show(ports, interaction.incident_id, now)
        return "acknowledged"
    if interaction.action_id == SNOOZE_ACTION_ID:
        hours = snooze_hours(interaction.choice)
        if hours is None:  # not one of the menu's options: forged or stale, and nothing changes
            logger().warning("snooze refused", extra={"incident_id": interaction.incident_id, "user": user})
            reply(replies.snooze_choices(SNOOZE_CHOICES))
            return "refused"
        if not store.snooze(interaction.incident_id, user, until=now + hours * 3600):
            if item.waiting:
                reply(replies.ALREADY_SNOOZED)
                return "already"
            return explain_not_waiting(item, reply)
        _show(ports, interaction.incident_id, now)
        return "snoozed"
    if interaction.action_id == ESCALATE_ACTION_ID:
        return end_wait(interaction, "escalate", store=store, callbacks=ports.callbacks(), allowed=ports.allowed_resolvers(),
                        is_member=notifier.is_channel_member, reply=reply, now=now)
    if interaction.action_id == DISMISS_ACTION_ID:
        if not item.waiting:
            return explain_not_waiting(item, reply)
        if not interaction.trigger_id:
            return "no_trigger"
        notifier.open_view(interaction.trigger_id, dismiss_view(interaction.incident_id, MUTE_DAYS_DEFAULT))
        return "confirming"
    return "ignored"


def _dismiss(view: ViewSubmission, ports: Any) -> dict[str, Any]:
    """The submitted "Not an incident" modal: mute the fingerprint for N days (who and why recorded), end
    the wait with action=dismiss."""
    from ..wait import end_wait

    reason = (view.values.get("reason") or "").strip()
    raw_days = (view.values.get("days") or "").strip() or str(MUTE_DAYS_DEFAULT)
    if not reason:
        return {"response_action": "errors", "errors": {"reason": "Say why this is not an incident."}}
    if not (raw_days.isascii() and raw_days.isdigit()) or not MUTE_DAYS_MIN <= int(raw_days) <= MUTE_DAYS_MAX:
        return {"response_action": "errors",
                "errors": {"days": f"A whole number of days, {MUTE_DAYS_MIN} to {MUTE_DAYS_MAX}."}}
    store, now, notifier = ports.store(), ports.clock(), ports.notifier()
    notes: list[str] = []
    outcome = end_wait(view, "dismiss", store=store, callbacks=ports.callbacks(), allowed=ports.allowed_resolvers(),
                       is_member=notifier.is_channel_member, reply=notes.append, now=now,
                       extra={"reason": reason[:500], "mute_days": int(raw_days)})
    if outcome != "done":
        return {"response_action": "errors", "errors": {"reason": (notes[0] if notes else outcome)[:150]}}
    item = store.get_incident(view.incident_id)
    src = item.incident if item is not None else None
    if src is not None and src.source and src.fingerprint:
        store.mute(storm_scope(src), src.fingerprint, until=now + int(raw_days) * 86400, by=view.user_id,
                   reason=reason, incident_id=view.incident_id, now=now)
    return {}
