"""Structured logging and business metrics, shared by every function.

Log keys, never whole events or Slack payloads; one metric per outcome; the correlation id is the Step
Functions execution id (or the incident id where there is no execution yet).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service="opsloop")


@functools.lru_cache(maxsize=1)
def metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace="Opsloop", service="opsloop")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one metric now (EMF on stdout; CloudWatch turns it into a metric without an API call)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace="Opsloop") as m:
        for k, v in dimensions.items():
            m.add_dimension(name=k, value=str(v)[:250] or "none")
