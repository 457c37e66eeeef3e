"""What every state-machine step handler shares: correlation id, structured start/finish logs, one
outcome metric, and errors left to propagate (Step Functions retries and catches them by class name).
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

from .models import Incident
from .observability import count, logger


def step(name: str) -> Callable[[Callable[[dict[str, Any]], Any]], Callable[[dict[str, Any], Any], Any]]:
    def wrap(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any], Any], Any]:
        @functools.wraps(fn)
        def handler(event: dict[str, Any], context: Any = None) -> Any:
            log = logger()
            incident_id = str((event.get("incident") or {}).get("incident_id", ""))[:128]
            log.set_correlation_id(str(event.get("execution_id") or incident_id) or None)
            log.append_keys(step=name, incident_id=incident_id)
            started = time.monotonic()
            try:
                result = fn(event)
            except Exception as exc:
                log.warning("step failed", extra={"error": type(exc).__name__, "error_message": str(exc)[:300]})
                count("StepFailed", step=name, error=type(exc).__name__)
                raise
            log.info("step done", extra={"elapsed_ms": int((time.monotonic() - started) * 1000)})
            return result.to_dict() if hasattr(result, "to_dict") else result

        return handler

    return wrap


def incident_of(event: dict[str, Any]) -> Incident:
    return Incident.from_dict(event.get("incident"))
