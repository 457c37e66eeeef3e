"""Builds the adapters behind each port from settings, once per container.

This is the only place that knows which vendor (or which local stand-in) sits behind a capability; domain
code receives the ports. Every builder is cached so a warm Lambda container reuses its clients, and
``reset()`` forgets them (tests, and the offline run between configurations).

Stand-ins that exist only for the offline run live in :mod:`opsloop.local`, which is not deployed: nothing
here imports it. Importing that package registers them (:func:`provide_offline`), so a deployed function
configured for one gets a clear ConfigError instead of an ImportError.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .config import Settings, get_secrets, get_settings
from .errors import ConfigError

if TYPE_CHECKING:
    from .incidents import IncidentStore
    from .ports import Analyst, EventPublisher, KnowledgeIngestion, ReportArchive, Summarizer, TaskCallbacks, Wiki
    from .retrieval import LocalRetriever
    from .slack.notifier import SlackNotifier
    from .templates import TemplateLearner

#: capability → factory(settings), registered by opsloop.local for the offline run only.
_offline: dict[str, Callable[[Settings], Any]] = {}


def provide_offline(capability: str, factory: Callable[[Settings], Any]) -> None:
    """Register an offline stand-in (called by :mod:`opsloop.local` when it is imported)."""
    _offline[capability] = factory


def _offline_adapter(capability: str, setting: str, s: Settings) -> Any:
    factory = _offline.get(capability)
    if factory is None:
        raise ConfigError(f"{setting}=local is only available in the offline run (opsloop local run): "
                          "the local stand-ins are not deployed")
    return factory(s)


@functools.lru_cache(maxsize=None)
def aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Adaptive retries for throttling inside a step; Step Functions retries the step itself on top.
    return boto3.client(service, config=Config(retries={"max_attempts": 5, "mode": "adaptive"},
                                               connect_timeout=5, read_timeout=60))


@functools.lru_cache(maxsize=1)
def incident_store() -> IncidentStore:
    from .incidents import IncidentStore

    s = get_settings()
    s.require("table_name")
    return IncidentStore(aws_client("dynamodb"), s.table_name)


@functools.lru_cache(maxsize=1)
def report_archive() -> ReportArchive:
    from .archive import S3ReportArchive

    s = get_settings()
    s.require("knowledge_bucket")
    return S3ReportArchive(aws_client("s3"), s.knowledge_bucket)


@functools.lru_cache(maxsize=1)
def event_publisher() -> EventPublisher:
    from .eventbus import EventBridgePublisher

    return EventBridgePublisher(aws_client("events"), get_settings().event_bus_name)


@functools.lru_cache(maxsize=1)
def task_callbacks() -> TaskCallbacks:
    from .callbacks import StepFunctionsCallbacks

    return StepFunctionsCallbacks(aws_client("stepfunctions"))


@functools.lru_cache(maxsize=1)
def template_learner() -> TemplateLearner:
    """The container's template learner over the incidents table (its cache lives as long as the container)."""
    from .templates import DynamoTemplateStore, TemplateLearner

    s = get_settings()
    s.require("table_name")
    return TemplateLearner(DynamoTemplateStore(aws_client("dynamodb"), s.table_name))


@functools.lru_cache(maxsize=1)
def slack_notifier() -> SlackNotifier:
    from .slack.notifier import SlackNotifier, make_client

    s = get_settings()
    s.require("slack_channel_id")
    from .slack.credentials import checked_bot_token

    token = checked_bot_token(get_secrets(s).slack_bot_token.get_secret_value())
    return SlackNotifier(make_client(token, base_url=s.slack_api_url or None), s.slack_channel_id)


@functools.lru_cache(maxsize=1)
def wiki() -> Wiki:
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
def local_retriever() -> LocalRetriever:
    from .retrieval import LocalRetriever

    s = get_settings()
    return LocalRetriever(_local_roots(s), index_dir=Path(s.index_dir))


@functools.lru_cache(maxsize=1)
def analyst() -> Analyst:
    s = get_settings()
    if s.analyst == "local":
        from .analysis_local import ExtractiveAnalyst

        return ExtractiveAnalyst(local_retriever())
    if s.analyst == "bedrock-agent":
        from .bedrock.agent import BedrockAgentAnalyst

        s.require("agent_id", "agent_alias_id")
        return BedrockAgentAnalyst(aws_client("bedrock-agent-runtime"), s.agent_id, s.agent_alias_id,
                                   language=s.report_language, reports_prefix=s.reports_prefix,
                                   knowledge_base_id=s.knowledge_base_id)
    from .bedrock.kb import BedrockKbAnalyst

    s.require("knowledge_base_id", "model_id")
    return BedrockKbAnalyst(aws_client("bedrock-agent-runtime"), aws_client("bedrock-runtime"),
                            s.knowledge_base_id, s.model_id, language=s.report_language,
                            reports_prefix=s.reports_prefix)


@functools.lru_cache(maxsize=1)
def summarizer() -> Summarizer:
    s = get_settings()
    if s.summarizer == "local":
        from .report_rules import ExtractiveSummarizer

        return ExtractiveSummarizer(language=s.report_language)
    from .bedrock.summarizer import BedrockSummarizer

    s.require("model_id")
    return BedrockSummarizer(aws_client("bedrock-runtime"), s.model_id, language=s.report_language)


@functools.lru_cache(maxsize=1)
def ingestion() -> KnowledgeIngestion:
    s = get_settings()
    if s.ingestion == "local":
        return _offline_adapter("ingestion", "OPSLOOP_INGESTION", s)
    from .bedrock.ingestion import BedrockIngestion

    s.require("knowledge_base_id", "data_source_id")
    return BedrockIngestion(aws_client("bedrock-agent"), s.knowledge_base_id, s.data_source_id)


def reset() -> None:
    from .config import reset_caches

    for f in (aws_client, incident_store, report_archive, event_publisher, task_callbacks, template_learner, slack_notifier, wiki, local_retriever,
              analyst, summarizer, ingestion):
        f.cache_clear()
    reset_caches()
