"""IngestKnowledgeFunction: start a Knowledge Base ingestion job (or join the running one) and report its status."""

from __future__ import annotations

from typing import Any

from opsloop import wiring
from opsloop.config import get_settings
from opsloop.errors import InputError
from opsloop.step_handler import incident_of, step
from opsloop.lifecycle import ingest_start, ingest_status


@step("ingest")
def handler(event: dict[str, Any]) -> Any:
    action = event.get("action")
    if action == "start":
        return ingest_start(incident_of(event), wiring.ingestion())
    if action == "status":
        return ingest_status(event.get("ingestion") or {}, wiring.ingestion(), get_settings().ingestion_max_polls)
    raise InputError(f"unknown ingest action {str(action)[:40]!r}")
