"""The ``/opsloop`` slash command."""

from __future__ import annotations

from typing import Any

from .interactions import SlashCommand

HELP = ("Usage: `/opsloop status` lists open incidents; `/opsloop mute <incident-id> <days> <reason>` and "
        "`/opsloop unmute <incident-id>` stop and restart incidents for an error.")


def handle_command(command: SlashCommand, ports: Any) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": HELP}
