"""Slack → opsloop: the Resolve button and questions asked in an incident's thread.

Slack is a security boundary. Every request is verified (signing secret, 5-minute replay window) before
anything is parsed; the button carries only an incident id, and the task token is looked up server side;
only configured users (or, with none configured, members of the incident's channel) may resolve; the
state change WAITING → RESOLVING is one conditional write, so a second click is a polite no-op and
SendTaskSuccess happens once.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable

from .incidents import IncidentStore, iso, storm_scope
from .observability import count, logger


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: dict[str, Any]

    def to_api_gateway(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(self.body)}


def body_of(event: dict[str, Any]) -> str:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    return body


def handle_resolve(interaction: Any, *, store: IncidentStore, sfn: Any, allowed: list[str],
                   is_member: Callable[[str, str], bool], reply: Callable[[str], None], now: float) -> str:
    """Returns the outcome: resolved | already | unknown | forbidden | expired."""
    from botocore.exceptions import ClientError

    incident_id, user = interaction.incident_id, interaction.user_id
    item = store.get_incident(incident_id)
    if item is None:
        reply("opsloop does not know this incident (it may have expired).")
        return "unknown"
    slack = item.get("slack") or {}
    channel = str(slack.get("channel") or interaction.channel_id)
    permitted = user in allowed if allowed else is_member(channel, user)
    if not permitted:
        count("ResolveForbidden")
        logger().warning("resolve refused", extra={"incident_id": incident_id, "user": user})
        reply("Sorry, you are not allowed to resolve opsloop incidents here. Ask someone on the on-call list.")
        return "forbidden"
    claimed = store.begin_resolve(incident_id, user, now=now)
    if claimed is None:
        status, who = item.get("status"), item.get("resolved_by")
        if status in ("OPENED", "ANALYZING"):
            reply("opsloop is still analysing this incident; try again in a moment.")
        elif status in ("ESCALATED", "FAILED"):
            reply("opsloop has stopped waiting for this incident (it was escalated or a step failed): handle "
                  "it by hand; the next occurrence opens a new incident.")
        else:
            reply(f"This incident is already resolved{f' by <@{who}>' if who else ''}. Thanks!")
        return "already"
    output = json.dumps({"resolved_by": user, "resolved_by_name": getattr(interaction, "user_name", "") or "",
                         "resolved_at": iso(now), "incident_id": incident_id})
    token = str(claimed.get("task_token") or "")
    for attempt in range(2):
        try:
            sfn.send_task_success(taskToken=token, output=output)
            break
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            fresh = store.get_incident(incident_id) or {}
            # The wait may have just moved from the first wait to the reminder wait: use the new token.
            if attempt == 0 and code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken") and \
                    fresh.get("task_token") and fresh.get("task_token") != token:
                token = str(fresh["task_token"])
                continue
            store.undo_resolve(incident_id)
            count("ResolveFailed", error=code or "unknown")
            reply("opsloop could not resolve this incident: its wait has ended (timed out or escalated).")
            return "expired"
    src = item.get("incident") or {}
    if src.get("source") and src.get("fingerprint"):
        store.close_fingerprint(storm_scope(src), src["fingerprint"], incident_id)  # the next occurrence is new
    count("IncidentResolved")
    logger().info("incident resolved", extra={"incident_id": incident_id, "user": user})
    reply(f"Resolved by <@{user}>. opsloop is writing the incident report now.")
    return "resolved"
