"""Bedrock adapters: grounded analysis (Agent, or KB Retrieve + Converse), report writing, KB ingestion.

Importing this package is cheap: the adapters and botocore load on first use, so a function that only
needs, say, ingestion does not pay for the others on a cold start.

Wiring sketch (clients are created once per container and injected)::

    runtime = boto3.client("bedrock-runtime", config=client_config(60))
    agent_runtime = boto3.client("bedrock-agent-runtime", config=client_config(60))
    analyst = BedrockKbAnalyst(agent_runtime, runtime, kb_id, model_id, language="ko")
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BedrockAgentAnalyst": ".agent",
    "BedrockKbAnalyst": ".kb",
    "BedrockSummarizer": ".summarizer",
    "BedrockIngestion": ".ingestion",
    "map_error": ".errors",
}


def client_config(timeout_seconds: float, max_attempts: int = 3) -> Any:
    """botocore Config for a Bedrock client: the time budget as the read timeout, standard retry mode.

    The read timeout is what actually bounds a Converse call; keep it below the Lambda timeout so a slow
    model surfaces as a retryable ``TransientError`` instead of a killed function.
    """
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=max(1, int(timeout_seconds)),
                  retries={"mode": "standard", "max_attempts": max(1, int(max_attempts))})


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)


__all__ = [*_EXPORTS, "client_config"]
