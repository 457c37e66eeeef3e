"""The offline stand-ins (``opsloop local run`` and the tests); not deployed.

Importing this package registers the stand-ins the deployed wiring cannot name (it never imports
``opsloop.local``): see :func:`opsloop.wiring.provide_offline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import wiring
from ..config import Settings


def _local_ingestion(s: Settings) -> Any:
    from .ingestion import LocalIngestion

    s.require("knowledge_bucket", "local_reports_dir")
    return LocalIngestion(wiring.aws_client("s3"), s.knowledge_bucket, s.reports_prefix, Path(s.local_reports_dir),
                          retriever=wiring.local_retriever if s.analyst == "local" else None,
                          drafts_prefix=s.drafts_prefix)


wiring.provide_offline("ingestion", _local_ingestion)
