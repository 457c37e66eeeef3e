"""The ``/opsloop`` slash command: ``status``, ``mute``, ``unmute`` (and help for anything else).

Answered inline within Slack's 3 seconds (a couple of DynamoDB reads), as an ephemeral message to the
person who typed it. ``mute``/``unmute`` change state, so they are authorised like Resolve.
"""

from __future__ import annotations

from typing import Any

from ..incidents import storm_scope
from .interactions import SlashCommand
from .mrkdwn import INCIDENT_ID, escape

HELP = ("*/opsloop* commands:\n"
        "• `/opsloop status`: open incidents with owner, age, occurrences and link\n"
        "• `/opsloop mute <incident-id> [days] [reason]`: not an incident: count this error without opening "
        "incidents for N days (default 7, at most 90)\n"
        "• `/opsloop unmute <incident-id>`: open incidents for this error again")
MAX_LISTED = 20


def _age(seconds: float) -> str:
    minutes = int(max(0, seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h {minutes % 60} min" if hours < 48 else f"{hours // 24} d"


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def status_text(store: Any, now: float) -> str:
    open_ = store.open_incidents()
    if not open_:
        return "No open incidents. :tada:"
    lines = [f"*{len(open_)} open incident(s)*"]
    for incident_id, summary in sorted(open_.items(), key=lambda kv: float(kv[1].get("opened_at") or 0))[:MAX_LISTED]:
        item = store.get_incident(incident_id)
        state = store.fingerprint_state(storm_scope(summary), str(summary.get("fingerprint", ""))) or {}
        count = int(state.get("count") or 0) if state.get("incident_id") == incident_id else 0
        owner = f"<@{escape(item.acknowledged_by, 40)}>" if item is not None and item.acknowledged_by else "no owner"
        link = str(summary.get("permalink") or "")
        name = f"<{link}|{escape(incident_id, 120)}>" if link.startswith("https://") else f"`{escape(incident_id, 120)}`"
        lines.append(f"• {name} · {escape(str(summary.get('service') or '?'), 80)} · {owner} · "
                     f"open {_age(now - float(summary.get('opened_at') or now))} · {count} occurrence(s) · "
                     f"{escape(item.status.value.lower() if item is not None else '?', 20)}")
    if len(open_) > MAX_LISTED:
        lines.append(f"… and {len(open_) - MAX_LISTED} more.")
    return "\n".join(lines)


def handle_command(command: SlashCommand, ports: Any) -> dict[str, Any]:
    words = command.text.split()
    verb = words[0].lower() if words else ""
    store, now = ports.store(), ports.clock()
    if verb == "status":
        return _ephemeral(status_text(store, now))
    if verb in ("mute", "unmute"):
        if len(words) < 2 or not INCIDENT_ID.fullmatch(words[1]):
            return _ephemeral(f"Which incident? `/opsloop {verb} <incident-id>`\n\n{HELP}")
        item = store.get_incident(words[1])
        src = item.incident if item is not None else None
        if item is None or src is None or not src.fingerprint:
            return _ephemeral(f"opsloop does not know incident `{escape(words[1], 120)}`.")
        allowed = ports.allowed_resolvers()
        channel = (item.slack.channel if item.slack is not None else "") or command.channel_id
        if not (command.user_id in allowed if allowed else ports.notifier().is_channel_member(channel, command.user_id)):
            from ..observability import count

            count("CommandForbidden", verb=verb)
            return _ephemeral("Sorry, you are not allowed to mute opsloop incidents here.")
        if verb == "unmute":
            done = store.unmute(storm_scope(src), src.fingerprint)
            return _ephemeral("Unmuted: the next occurrence opens an incident." if done else "That error was not muted.")
        days = int(words[2]) if len(words) > 2 and words[2].isdigit() else 7
        if not 1 <= days <= 90:
            return _ephemeral("Mute for 1 to 90 days.")
        reason = " ".join(words[3:] if len(words) > 2 and words[2].isdigit() else words[2:]) or "muted with /opsloop"
        store.mute(storm_scope(src), src.fingerprint, until=now + days * 86400, by=command.user_id,
                   reason=reason[:500], incident_id=words[1], now=now)
        return _ephemeral(f"Muted for {days} day(s) by <@{command.user_id}>: {escape(reason, 500)}. "
                          "Occurrences are counted; none opens an incident.")
    return _ephemeral(HELP if not verb or verb == "help" else f"Unknown command `{escape(verb, 40)}`.\n\n{HELP}")
