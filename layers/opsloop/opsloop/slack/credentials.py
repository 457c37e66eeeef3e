"""Checks on the Slack credentials read from the opsloop secret, before any request is trusted with them.

The stack creates its secret with placeholders (``replace-me``) so that it can be deployed before the Slack
app exists. A placeholder signing secret is public knowledge: accepting it would let anyone who has read
the template sign a click. So a value that is a known placeholder, or that does not have the shape Slack
issues (a signing secret is 32 hexadecimal characters; a bot token starts with ``xoxb-``), is refused with a
:class:`~opsloop.errors.ConfigError` naming the fix, and counted (metric ``SlackCredentialRefused``).
The value itself never reaches the message, the log or the metric.
"""

from __future__ import annotations

import re

from ..errors import ConfigError

SIGNING_SECRET = re.compile(r"[0-9a-fA-F]{32}")
BOT_TOKEN = re.compile(r"xoxb-[A-Za-z0-9-]{16,250}")
PLACEHOLDER_WORDS = ("replace", "changeme", "change-me", "placeholder", "example", "your-", "todo", "xxxx")


def _looks_placeholder(value: str) -> bool:
    low = value.lower()
    return any(word in low for word in PLACEHOLDER_WORDS) or len(set(low.replace("-", "").replace("xoxb", ""))) <= 2


def _refuse(which: str, why: str) -> ConfigError:
    from ..observability import count, logger

    count("SlackCredentialRefused", credential=which, reason=why)
    logger().error("slack credential refused", extra={"credential": which, "reason": why})
    hint = {"slack_signing_secret": "copy the Signing Secret from the Slack app's Basic Information page",
            "slack_bot_token": "copy the Bot User OAuth Token (xoxb-…) from the Slack app's OAuth & Permissions page"}
    return ConfigError(f"{which} in the opsloop secret is {why}: {hint[which]} into the secret "
                       "(Secrets Manager) and retry")


def checked_signing_secret(value: str) -> str:
    """``value`` if it can be Slack's signing secret; ConfigError (and a metric) otherwise."""
    value = (value or "").strip()
    if not value:
        raise _refuse("slack_signing_secret", "empty")
    if _looks_placeholder(value):
        raise _refuse("slack_signing_secret", "a placeholder")
    if not SIGNING_SECRET.fullmatch(value):
        raise _refuse("slack_signing_secret", "not 32 hexadecimal characters")
    return value


def checked_bot_token(value: str) -> str:
    """``value`` if it can be a Slack bot token; ConfigError (and a metric) otherwise."""
    value = (value or "").strip()
    if not value:
        raise _refuse("slack_bot_token", "empty")
    if _looks_placeholder(value):
        raise _refuse("slack_bot_token", "a placeholder")
    if not BOT_TOKEN.fullmatch(value):
        raise _refuse("slack_bot_token", "not a bot token (xoxb- followed by at least 16 characters)")
    return value


__all__ = ["checked_bot_token", "checked_signing_secret"]
