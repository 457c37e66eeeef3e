"""Settings: safe defaults, and bad configuration fails with the variable's name."""

from __future__ import annotations

import pytest

from opsloop.config import SecretStr, load_settings
from opsloop.errors import ConfigError


def test_defaults_are_safe_without_any_environment() -> None:
    s = load_settings({})
    assert s.storm_window_seconds == 900 and s.min_occurrences == 1
    assert s.analyst == "bedrock-kb" and s.report_language == "en" and s.reports_prefix == "reports/"


def test_an_agent_id_selects_the_agent_analyst() -> None:
    assert load_settings({"OPSLOOP_AGENT_ID": "ABCDEF1234"}).analyst == "bedrock-agent"


@pytest.mark.parametrize("env, name", [
    ({"OPSLOOP_STORM_WINDOW_SECONDS": "soon"}, "OPSLOOP_STORM_WINDOW_SECONDS"),
    ({"OPSLOOP_MIN_OCCURRENCES": "0"}, "OPSLOOP_MIN_OCCURRENCES"),
    ({"OPSLOOP_IGNORE_PATTERNS": "{not json"}, "OPSLOOP_IGNORE_PATTERNS"),
    ({"OPSLOOP_IGNORE_PATTERNS": '{"/ecs/x": "not-a-list"}'}, "OPSLOOP_IGNORE_PATTERNS"),
    ({"OPSLOOP_REDACT_PATTERNS": '{"a": 1}'}, "OPSLOOP_REDACT_PATTERNS"),
    ({"OPSLOOP_ANALYST": "gpt"}, "OPSLOOP_ANALYST"),
])
def test_bad_values_name_the_variable(env: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


def test_require_names_every_missing_setting() -> None:
    with pytest.raises(ConfigError, match="OPSLOOP_TABLE_NAME, OPSLOOP_SECRET_ARN"):
        load_settings({}).require("table_name", "secret_arn")


def test_secret_values_never_print() -> None:
    s = SecretStr("xoxb-very-secret")
    assert "xoxb" not in repr(s) and "xoxb" not in str(s) and "xoxb" not in f"{s}"
    assert s.get_secret_value() == "xoxb-very-secret"
