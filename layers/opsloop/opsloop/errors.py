"""The errors opsloop raises at a handler boundary.

Step Functions matches a Lambda error by the leaf class name exactly, so the state machine's Retry and
Catch clauses name these classes. Adapters map vendor errors into them: a throttle, a 429 or a 5xx is
transient (retried with jitter and a cap), anything else is permanent (caught into the failure path).
"""

from __future__ import annotations


class OpsloopError(Exception):
    """Base class; never raised directly."""


class TransientError(OpsloopError):
    """Worth retrying: throttling, 429, 5xx, timeouts, a resource that is momentarily busy."""


class PermanentError(OpsloopError):
    """Retrying will not help: bad input, bad configuration, 4xx other than 429, a missing resource."""


class ConfigError(PermanentError):
    """A setting is missing or malformed. Raised at call time with the setting's name."""


class InputError(PermanentError):
    """An event or request does not have the shape opsloop expects."""


class CallbackRefused(OpsloopError):
    """Step Functions refused a task callback; ``code`` says why (e.g. ``TaskTimedOut``)."""

    WAIT_ENDED = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})

    def __init__(self, code: str) -> None:
        super().__init__(f"Step Functions refused the callback: {code}")
        self.code = code

    @property
    def wait_ended(self) -> bool:
        """The token no longer waits (timed out, replaced by the next wait, or the execution ended)."""
        return self.code in self.WAIT_ENDED
