"""Query formulation: an incident becomes words that identify the failure, without its variable values."""

from __future__ import annotations

from opsloop.models import Incident
from opsloop.retrieval.query import MAX_QUERY_CHARS, build_query, strip_values


def _incident(**kw: object) -> Incident:
    base = dict(incident_id="inc-1", fingerprint="fp-3fa2", template="", message="", source="/aws/lambda/orders",
                service="orders-api")
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


def test_keeps_exception_service_frames_and_template_words_but_drops_values() -> None:
    q = build_query(_incident(
        template="Connection is not available, request timed out after <*>ms user=<*> host 10.0.3.17:5432",
        message="Connection is not available, request timed out after 30000ms user=bob host 10.0.3.17:5432",
        exception="java.sql.SQLTransientConnectionException",
        frames=["at com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
                'File "/var/task/app/handler.py", line 12, in handle']))
    assert q.text.startswith("SQLTransientConnectionException java.sql.SQLTransientConnectionException")
    assert "Connection is not available request timed out" in q.text
    assert "orders-api" in q.text
    assert "HikariPool.createTimeoutException" in q.text and "handler.handle" in q.text
    for value in ("30000", "10.0.3.17", "5432", "<*>", "696", "line 12"):
        assert value not in q.text
    assert (q.fingerprint, q.service, q.exception) == ("fp-3fa2", "orders-api", "java.sql.SQLTransientConnectionException")


def test_falls_back_to_the_message_with_values_stripped() -> None:
    q = build_query(_incident(message="Failed order 12345 for 'alice@example.com' req 550e8400-e29b-41d4-a716-446655440000 "
                                      "at 2024-05-01T10:00:00Z trace 3fa2b9c1d4e5f6a7"))
    assert q.text == "Failed order for req at trace orders-api"


def test_strip_values_removes_ids_hosts_and_quoted_data() -> None:
    out = strip_values('GET https://api.example.com/v1/x?id=7 from 2001:db8::1 arn:aws:iam::123456789012:role/x '
                       'key "customer secret" i-0abc12345def67890 /var/lib/data/file.db')
    for value in ("https://", "123456789012", "customer secret", "i-0abc", "/var/lib", "2001:db8"):
        assert value not in out
    assert out.startswith("GET from")


def test_query_is_bounded_for_the_knowledge_base_retrieve_limit() -> None:
    q = build_query(_incident(template="word " * 1000, frames=["at a.B.c(B.java:1)"] * 50))
    assert 0 < len(q.text) <= MAX_QUERY_CHARS


def test_empty_incident_gives_just_the_service() -> None:
    assert build_query(_incident(template="<*> <*>", message="12 34")).text == "orders-api"


def test_exception_named_in_the_template_is_not_repeated_and_frames_lose_their_package() -> None:
    q = build_query(_incident(
        template="java.sql.SQLTransientConnectionException: HikariPool-<*> - Connection is not available",
        exception="java.sql.SQLTransientConnectionException",
        frames=["com.example.orders.OrderRepository.findById", "com.example.orders.OrderController.get"]))
    assert q.text == ("SQLTransientConnectionException java.sql.SQLTransientConnectionException HikariPool "
                      "Connection is not available orders-api OrderRepository.findById OrderController.get")


def test_an_alarm_query_carries_its_description_redacted_once_and_without_values() -> None:
    # GIVEN an alarm incident as intake builds it: the template is only the alarm's name
    q = build_query(_incident(
        template="CloudWatch alarm OrdersDbConnectionsHigh is in ALARM", source="alarm/OrdersDbConnectionsHigh",
        service="OrdersDbConnectionsHigh", kind="alarm", level="ALARM",
        message="CloudWatch alarm OrdersDbConnectionsHigh is in ALARM: Threshold Crossed: 1 datapoint [97.0]",
        description="More than 90% of max_connections in use on orders-db for 5 minutes"))
    # THEN the query says what the alarm is about, in its author's words, without the numbers,
    # and the name (which is also the service) appears once
    assert q.text == ("CloudWatch alarm OrdersDbConnectionsHigh is in ALARM More than of max_connections in use "
                      "on orders-db for minutes")
    # AND an alarm without a description still searches by its name
    bare = build_query(_incident(template="CloudWatch alarm db-cpu is in ALARM", source="alarm/db-cpu",
                                 service="orders-db", kind="alarm"))
    assert bare.text == "CloudWatch alarm db-cpu is in ALARM orders-db"
