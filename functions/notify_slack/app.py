"""NotifySlackFunction: post and wait (open, remind), escalate, say a draft was stored, and post the outcome."""

from __future__ import annotations

import time
from typing import Any

from opsloop import wiring
from opsloop.config import get_settings
from opsloop.errors import InputError
from opsloop.step_handler import incident_of, step
from opsloop.lifecycle import (notify_dismiss, notify_draft, notify_escalate, notify_open, notify_outcome,
                               notify_remind)
from opsloop.models import Analysis, Classification


@step("notify")
def handler(event: dict[str, Any]) -> Any:
    action = event.get("action")
    incident = incident_of(event)
    store, notifier, now = wiring.incident_store(), wiring.slack_notifier(), time.time()
    if action == "open":
        message = notify_open(incident, Classification.from_dict(event.get("classification")),
                              Analysis.from_dict(event.get("analysis")), str(event.get("task_token") or ""),
                              store, notifier, now=now)
        return {"channel": message.channel, "ts": message.ts}
    if action == "remind":
        notify_remind(incident, str(event.get("task_token") or ""), store, notifier,
                      get_settings().allowed_resolvers, now=now)
        return {}
    if action == "escalate":
        notify_escalate(incident, store, notifier, now=now)
        return {}
    if action == "draft":
        return {"posted": notify_draft(incident, event.get("stored") or {}, store, notifier)}
    if action == "dismiss":
        notify_dismiss(incident, Classification.from_dict(event.get("classification")),
                       Analysis.from_dict(event.get("analysis")), event.get("resolution") or {}, store, notifier,
                       now=now)
        return {}
    if action == "outcome":
        return notify_outcome(incident, Classification.from_dict(event.get("classification")),
                              Analysis.from_dict(event.get("analysis")), event.get("resolution") or {},
                              event.get("page") or {}, event.get("stored") or {}, store, notifier, now=now)
    raise InputError(f"unknown notify action {str(action)[:40]!r}")
