"""The offline stand-in for a Knowledge Base ingestion job.

Like Bedrock's S3 data source, it reads the knowledge bucket's reports and makes them searchable: it
mirrors every report (``.md`` + ``.md.metadata.json``) under the reports prefix into a local directory the
local retriever indexes, and every draft under the drafts prefix into its ``drafts/`` subdirectory (indexed
too, and skipped as an answer because of its ``kind: draft``). It completes at once; a real ingestion is
polled by the state machine.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable

from ..ports import IngestionStatus

_jobs = itertools.count(1)


class LocalIngestion:
    def __init__(self, s3: Any, bucket: str, prefix: str, target: Path,
                 retriever: Callable[[], Any] | None = None, drafts_prefix: str = "") -> None:
        self.s3, self.bucket, self.prefix, self.target = s3, bucket, prefix, target
        self.drafts_prefix = drafts_prefix
        self.retriever = retriever
        self._done: dict[str, IngestionStatus] = {}

    def start(self, client_token: str) -> IngestionStatus:
        self.target.mkdir(parents=True, exist_ok=True)
        n = self._mirror(self.prefix, self.target)
        if self.drafts_prefix:
            n += self._mirror(self.drafts_prefix, self.target / "drafts")
        if self.retriever is not None and hasattr(self.retriever, "cache_clear"):
            self.retriever.cache_clear()  # the next search sees the new reports
        job = IngestionStatus(job_id=f"local-{next(_jobs)}", status="COMPLETE", detail=f"{n} files indexed")
        self._done[job.job_id] = job
        return IngestionStatus(job.job_id, "STARTING", job.detail)

    def _mirror(self, prefix: str, target: Path) -> int:
        n = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix):]
                if "/" in name or not name.endswith((".md", ".md.metadata.json")):
                    continue
                target.mkdir(parents=True, exist_ok=True)
                body = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                (target / name).write_bytes(body)
                n += 1
        return n

    def status(self, job_id: str) -> IngestionStatus:
        return self._done.get(job_id) or IngestionStatus(job_id, "FAILED", "unknown local ingestion job")
