"""Builds the adapters behind each port from settings, once per container.

This is the only place that knows which vendor (or which local stand-in) sits behind a capability; domain
code receives the ports. Every builder is cached so a warm Lambda container reuses its clients, and
``reset()`` forgets them (tests, and the offline run between configurations).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from .config import Settings, get_secrets, get_settings
from .errors import ConfigError


@functools.lru_cache(maxsize=None)
def aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Adaptive retries for throttling inside a step; Step Functions retries the step itself on top.
    return boto3.client(service, config=Config(retries={"max_attempts": 5, "mode": "adaptive"},
                                               connect_timeout=5, read_timeout=60))


@functools.lru_cache(maxsize=1)
def incident_store() -> Any:
    from .incidents import IncidentStore

    s = get_settings()
    s.require("table_name")
    return IncidentStore(aws_client("dynamodb"), s.table_name)


@functools.lru_cache(maxsize=1)
def slack_notifier() -> Any:
    from .slack.notifier import SlackNotifier, make_client

    s = get_settings()
    s.require("slack_channel_id")
    from .slack.credentials import checked_bot_token

    token = checked_bot_token(get_secrets(s).slack_bot_token.get_secret_value())
    return SlackNotifier(make_client(token, base_url=s.slack_api_url or None), s.slack_channel_id)


@functools.lru_cache(maxsize=1)
def wiki() -> Any:
    from .confluence.wiki import ConfluenceWiki, make_client

    s = get_settings()
    s.require("confluence_url", "confluence_space_key")
    sec = get_secrets(s)
    if not sec.confluence_username or not sec.confluence_api_token:
        raise ConfigError("username/password (Confluence email and API token) are empty in the opsloop secret")
    client = make_client(s.confluence_url, sec.confluence_username, sec.confluence_api_token.get_secret_value())
    return ConfluenceWiki(client, s.confluence_space_key, s.confluence_parent_page_id or None)


def _local_roots(s: Settings) -> list[Path]:
    roots = [Path(p) for p in s.local_knowledge_dirs]
    if s.local_reports_dir:
        roots.append(Path(s.local_reports_dir))
    if not roots:
        raise ConfigError("OPSLOOP_LOCAL_KNOWLEDGE_DIRS is empty: the local analyst has nothing to search")
    return roots


@functools.lru_cache(maxsize=1)
def local_retriever() -> Any:
    from .retrieval import LocalRetriever

    s = get_settings()
    return LocalRetriever(_local_roots(s), index_dir=Path(s.index_dir))


@functools.lru_cache(maxsize=1)
def analyst() -> Any:
    s = get_settings()
    if s.analyst == "local":
        from .analysis_local import ExtractiveAnalyst

        return ExtractiveAnalyst(local_retriever())
    if s.analyst == "bedrock-agent":
        from .bedrock.agent import BedrockAgentAnalyst

        s.require("agent_id", "agent_alias_id")
        return BedrockAgentAnalyst(aws_client("bedrock-agent-runtime"), s.agent_id, s.agent_alias_id,
                                   language=s.report_language, reports_prefix=s.reports_prefix)
    from .bedrock.kb import BedrockKbAnalyst

    s.require("knowledge_base_id", "model_id")
    return BedrockKbAnalyst(aws_client("bedrock-agent-runtime"), aws_client("bedrock-runtime"),
                            s.knowledge_base_id, s.model_id, language=s.report_language,
                            reports_prefix=s.reports_prefix)


@functools.lru_cache(maxsize=1)
def summarizer() -> Any:
    s = get_settings()
    if s.summarizer == "local":
        from .summarize_local import ExtractiveSummarizer

        return ExtractiveSummarizer(language=s.report_language)
    from .bedrock.summarizer import BedrockSummarizer

    s.require("model_id")
    return BedrockSummarizer(aws_client("bedrock-runtime"), s.model_id, language=s.report_language)


@functools.lru_cache(maxsize=1)
def ingestion() -> Any:
    s = get_settings()
    if s.ingestion == "local":
        from .local.ingestion import LocalIngestion

        s.require("knowledge_bucket", "local_reports_dir")
        return LocalIngestion(aws_client("s3"), s.knowledge_bucket, s.reports_prefix, Path(s.local_reports_dir),
                              retriever=local_retriever if s.analyst == "local" else None)
    from .bedrock.ingestion import BedrockIngestion

    s.require("knowledge_base_id", "data_source_id")
    return BedrockIngestion(aws_client("bedrock-agent"), s.knowledge_base_id, s.data_source_id)


def reset() -> None:
    from .config import reset_caches

    for f in (aws_client, incident_store, slack_notifier, wiki, local_retriever, analyst, summarizer, ingestion):
        f.cache_clear()
    reset_caches()
