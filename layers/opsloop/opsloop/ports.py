"""Capabilities the domain code needs, as protocols. Vendors (Slack, Confluence, Bedrock) and the local
stand-ins are adapters behind them, picked by settings in :mod:`opsloop.wiring`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from .models import Analysis, Classification, Incident, Report, Source, ThreadMessage


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    ts: str  # Slack message timestamp; the incident's thread is keyed by it
    permalink: str = ""


class Notifier(Protocol):
    """The team's chat (Slack), by intent: domain code says what happened, the adapter chooses the words
    (:class:`opsloop.slack.messages.IncidentRoom`)."""

    def post_incident(self, incident: Incident, classification: Classification, analysis: Analysis) -> PostedMessage:
        """Opened: the analysis with the Resolve button and the room's actions."""
        ...
    def update_occurrences(self, message: PostedMessage, incident: Incident, classification: Classification,
                           analysis: Analysis) -> None: ...
    def muted_before(self, message: PostedMessage, *, by: str, at: str, reason: str, count: int) -> None: ...
    def remind(self, message: PostedMessage, resolvers: Sequence[str]) -> None: ...
    def escalated(self, message: PostedMessage, *, by: str = "") -> None: ...
    def draft_stored(self, message: PostedMessage, *, report_key: str) -> None: ...
    def dismissed(self, message: PostedMessage, incident: Incident, classification: Classification,
                  analysis: Analysis | None, *, by: str, reason: str, days: int) -> None: ...
    def resolved(self, message: PostedMessage, incident: Incident, classification: Classification,
                 analysis: Analysis, *, resolved_by: str, page_url: str, page_created: bool, page_version: Any,
                 report_key: str) -> None: ...
    def failed(self, message: PostedMessage | None, incident: Incident, *, step: str, error: str,
               cause: str) -> None: ...
    def answer(self, where: PostedMessage, analysis: Analysis) -> int: ...
    def fetch_thread(self, message: PostedMessage, limit: int = 200) -> list[ThreadMessage]: ...
    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class PublishedPage:
    page_id: str
    url: str
    version: int
    created: bool  # False when an existing page (same fingerprint) was updated


class Wiki(Protocol):
    """Where people read incident reports (Confluence)."""

    def publish(self, report: Report, *, analysis_sources: Sequence[Source] = ()) -> PublishedPage: ...


@dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float
    title: str = ""
    path: str = ""


class Retriever(Protocol):
    def search(self, query: str, top_k: int = 5) -> list[Hit]: ...


class Analyst(Protocol):
    """Explains an incident from the team's knowledge (Bedrock Agent / KB, or the local extractive one)."""

    def analyze(self, incident: Incident, classification: Classification) -> Analysis: ...


class Summarizer(Protocol):
    """Turns a resolved incident's Slack thread into a structured report."""

    def summarize(self, incident: Incident, classification: Classification, analysis: Analysis,
                  thread: list[ThreadMessage], resolved_by: str, previous: Report | None) -> Report: ...


@dataclass(frozen=True)
class IngestionStatus:
    job_id: str
    status: str  # STARTING | IN_PROGRESS | COMPLETE | FAILED | STOPPED
    detail: str = ""
    joined: bool = False  # an already-running job was returned: it may have started before our report landed


@dataclass(frozen=True)
class ArchivedReport:
    bucket: str  # where it is kept
    key: str  # object key of the Markdown report; its KB metadata sidecar is key + ".metadata.json"
    uri: str  # e.g. s3://bucket/reports/incident-….md


class ReportArchive(Protocol):
    """Where reports are kept for the Knowledge Base to ingest (the knowledge bucket)."""

    def put_report(self, key: str, markdown: bytes, metadata: bytes) -> ArchivedReport: ...


class EventPublisher(Protocol):
    """Where opened incidents are announced (the EventBridge bus that starts the state machine)."""

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None: ...


class TaskCallbacks(Protocol):
    """Ends a waiting execution (Step Functions' task token). Raises
    :class:`~opsloop.errors.CallbackRefused` when the token no longer waits or the call was refused."""

    def succeed(self, token: str, output: str) -> None: ...


class KnowledgeIngestion(Protocol):
    """Makes stored reports searchable (Bedrock KB ingestion job, or the local index)."""

    def start(self, client_token: str) -> IngestionStatus: ...
    def status(self, job_id: str) -> IngestionStatus: ...


__all__ = [
    "Analyst", "ArchivedReport", "EventPublisher", "Hit", "IngestionStatus", "KnowledgeIngestion", "Notifier",
    "PostedMessage", "PublishedPage", "ReportArchive", "Retriever", "Source", "Summarizer", "TaskCallbacks", "Wiki",
]
