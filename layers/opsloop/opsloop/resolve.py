"""Slack → opsloop: the Resolve button and questions asked in an incident's thread.

Slack is a security boundary. Every request is verified (signing secret, 5-minute replay window) before
anything is parsed; the button carries only an incident id, and the task token is looked up server side;
only configured users (or, with none configured, members of the incident's channel) may resolve; the
state change WAITING → RESOLVING is one conditional write, so a second click is a polite no-op and
SendTaskSuccess happens once.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .incidents import IncidentStore, iso, storm_scope
from .observability import count, logger


def _permitted(item: dict[str, Any], interaction: Any, allowed: list[str], is_member: Callable[[str, str], bool],
               reply: Callable[[str], None]) -> bool:
    slack = item.get("slack") or {}
    channel = str(slack.get("channel") or getattr(interaction, "channel_id", "") or "")
    user = interaction.user_id
    permitted = user in allowed if allowed else bool(channel) and is_member(channel, user)
    if not permitted:
        count("ResolveForbidden")
        logger().warning("resolve refused", extra={"incident_id": interaction.incident_id, "user": user})
        reply("Sorry, you are not allowed to resolve opsloop incidents here. Ask someone on the on-call list.")
    return permitted


def authorised_item(store: IncidentStore, incident_id: str, interaction: Any, allowed: list[str],
                    is_member: Callable[[str, str], bool], reply: Callable[[str], None]) -> tuple[dict[str, Any] | None, str]:
    """The incident a click or submission is about, when the clicker may act on it: ``(item, "")``; else
    ``(None, outcome)`` with outcome ``unknown`` or ``forbidden``, the person already told why."""
    item = store.get_incident(incident_id)
    if item is None:
        reply("opsloop does not know this incident (it may have expired).")
        return None, "unknown"
    if not _permitted(item, interaction, allowed, is_member, reply):
        return None, "forbidden"
    return item, ""


def _explain_not_waiting(item: dict[str, Any], reply: Callable[[str], None]) -> str:
    status, who = item.get("status"), item.get("resolved_by")
    if status in ("OPENED", "ANALYZING"):
        reply("opsloop is still analysing this incident; try again in a moment.")
    elif status in ("ESCALATED", "FAILED"):
        reply("opsloop has stopped waiting for this incident (it was escalated or a step failed): handle "
              "it by hand; the next occurrence opens a new incident.")
    else:
        reply(f"This incident is already resolved{f' by <@{who}>' if who else ''}. Thanks!")
    return "already"


def open_resolve_modal(interaction: Any, *, store: IncidentStore, allowed: list[str],
                       is_member: Callable[[str, str], bool], notifier: Any, reply: Callable[[str], None],
                       now: float) -> str:
    """A Resolve click: open the confirmation modal pre-filled with the draft. Changes no state except the
    stored draft (the submission is compared against it to attribute each statement).

    Returns: confirming | already | unknown | forbidden | no_trigger."""
    from .models import ThreadMessage
    from .ports import PostedMessage
    from .slack.modal import draft_from, resolve_view

    item, refused = authorised_item(store, interaction.incident_id, interaction, allowed, is_member, reply)
    if item is None:
        return refused
    if item.get("status") != "WAITING":
        return _explain_not_waiting(item, reply)
    if not interaction.trigger_id:
        return "no_trigger"
    thread: list[ThreadMessage] = []
    slack = item.get("slack") or {}
    if slack.get("ts"):
        try:
            thread = notifier.fetch_thread(PostedMessage(**slack))
        except Exception as exc:  # noqa: BLE001 - the draft falls back to the analysis; the modal must open
            logger().warning("thread unavailable for the draft", extra={"error": type(exc).__name__})
    from .redact import redact

    thread = [ThreadMessage(user=m.user, text=redact(m.text).text, ts=m.ts) for m in thread]
    draft = draft_from(item.get("analysis") or {}, thread)
    store.update_incident(interaction.incident_id, resolve_draft=draft, resolve_draft_at=now)
    incident = item.get("incident") or {}
    title = f"[{incident.get('service', '?')}] {incident.get('exception') or incident.get('incident_id', '')}"
    notifier.open_view(interaction.trigger_id, resolve_view(interaction.incident_id, title[:200], draft))
    count("ResolveModalOpened")
    return "confirming"


def confirm_resolve(submission: Any, *, store: IncidentStore, sfn: Any, allowed: list[str],
                    is_member: Callable[[str, str], bool], reply: Callable[[str], None], now: float) -> str:
    """A submitted Resolve modal: the confirmed text goes with SendTaskSuccess (once) into the report."""
    from .slack.modal import confirmation

    item = store.get_incident(submission.incident_id) or {}
    draft = item.get("resolve_draft") or {}
    if isinstance(draft, str):
        draft = json.loads(draft)
    confirmed = confirmation(submission.values, draft, submission.user_id)
    return handle_resolve(submission, store=store, sfn=sfn, allowed=allowed, is_member=is_member, reply=reply,
                          now=now, confirmed=confirmed)


def handle_resolve(interaction: Any, *, store: IncidentStore, sfn: Any, allowed: list[str],
                   is_member: Callable[[str, str], bool], reply: Callable[[str], None], now: float,
                   confirmed: dict[str, Any] | None = None) -> str:
    """WAITING → RESOLVING (one conditional write) and SendTaskSuccess once.

    Returns the outcome: resolved | already | unknown | forbidden | expired."""
    incident_id, user = interaction.incident_id, interaction.user_id
    item, refused = authorised_item(store, incident_id, interaction, allowed, is_member, reply)
    if item is None:
        return refused
    claimed = store.begin_resolve(incident_id, user, now=now)
    if claimed is None:
        return _explain_not_waiting(item, reply)
    output = json.dumps({"resolved_by": user, "resolved_by_name": getattr(interaction, "user_name", "") or "",
                         "resolved_at": iso(now), "incident_id": incident_id,
                         **({"confirmed": confirmed} if confirmed is not None else {})})
    if not _finish_wait(store, sfn, incident_id, claimed, output, lambda: store.undo_resolve(incident_id),
                        failed_metric="ResolveFailed"):
        reply("opsloop could not resolve this incident: its wait has ended (timed out or escalated).")
        return "expired"
    src = item.get("incident") or {}
    if src.get("source") and src.get("fingerprint"):
        store.close_fingerprint(storm_scope(src), src["fingerprint"], incident_id)  # the next occurrence is new
    count("IncidentResolved")
    logger().info("incident resolved", extra={"incident_id": incident_id, "user": user})
    reply(f"Resolved by <@{user}>. opsloop is writing the incident report now.")
    return "resolved"


def _finish_wait(store: IncidentStore, sfn: Any, incident_id: str, claimed: dict[str, Any], output: str,
                 undo: Callable[[], None], *, failed_metric: str = "RoomActionFailed") -> bool:
    """SendTaskSuccess with the current wait's token (once); on a wait that has ended, ``undo`` the claim."""
    from botocore.exceptions import ClientError

    token = str(claimed.get("task_token") or "")
    for attempt in range(2):
        try:
            sfn.send_task_success(taskToken=token, output=output)
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            fresh = store.get_incident(incident_id) or {}
            if attempt == 0 and code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken") and \
                    fresh.get("task_token") and fresh.get("task_token") != token:
                token = str(fresh["task_token"])
                continue
            # The wait may have just moved from the first wait to the reminder wait: that one uses the new token.
            undo()
            count(failed_metric, error=code or "unknown")
            return False
    return False


def end_wait(interaction: Any, action: str, *, store: IncidentStore, sfn: Any, allowed: list[str],
             is_member: Callable[[str, str], bool], reply: Callable[[str], None], now: float,
             extra: dict[str, Any] | None = None) -> str:
    """Escalate now / Not an incident: WAITING → ESCALATING | DISMISSING once, then the wait ends with
    ``{"action": action}`` and the state machine routes it. Returns: done | already | unknown | forbidden | expired."""
    status = {"escalate": "ESCALATING", "dismiss": "DISMISSING"}[action]
    item, refused = authorised_item(store, interaction.incident_id, interaction, allowed, is_member, reply)
    if item is None:
        return refused
    claimed = store.begin_transition(interaction.incident_id, interaction.user_id, status, now=now)
    if claimed is None:
        return _explain_not_waiting(item, reply)
    output = json.dumps({"action": action, "by": interaction.user_id, "at": iso(now),
                         "incident_id": interaction.incident_id, **(extra or {})})
    if not _finish_wait(store, sfn, interaction.incident_id, claimed, output,
                        lambda: store.undo_transition(interaction.incident_id, status)):
        reply("opsloop could not do that: this incident's wait has ended (timed out or escalated).")
        return "expired"
    count("RoomAction", action=action)
    return "done"
