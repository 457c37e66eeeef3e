"""The event publisher over EventBridge: how intake announces an opened incident ("Incident Opened").

Every failure leaves as :class:`~opsloop.errors.TransientError`: the incident is already recorded with its
announcement pending, so Lambda's retry of the batch (or the next occurrence) announces it again, and the
state machine's first state makes a duplicate delivery harmless.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .aws_errors import map_aws_error
from .errors import TransientError


class EventBridgePublisher:
    """:class:`opsloop.ports.EventPublisher` on one EventBridge bus."""

    def __init__(self, events: Any, bus_name: str) -> None:
        self.events = events
        self.bus_name = bus_name

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        entry = {"Source": source, "DetailType": detail_type, "EventBusName": self.bus_name,
                 "Detail": json.dumps(detail), "Resources": []}
        try:
            r = self.events.put_events(Entries=[entry])
        except Exception as exc:  # noqa: BLE001 - any failure: announce again later
            raise TransientError(f"PutEvents failed: {map_aws_error(exc, 'EventBridge PutEvents')}") from exc
        if r.get("FailedEntryCount"):
            code = (r.get("Entries") or [{}])[0].get("ErrorCode", "unknown")
            raise TransientError(f"PutEvents rejected the incident event: {code}")


__all__ = ["EventBridgePublisher"]
