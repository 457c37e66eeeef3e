"""Make stored reports searchable: a Knowledge Base ingestion job on the reports' data source.

A data source runs one ingestion job at a time. When several incidents resolve together, the second start
is refused while the first job runs; that is not a failure: we hand back the running job so the state
machine waits for it, exactly as it would wait for its own. (A job that started before this report was
written may miss it; the next start picks it up, because every start re-syncs the whole data source.)
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

from ..errors import TransientError
from ..ports import IngestionStatus
from ..report_rules import bound_text
from .errors import call, error_code, error_message, map_error

RUNNING = ("STARTING", "IN_PROGRESS")
_TOKEN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){32,255}$")
_ALREADY_RUNNING = re.compile(r"already|in progress|in_progress|ongoing|running|concurrent|at a time", re.I)
MAX_DETAIL = 1000


def client_token_for(key: str) -> str:
    """A valid ``clientToken`` (33–256 chars of ``[a-zA-Z0-9-]``) for an idempotency key.

    A key that already fits is used as is; anything else becomes its SHA-256 hex, so the same key (incident
    id + step) always yields the same token and a retried start does not start a second job.
    """
    key = str(key or "")
    return key if _TOKEN.match(key) else hashlib.sha256(key.encode("utf-8")).hexdigest()


def _detail(job: Mapping[str, Any]) -> str:
    parts: list[str] = []
    reasons = [str(r) for r in (job.get("failureReasons") or []) if r]
    if reasons:
        parts.append("failure: " + "; ".join(reasons[:5]))
    stats = job.get("statistics") or {}
    if stats:
        parts.append("scanned {s}, new {n}, modified {m}, deleted {d}, failed {f}".format(
            s=stats.get("numberOfDocumentsScanned", 0), n=stats.get("numberOfNewDocumentsIndexed", 0),
            m=stats.get("numberOfModifiedDocumentsIndexed", 0), d=stats.get("numberOfDocumentsDeleted", 0),
            f=stats.get("numberOfDocumentsFailed", 0)))
    return bound_text(" | ".join(parts), MAX_DETAIL)


def _status_of(job: Mapping[str, Any], note: str = "") -> IngestionStatus:
    status = str(job.get("status") or "")
    if status == "STOPPING":  # not finished yet: a poller keeps waiting, then sees STOPPED
        status, note = "IN_PROGRESS", (note + " stopping").strip()
    detail = " | ".join(p for p in (note, _detail(job)) if p)
    return IngestionStatus(job_id=str(job.get("ingestionJobId") or ""), status=status,
                           detail=bound_text(detail, MAX_DETAIL))


class BedrockIngestion:
    """opsloop.ports.KnowledgeIngestion backed by the ``bedrock-agent`` ingestion job API."""

    def __init__(self, client: Any, knowledge_base_id: str, data_source_id: str) -> None:
        self.client = client
        self.knowledge_base_id = knowledge_base_id
        self.data_source_id = data_source_id

    def start(self, client_token: str) -> IngestionStatus:
        """Start a job, or return the job already running on this data source."""
        for attempt in range(2):
            try:
                response = self.client.start_ingestion_job(
                    knowledgeBaseId=self.knowledge_base_id, dataSourceId=self.data_source_id,
                    clientToken=client_token_for(client_token), description="opsloop: new incident report")
                return _status_of(response.get("ingestionJob") or {})
            except Exception as exc:  # noqa: BLE001 - a running job is expected; the rest is mapped
                if not self._is_already_running(exc):
                    raise map_error(exc, "start_ingestion_job") from exc
            running = self.running_job()
            if running is not None:
                return running
            # The running job finished between our start and our list: starting again should now work.
        raise TransientError("bedrock start_ingestion_job: refused as busy, but no running job was found")

    def running_job(self) -> IngestionStatus | None:
        """The most recently started job that is still STARTING or IN_PROGRESS, if any."""
        response = call("list_ingestion_jobs", self.client.list_ingestion_jobs,
                        knowledgeBaseId=self.knowledge_base_id, dataSourceId=self.data_source_id,
                        filters=[{"attribute": "STATUS", "operator": "EQ", "values": list(RUNNING)}],
                        sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"}, maxResults=10)
        jobs = [j for j in response.get("ingestionJobSummaries") or [] if j.get("status") in RUNNING]
        jobs.sort(key=lambda j: str(j.get("startedAt") or ""), reverse=True)
        if not jobs:
            return None
        from dataclasses import replace

        return replace(_status_of(jobs[0], "joined the ingestion job already running"), joined=True)

    def status(self, job_id: str) -> IngestionStatus:
        response = call("get_ingestion_job", self.client.get_ingestion_job, knowledgeBaseId=self.knowledge_base_id,
                        dataSourceId=self.data_source_id, ingestionJobId=job_id)
        return _status_of(response.get("ingestionJob") or {})

    @staticmethod
    def _is_already_running(exc: Exception) -> bool:
        code = error_code(exc)
        if code == "ConflictException":
            return True
        return code == "ValidationException" and bool(_ALREADY_RUNNING.search(error_message(exc)))


__all__ = ["BedrockIngestion", "client_token_for"]
