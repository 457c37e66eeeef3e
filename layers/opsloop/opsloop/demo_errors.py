"""The demo error generator: logs one realistic application error every time it runs (scheduled every 10
minutes when the stack's EnableDemoErrors parameter is "true"), so a fresh deploy can be seen working end
to end: its log group is subscribed like any other, the error becomes an incident, the incident reaches Slack.

The scenario changes every hour and matches a seed runbook, so the analysis has something to cite; within
the hour the same error repeats, which shows storm control (one incident, a growing occurrence count).
Nothing here touches AWS: the only effect is the log line.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

logger = logging.getLogger("orders-api")
logger.setLevel(logging.INFO)


class OperationalError(Exception):
    """Stands in for psycopg2.OperationalError (the demo carries no database driver)."""


class ReadTimeoutError(Exception):
    """Stands in for urllib3.exceptions.ReadTimeoutError."""


def _db_exhausted() -> None:
    raise OperationalError(
        'connection to server at "orders-db.cluster-c9xk2example.eu-west-1.rds.amazonaws.com" (10.0.3.17), '
        "port 5432 failed: FATAL: remaining connection slots are reserved for non-replication superuser "
        "connections"
    )


def _dns_failure() -> None:
    raise ConnectionError(
        "HTTPSConnectionPool(host='payments.internal.example.com', port=443): Max retries exceeded with url: "
        "/v1/charges (Caused by NameResolutionError(\"Failed to resolve 'payments.internal.example.com' "
        "([Errno -2] Name or service not known)\"))"
    )


def _upstream_timeout() -> None:
    raise ReadTimeoutError(
        "HTTPSConnectionPool(host='inventory.internal.example.com', port=443): Read timed out. (read timeout=3.0)"
    )


#: (what the request was doing, how it fails). Keep each failure matching a runbook in knowledge/runbooks.
SCENARIOS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("POST /orders failed while reserving stock", _db_exhausted),
    ("POST /orders failed while charging the card", _dns_failure),
    ("GET /orders/{id} failed while reading inventory", _upstream_timeout),
)


def pick_scenario(now: float) -> tuple[str, Callable[[], None]]:
    """The scenario for this hour: stable within an hour (storm control), rotating across hours."""
    return SCENARIOS[int(now // 3600) % len(SCENARIOS)]


def log_demo_error(request_id: str) -> dict[str, str]:
    """Log one ERROR line with a real traceback (one CloudWatch event: Lambda joins the record's lines)."""
    what, fail = pick_scenario(time.time())
    try:
        fail()
    except Exception as exc:  # noqa: BLE001 - the point is to log it
        logger.error("%s (request_id=%s)", what, request_id, exc_info=True)
        return {"logged": type(exc).__name__}
    return {"logged": ""}
