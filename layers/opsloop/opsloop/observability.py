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


NAMESPACE = "Opsloop"


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one metric now (EMF on stdout; CloudWatch turns it into a metric without an API call).

    Every metric also carries ``service`` (POWERTOOLS_SERVICE_NAME, ``opsloop`` in the template): the
    dashboard in template.yaml names each metric with exactly these dimensions."""
    observe(name, value, "Count", **dimensions)


def observe(name: str, value: float, unit: str, **dimensions: str) -> None:
    """Emit one metric with a unit (``Count``, ``Seconds``, ``Milliseconds``)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=NAMESPACE) as m:
        for k, v in dimensions.items():
            m.add_dimension(name=k, value=str(v)[:250] or "none")
