"""The report archive over S3: the knowledge bucket the Knowledge Base ingests.

A report is two objects, the Markdown and its Bedrock KB metadata sidecar (``<key>.metadata.json``, which
the S3 data source reads to make the report filterable). Failures leave through :mod:`opsloop.aws_errors`.
"""

from __future__ import annotations

from typing import Any

from .aws_errors import aws_call
from .ports import ArchivedReport


class S3ReportArchive:
    """:class:`opsloop.ports.ReportArchive` in one S3 bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put_report(self, key: str, markdown: bytes, metadata: bytes) -> ArchivedReport:
        operation = f"S3 PutObject to s3://{self.bucket}/{key}"
        aws_call(operation, self.s3.put_object, Bucket=self.bucket, Key=key, Body=markdown,
                 ContentType="text/markdown; charset=utf-8")
        aws_call(operation, self.s3.put_object, Bucket=self.bucket, Key=key + ".metadata.json", Body=metadata,
                 ContentType="application/json")
        return ArchivedReport(bucket=self.bucket, key=key, uri=f"s3://{self.bucket}/{key}")
