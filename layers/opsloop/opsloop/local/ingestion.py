"""The offline stand-in for a Knowledge Base ingestion job.

Like Bedrock's S3 data source, it reads the knowledge bucket's reports and makes them searchable: it
mirrors every report (``.md`` + ``.md.metadata.json``) under the reports prefix into a local directory the
local retriever indexes. It completes at once; a real ingestion is polled by the state machine.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable

from ..ports import IngestionStatus

_jobs = itertools.count(1)


class LocalIngestion:
    def __init__(self, s3: Any, bucket: str, prefix: str, target: Path,
                 retriever: Callable[[], Any] | None = None) -> None:
        self.s3, self.bucket, self.prefix, self.target = s3, bucket, prefix, target
        self.retriever = retriever
        self._done: dict[str, IngestionStatus] = {}

    def start(self, client_token: str) -> IngestionStatus:
        self.target.mkdir(parents=True, exist_ok=True)
        n = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix):]
                if "/" in name or not name.endswith((".md", ".md.metadata.json")):
                    continue
                body = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                (self.target / name).write_bytes(body)
                n += 1
        if self.retriever is not None and hasattr(self.retriever, "cache_clear"):
            self.retriever.cache_clear()  # the next search sees the new reports
        job = IngestionStatus(job_id=f"local-{next(_jobs)}", status="COMPLETE", detail=f"{n} files indexed")
        self._done[job.job_id] = job
        return IngestionStatus(job.job_id, "STARTING", job.detail)

    def status(self, job_id: str) -> IngestionStatus:
        return self._done.get(job_id) or IngestionStatus(job_id, "FAILED", "unknown local ingestion job")
