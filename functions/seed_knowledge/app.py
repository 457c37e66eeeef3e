"""SeedKnowledgeFunction: the ``Custom::SeedKnowledge`` resource that copies the packaged runbooks to the
knowledge bucket and starts an ingestion (the logic is :mod:`opsloop.knowledge_seed`)."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from opsloop.knowledge_seed import answer_custom_resource

logging.getLogger().setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))

#: Where ``sam build`` puts the repository's knowledge/ directory inside the deployment package.
KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"


@functools.lru_cache(maxsize=1)
def _clients() -> tuple[Any, Any]:
    """boto3 clients, created once per container (cold path only; Delete never needs them)."""
    import boto3

    return boto3.client("s3"), boto3.client("bedrock-agent")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return answer_custom_resource(event, context, clients=_clients, knowledge_dir=KNOWLEDGE_DIR)
