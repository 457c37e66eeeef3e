"""The short notes opsloop shows only to the person who clicked (ephemeral replies, modal errors).

Kept with the rest of opsloop's Slack wording; the domain code (:mod:`opsloop.wait`) says which one.
User ids come from Slack's verified payloads or opsloop's own store and are escaped all the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from .mrkdwn import escape


def _user(user_id: str) -> str:
    return f"<@{escape(user_id, 40)}>"


FORBIDDEN = "Sorry, you are not allowed to resolve opsloop incidents here. Ask someone on the on-call list."
UNKNOWN = "opsloop does not know this incident (it may have expired)."
STILL_ANALYSING = "opsloop is still analysing this incident; try again in a moment."
STOPPED_WAITING = ("opsloop has stopped waiting for this incident (it was escalated or a step failed): handle it "
                   "by hand; the next occurrence opens a new incident.")
RESOLVE_EXPIRED = "opsloop could not resolve this incident: its wait has ended (timed out or escalated)."
ACTION_EXPIRED = "opsloop could not do that: this incident's wait has ended (timed out or escalated)."
ALREADY_SNOOZED = "Reminders are already snoozed at least that long."


def already_resolved(by: str) -> str:
    return f"This incident is already resolved{f' by {_user(by)}' if by else ''}. Thanks!"


def resolved_by(user: str) -> str:
    return f"Resolved by {_user(user)}. opsloop is writing the incident report now."


def snooze_choices(hours: Iterable[int]) -> str:
    return f"opsloop snoozes for {', '.join(f'{h} h' for h in hours)} only."


def already_owned(user: str) -> str:
    return f"{_user(user)} already owns this incident."


__all__ = ["ACTION_EXPIRED", "ALREADY_SNOOZED", "FORBIDDEN", "RESOLVE_EXPIRED", "STILL_ANALYSING",
           "STOPPED_WAITING", "UNKNOWN", "already_owned", "already_resolved", "resolved_by",
           "snooze_choices"]
