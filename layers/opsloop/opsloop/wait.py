"""Slack → opsloop: ending an incident's wait from a click (Resolve, Escalate now, Not an incident).

Slack is a security boundary. Every request is verified (signing secret, 5-minute replay window) before
anything is parsed; the button carries only an incident id, and the task token is looked up server side;
only configured users (or, with none configured, members of the incident's channel) may act; the state
change WAITING → RESOLVING (or ESCALATING, DISMISSING) is one conditional write, so a second click is a
polite no-op and the task callback happens once. What the person is told is worded in
:mod:`opsloop.slack.replies`.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .errors import CallbackRefused, OpsloopError
from .incidents import IncidentRecord, IncidentStatus, IncidentStore, iso, storm_scope
from .observability import count, logger
from .ports import TaskCallbacks
from .slack import replies


def _permitted(item: IncidentRecord, interaction: Any, allowed: list[str], is_member: Callable[[str, str], bool],
               reply: Callable[[str], None]) -> bool:
    channel = (item.slack.channel if item.slack is not None else "") or str(getattr(interaction, "channel_id", "") or "")
    user = interaction.user_id
    permitted = user in allowed if allowed else bool(channel) and is_member(channel, user)
    if not permitted:
        count("ResolveForbidden")
        logger().warning("resolve refused", extra={"incident_id": interaction.incident_id, "user": user})
        reply(replies.FORBIDDEN)
    return permitted


def authorised_item(store: IncidentStore, incident_id: str, interaction: Any, allowed: list[str],
                    is_member: Callable[[str, str], bool],
                    reply: Callable[[str], None]) -> tuple[IncidentRecord | None, str]:
    """The incident a click or submission is about, when the clicker may act on it: ``(item, "")``; else
    ``(None, outcome)`` with outcome ``unknown`` or ``forbidden``, the person already told why."""
    item = store.get_incident(incident_id)
    if item is None:
        reply(replies.UNKNOWN)
        return None, "unknown"
    if not _permitted(item, interaction, allowed, is_member, reply):
        return None, "forbidden"
    return item, ""


def explain_not_waiting(item: IncidentRecord, reply: Callable[[str], None]) -> str:
    if item.status in (IncidentStatus.OPENED, IncidentStatus.ANALYZING):
        reply(replies.STILL_ANALYSING)
    elif item.status in (IncidentStatus.ESCALATED, IncidentStatus.FAILED):
        reply(replies.STOPPED_WAITING)
    else:
        reply(replies.already_resolved(item.resolved_by))
    return "already"


def open_resolve_modal(interaction: Any, *, store: IncidentStore, allowed: list[str],
                       is_member: Callable[[str, str], bool], notifier: Any, reply: Callable[[str], None],
                       now: float) -> str:
    """A Resolve click: open the confirmation modal pre-filled with the draft. Changes no state except the
    stored draft (the submission is compared against it to attribute each statement).

    Returns: confirming | already | unknown | forbidden | no_trigger."""
    from .models import ThreadMessage
    from .slack.modal import draft_from, resolve_view

    item, refused = authorised_item(store, interaction.incident_id, interaction, allowed, is_member, reply)
    if item is None:
        return refused
    if not item.waiting:
        return explain_not_waiting(item, reply)
    if not interaction.trigger_id:
        return "no_trigger"
    thread: list[ThreadMessage] = []
    if item.slack is not None:
        try:
            thread = notifier.fetch_thread(item.slack)
        except Exception as exc:  # noqa: BLE001 - the draft falls back to the analysis; the modal must open
            logger().warning("thread unavailable for the draft", extra={"error": type(exc).__name__})
    from .redact import redact

    thread = [ThreadMessage(user=m.user, text=redact(m.text).text, ts=m.ts) for m in thread]
    draft = draft_from(item.analysis.to_dict() if item.analysis is not None else {}, thread)
    store.update_incident(interaction.incident_id, resolve_draft=draft, resolve_draft_at=now)
    src = item.incident
    title = f"[{src.service if src else '?'}] {(src.exception if src else None) or interaction.incident_id}"
    notifier.open_view(interaction.trigger_id, resolve_view(interaction.incident_id, title[:200], draft))
    count("ResolveModalOpened")
    return "confirming"


def confirm_resolve(submission: Any, *, store: IncidentStore, callbacks: TaskCallbacks, allowed: list[str],
                    is_member: Callable[[str, str], bool], reply: Callable[[str], None], now: float) -> str:
    """A submitted Resolve modal: the confirmed text goes with the task callback (once) into the report."""
    from .slack.modal import confirmation

    item = store.get_incident(submission.incident_id)
    confirmed = confirmation(submission.values, item.resolve_draft if item else {}, submission.user_id)
    return handle_resolve(submission, store=store, callbacks=callbacks, allowed=allowed, is_member=is_member,
                          reply=reply, now=now, confirmed=confirmed)


def handle_resolve(interaction: Any, *, store: IncidentStore, callbacks: TaskCallbacks, allowed: list[str],
                   is_member: Callable[[str, str], bool], reply: Callable[[str], None], now: float,
                   confirmed: dict[str, Any] | None = None) -> str:
    """WAITING → RESOLVING (one conditional write) and the task callback once.

    Returns the outcome: resolved | already | unknown | forbidden | expired."""
    incident_id, user = interaction.incident_id, interaction.user_id
    item, refused = authorised_item(store, incident_id, interaction, allowed, is_member, reply)
    if item is None:
        return refused
    claimed = store.begin_resolve(incident_id, user, now=now)
    if claimed is None:
        return explain_not_waiting(item, reply)
    output = json.dumps({"resolved_by": user, "resolved_by_name": getattr(interaction, "user_name", "") or "",
                         "resolved_at": iso(now), "incident_id": incident_id,
                         **({"confirmed": confirmed} if confirmed is not None else {})})
    if not finish_wait(store, callbacks, incident_id, claimed, output, lambda: store.undo_resolve(incident_id),
                       failed_metric="ResolveFailed"):
        reply(replies.RESOLVE_EXPIRED)
        return "expired"
    if item.incident is not None:
        store.close_fingerprint(storm_scope(item.incident), item.incident.fingerprint, incident_id)  # next is new
    count("IncidentResolved")
    logger().info("incident resolved", extra={"incident_id": incident_id, "user": user})
    reply(replies.resolved_by(user))
    return "resolved"


def finish_wait(store: IncidentStore, callbacks: TaskCallbacks, incident_id: str, claimed: IncidentRecord,
                output: str, undo: Callable[[], None], *, failed_metric: str = "RoomActionFailed") -> bool:
    """End the current wait with ``output`` (once); on a wait that has ended, ``undo`` the claim."""
    token = claimed.task_token
    for attempt in range(2):
        try:
            callbacks.succeed(token, output)
            return True
        except CallbackRefused as exc:
            if attempt == 0 and exc.wait_ended:
                # The wait may have just moved from the first wait to the reminder wait: that one has a new token.
                fresh = store.get_incident(incident_id)
                if fresh is not None and fresh.task_token and fresh.task_token != token:
                    token = fresh.task_token
                    continue
            undo()
            count(failed_metric, error=exc.code or "unknown")
            return False
        except OpsloopError:  # the call itself failed (a timeout): give the click back, and say so
            undo()
            raise
    return False


ROOM_TRANSITIONS = {"escalate": IncidentStatus.ESCALATING, "dismiss": IncidentStatus.DISMISSING}


def end_wait(interaction: Any, action: str, *, store: IncidentStore, callbacks: TaskCallbacks, allowed: list[str],
             is_member: Callable[[str, str], bool], reply: Callable[[str], None], now: float,
             extra: dict[str, Any] | None = None) -> str:
    """Escalate now / Not an incident: WAITING → ESCALATING | DISMISSING once, then the wait ends with
    ``{"action": action}`` and the state machine routes it. Returns: done | already | unknown | forbidden | expired."""
    status = ROOM_TRANSITIONS[action]
    item, refused = authorised_item(store, interaction.incident_id, interaction, allowed, is_member, reply)
    if item is None:
        return refused
    claimed = store.begin_transition(interaction.incident_id, interaction.user_id, status, now=now)
    if claimed is None:
        return explain_not_waiting(item, reply)
    output = json.dumps({"action": action, "by": interaction.user_id, "at": iso(now),
                         "incident_id": interaction.incident_id, **(extra or {})})
    if not finish_wait(store, callbacks, interaction.incident_id, claimed, output,
                       lambda: store.undo_transition(interaction.incident_id, status)):
        reply(replies.ACTION_EXPIRED)
        return "expired"
    count("RoomAction", action=action)
    return "done"
