"""SlackInteractionsFunction: Slack's interactivity, Events API and ``/opsloop`` requests (HttpApi).

All three paths go through one router (opsloop.slack.router): strict body decoding, signature and
replay-window check, retry handling, 400 for signed but malformed requests. A thread question is answered
by an asynchronous invocation of this same function (``{"opsloop_async": "question", ...}``).
"""

from __future__ import annotations

from typing import Any

from opsloop.slack.router import default_ports, handle


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return handle(event, default_ports())
