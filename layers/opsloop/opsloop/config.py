"""Settings: read from environment variables once per container, at call time (never at import time).

Environment variables hold names, ids and ARNs only. Secret values live in one Secrets Manager secret
(``OPSLOOP_SECRET_ARN``) and are fetched through Powertools parameters with a cache, kept as
:class:`SecretStr` so they never reach a log line by accident.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError


class SecretStr:
    """A secret value that prints as asterisks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    __str__ = __repr__


ANALYSTS = ("bedrock-agent", "bedrock-kb", "local")
SUMMARIZERS = ("bedrock", "local")
INGESTIONS = ("bedrock", "local")


@dataclass(frozen=True)
class Settings:
    table_name: str = ""
    secret_arn: str = ""
    slack_channel_id: str = ""
    report_language: str = "en"
    event_bus_name: str = "default"
    storm_window_seconds: int = 900
    min_occurrences: int = 1
    ignore_patterns: Mapping[str, list[str]] = field(default_factory=dict)
    redact_patterns: list[str] = field(default_factory=list)
    slack_update_seconds: int = 60
    max_message_bytes: int = 8192
    # The stack's own log groups: batches from them are dropped (a second guard against feeding on itself).
    own_log_groups: list[str] = field(default_factory=list)
    # Accounts whose batches and alarms may open incidents; empty accepts every account (offline runs).
    allowed_accounts: list[str] = field(default_factory=list)
    analyst: str = "bedrock-kb"
    agent_id: str = ""
    agent_alias_id: str = ""
    knowledge_base_id: str = ""
    data_source_id: str = ""
    model_id: str = ""
    summarizer: str = "bedrock"
    ingestion: str = "bedrock"
    confluence_url: str = ""
    confluence_space_key: str = ""
    confluence_parent_page_id: str = ""
    knowledge_bucket: str = ""
    reports_prefix: str = "reports/"
    drafts_prefix: str = "drafts/"  # unconfirmed drafts: never under reports_prefix
    allowed_resolvers: list[str] = field(default_factory=list)
    slack_api_url: str = ""  # only set for the offline stand-in
    local_knowledge_dirs: list[str] = field(default_factory=list)  # local retriever roots
    local_reports_dir: str = ""  # where the local ingestion mirrors the bucket's reports
    index_dir: str = "/tmp/opsloop-index"
    ingestion_max_polls: int = 120

    def require(self, *names: str) -> None:
        """Raise ConfigError naming every listed setting that is empty."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env = ", ".join("OPSLOOP_" + n.upper() for n in missing)
            raise ConfigError(f"missing configuration: {env}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _json(env: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(value, kind):
        raise ConfigError(f"{name} must be a JSON {kind.__name__}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [p.strip() for p in env.get(name, "").replace(";", ",").split(",") if p.strip()]


def _accounts(values: list[str]) -> list[str]:
    bad = [v for v in values if not (len(v) == 12 and v.isdigit())]
    if bad:
        raise ConfigError(f"OPSLOOP_ALLOWED_ACCOUNTS: not 12-digit AWS account ids: {', '.join(bad[:5])}")
    return values


def _drafts_prefix(env: Mapping[str, str]) -> str:
    reports = (env.get("OPSLOOP_REPORTS_PREFIX", "reports/").strip() or "reports/").rstrip("/") + "/"
    drafts = (env.get("OPSLOOP_DRAFTS_PREFIX", "drafts/").strip() or "drafts/").rstrip("/") + "/"
    if drafts.startswith(reports) or reports.startswith(drafts):
        raise ConfigError(f"OPSLOOP_DRAFTS_PREFIX ({drafts!r}) must not overlap OPSLOOP_REPORTS_PREFIX ({reports!r}): "
                          "a draft must never replace a confirmed report")
    return drafts


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    e = os.environ if env is None else env
    g = lambda n, d="": e.get("OPSLOOP_" + n, d).strip()  # noqa: E731
    ignore = _json(e, "OPSLOOP_IGNORE_PATTERNS", {}, dict)
    for group, patterns in ignore.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ConfigError(f"OPSLOOP_IGNORE_PATTERNS[{group!r}] must be a list of regular expressions")
    redact = _json(e, "OPSLOOP_REDACT_PATTERNS", [], list)
    analyst_default = "bedrock-agent" if g("AGENT_ID") else "bedrock-kb"
    return Settings(
        table_name=g("TABLE_NAME"),
        secret_arn=g("SECRET_ARN"),
        slack_channel_id=g("SLACK_CHANNEL_ID"),
        report_language=g("REPORT_LANGUAGE", "en") or "en",
        event_bus_name=g("EVENT_BUS_NAME", "default") or "default",
        storm_window_seconds=_int(e, "OPSLOOP_STORM_WINDOW_SECONDS", 900, 1),
        min_occurrences=_int(e, "OPSLOOP_MIN_OCCURRENCES", 1, 1),
        ignore_patterns=ignore,
        redact_patterns=[str(p) for p in redact],
        slack_update_seconds=_int(e, "OPSLOOP_SLACK_UPDATE_SECONDS", 60, 0),
        max_message_bytes=_int(e, "OPSLOOP_MAX_MESSAGE_BYTES", 8192, 256),
        own_log_groups=_list(e, "OPSLOOP_OWN_LOG_GROUPS"),
        allowed_accounts=_accounts(_list(e, "OPSLOOP_ALLOWED_ACCOUNTS")),
        analyst=_choice(e, "OPSLOOP_ANALYST", analyst_default, ANALYSTS),
        agent_id=g("AGENT_ID"),
        agent_alias_id=g("AGENT_ALIAS_ID"),
        knowledge_base_id=g("KNOWLEDGE_BASE_ID"),
        data_source_id=g("DATA_SOURCE_ID"),
        model_id=g("MODEL_ID"),
        summarizer=_choice(e, "OPSLOOP_SUMMARIZER", "bedrock", SUMMARIZERS),
        ingestion=_choice(e, "OPSLOOP_INGESTION", "bedrock", INGESTIONS),
        confluence_url=g("CONFLUENCE_URL"),
        confluence_space_key=g("CONFLUENCE_SPACE_KEY"),
        confluence_parent_page_id=g("CONFLUENCE_PARENT_PAGE_ID"),
        knowledge_bucket=g("KNOWLEDGE_BUCKET"),
        reports_prefix=(g("REPORTS_PREFIX", "reports/") or "reports/").rstrip("/") + "/",
        drafts_prefix=_drafts_prefix(e),
        allowed_resolvers=_list(e, "OPSLOOP_ALLOWED_RESOLVERS"),
        slack_api_url=g("SLACK_API_URL"),
        local_knowledge_dirs=_list(e, "OPSLOOP_LOCAL_KNOWLEDGE_DIRS"),
        local_reports_dir=g("LOCAL_REPORTS_DIR"),
        index_dir=g("INDEX_DIR", "/tmp/opsloop-index") or "/tmp/opsloop-index",
        ingestion_max_polls=_int(e, "OPSLOOP_INGESTION_MAX_POLLS", 120, 1),
    )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


@dataclass(frozen=True)
class Secrets:
    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr
    confluence_username: str
    confluence_api_token: SecretStr


SECRET_KEYS = ("slack_bot_token", "slack_signing_secret", "username", "password")


def get_secrets(settings: Settings | None = None, max_age: int = 300) -> Secrets:
    """The one opsloop secret, cached for ``max_age`` seconds (a rotation is picked up without a deploy)."""
    s = settings or get_settings()
    s.require("secret_arn")
    from aws_lambda_powertools.utilities import parameters  # cold path only

    try:
        raw = _secrets_provider().get(s.secret_arn, transform="json", max_age=max_age)
    except parameters.exceptions.TransformParameterError as exc:
        raise ConfigError("the opsloop secret is not a JSON object") from exc
    except parameters.exceptions.GetParameterError as exc:
        from .errors import TransientError

        raise TransientError(f"could not read the opsloop secret: {type(exc.__cause__ or exc).__name__}") from None
    if not isinstance(raw, dict):
        raise ConfigError("the opsloop secret is not a JSON object")
    return Secrets(
        slack_bot_token=SecretStr(str(raw.get("slack_bot_token", ""))),
        slack_signing_secret=SecretStr(str(raw.get("slack_signing_secret", ""))),
        confluence_username=str(raw.get("username", "")),
        confluence_api_token=SecretStr(str(raw.get("password", ""))),
    )


@functools.lru_cache(maxsize=1)
def _secrets_provider() -> Any:
    """Powertools' secrets provider over the container's shared boto3 session (:func:`opsloop.wiring.aws_client`).

    ``parameters.get_secret`` would build its client in a boto3 session of its own, which loads botocore's
    endpoint and retry data a second time on every cold start; sharing the session the other clients use
    saves that (benchmarks/cold_start.py)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from .wiring import aws_client

    return SecretsProvider(boto3_client=aws_client("secretsmanager"))


def reset_caches() -> None:
    """Forget cached settings and secrets (tests, and the offline run between configurations)."""
    get_settings.cache_clear()
    _secrets_provider.cache_clear()
    try:
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
    except Exception:  # pragma: no cover - powertools missing is a packaging error surfaced elsewhere
        pass
