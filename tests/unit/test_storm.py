"""Storm control: a flood of one error is one incident with an exact occurrence count."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opsloop.config import load_settings
from opsloop.eventbus import EventBridgePublisher
from opsloop.incidents import CLOSED, IncidentStore, storm_scope
from opsloop.intake import Intake
from opsloop.local.runner import encode_subscription

from ..functions.helpers import create_table


class Clock:
    def __init__(self, t: float = 1_790_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each conditional write atomically; moto checks and writes in Python without a lock,
    so concurrent threads can interleave inside one call. Restore the service's guarantee (one lock around
    each item write) so the test exercises opsloop's concurrency logic rather than moto's."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("update_item", "put_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *a: Any, __original: Any = original, **kw: Any) -> Any:
            with lock:
                return __original(self, *a, **kw)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


@pytest.fixture()
def aws(atomic_moto: None) -> Any:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name="bus")
        events.put_rule(Name="opened", EventBusName="bus",
                        EventPattern=json.dumps({"source": ["opsloop.intake"], "detail-type": ["Incident Opened"]}))
        q = sqs.create_queue(QueueName="opened")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule="opened", EventBusName="bus", Targets=[{"Id": "q", "Arn": arn}])
        yield {"ddb": ddb, "events": events, "sqs": sqs, "queue": q, "table": create_table(ddb)}


def _opened_events(aws: Any) -> list[dict]:
    out = []
    while True:
        msgs = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=m["ReceiptHandle"])


def _bus(aws: Any, settings: Any) -> EventBridgePublisher:
    return EventBridgePublisher(aws["events"], settings.event_bus_name)


def _intake(aws: Any, clock: Clock, **env: str) -> Intake:
    settings = load_settings({"OPSLOOP_EVENT_BUS_NAME": "bus", **{f"OPSLOOP_{k.upper()}": v for k, v in env.items()}})
    return Intake(settings, IncidentStore(aws["ddb"], aws["table"]), _bus(aws, settings), clock=clock)


def _line(i: int) -> str:
    return (f"2026-11-25T09:{i % 60:02d}:03Z ERROR req-{i:06x} java.sql.SQLTransientConnectionException: "
            f"HikariPool-1 - Connection is not available, request timed out after {30000 + i % 9}ms.")


def test_ten_thousand_lines_from_concurrent_invocations_open_one_incident_with_the_exact_count(aws: Any) -> None:
    clock = Clock()
    intake = _intake(aws, clock)
    batches = [encode_subscription("/ecs/orders-api", [_line(b * 100 + i) for i in range(100)])["awslogs"]["data"]
               for b in range(100)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(intake.handle_subscription, batches))

    opened = [i for r in results for i in r.opened]
    assert len(opened) == 1
    events = _opened_events(aws)
    assert len(events) == 1 and events[0]["detail"]["incident"]["incident_id"] == opened[0]
    state = IncidentStore(aws["ddb"], aws["table"]).fingerprint_state(storm_scope(events[0]["detail"]["incident"]),
                                                                     events[0]["detail"]["incident"]["fingerprint"])
    assert state["count"] == 10_000


def test_minimum_count_inside_the_window_before_opening(aws: Any) -> None:
    clock = Clock()
    intake = _intake(aws, clock, min_occurrences="3", storm_window_seconds="300")
    one = encode_subscription("/ecs/orders-api", [_line(1)])["awslogs"]["data"]

    assert intake.handle_subscription(one).opened == []
    clock.t += 400  # the window passed: the count starts again
    assert intake.handle_subscription(one).opened == []
    assert intake.handle_subscription(one).opened == []
    third = intake.handle_subscription(one)
    assert len(third.opened) == 1 and list(third.counted.values()) == [3]
    assert len(_opened_events(aws)) == 1


def test_recurrence_after_resolution_opens_a_new_incident_linked_to_the_old_one(aws: Any) -> None:
    clock = Clock()
    intake = _intake(aws, clock)
    batch = encode_subscription("/ecs/orders-api", [_line(1)])["awslogs"]["data"]
    first = intake.handle_subscription(batch).opened[0]
    store = IncidentStore(aws["ddb"], aws["table"])
    opened_incident = _opened_events(aws)[0]["detail"]["incident"]
    fp, scope = opened_incident["fingerprint"], storm_scope(opened_incident)
    store.close_fingerprint(scope, fp, first)
    assert store.fingerprint_state(scope, fp)["status"] == CLOSED

    clock.t += 30 * 24 * 3600  # a month later
    second = intake.handle_subscription(batch).opened
    assert len(second) == 1 and second[0] != first
    incident = _opened_events(aws)[0]["detail"]["incident"]
    assert incident["previous_incident_id"] == first


def test_ignore_patterns_per_log_group_drop_lines_before_they_count(aws: Any) -> None:
    intake = _intake(aws, Clock(), ignore_patterns=json.dumps({"/ecs/orders-api": ["HikariPool"]}))
    result = intake.handle_subscription(encode_subscription("/ecs/orders-api", [_line(1), _line(2)])["awslogs"]["data"])
    assert result.ignored == 2 and result.opened == []


def test_bad_ignore_pattern_is_a_clear_config_error(aws: Any) -> None:
    from opsloop.errors import ConfigError

    with pytest.raises(ConfigError, match="IGNORE_PATTERNS"):
        _intake(aws, Clock(), ignore_patterns=json.dumps({"*": ["(unclosed"]}))


def test_an_announcement_lost_by_a_crashed_opener_is_resent_by_a_later_occurrence(aws: Any) -> None:
    # GIVEN an opener that recorded the incident but died before PutEvents
    clock = Clock()
    store = IncidentStore(aws["ddb"], aws["table"])
    occ = store.record("/ecs/orders-api", "fp1", 1, now=clock(), new_incident_id="inc-1", window_seconds=900)
    assert occ.opened and occ.event_pending
    # WHEN another occurrence arrives inside the grace period, it does not announce again
    assert not store.record("/ecs/orders-api", "fp1", 1, now=clock() + 5, new_incident_id="x",
                            window_seconds=900).event_pending
    # THEN one arriving after it does, so the incident is not lost
    later = store.record("/ecs/orders-api", "fp1", 1, now=clock() + 120, new_incident_id="y", window_seconds=900)
    assert later.event_pending and later.incident_id == "inc-1" and later.count == 3


class CountingSlack:
    def __init__(self) -> None:
        self.updates: list[int] = []

    def update_occurrences(self, message: Any, incident: Any, classification: Any, analysis: Any) -> None:
        self.updates.append(incident.occurrences)


def test_the_slack_message_count_is_kept_current_at_most_once_per_interval(aws: Any) -> None:
    clock = Clock()
    slack = CountingSlack()
    settings = load_settings({"OPSLOOP_EVENT_BUS_NAME": "bus", "OPSLOOP_SLACK_UPDATE_SECONDS": "60"})
    store = IncidentStore(aws["ddb"], aws["table"])
    intake = Intake(settings, store, _bus(aws, settings), notifier=lambda: slack, clock=clock)
    batch = encode_subscription("/ecs/orders-api", [_line(i) for i in range(5)])["awslogs"]["data"]
    incident_id = intake.handle_subscription(batch).opened[0]
    # the incident was posted (what the notify step stores)
    store.update_incident(incident_id, slack={"channel": "C0OPS", "ts": "1790000000.000100", "permalink": ""},
                          classification={"category": "database", "severity": "high"},
                          analysis={"summary": "s", "root_cause": "r"})

    intake.handle_subscription(batch)  # 10 so far: the first refresh
    clock.t += 10
    intake.handle_subscription(batch)  # 15, inside the interval: no call
    clock.t += 61
    intake.handle_subscription(batch)  # 20: the next refresh

    assert slack.updates == [10, 20]


def test_a_failing_fingerprint_does_not_cost_the_other_groups_of_the_batch(aws: Any) -> None:
    from opsloop.errors import TransientError

    class FlakyStore(IncidentStore):
        def record(self, scope: str, fingerprint: str, n: int, **kw: Any) -> Any:
            if n == 2:  # the group with two lines
                raise TransientError("DynamoDB update_item: ProvisionedThroughputExceededException")
            return super().record(scope, fingerprint, n, **kw)

    settings = load_settings({"OPSLOOP_EVENT_BUS_NAME": "bus"})
    intake = Intake(settings, FlakyStore(aws["ddb"], aws["table"]), _bus(aws, settings), clock=Clock())
    batch = encode_subscription("/ecs/orders-api", [_line(1), _line(2), "ERROR Task timed out after 3.00 seconds"])
    with pytest.raises(TransientError):
        intake.handle_subscription(batch["awslogs"]["data"])  # raised so Lambda retries the batch...
    opened = _opened_events(aws)
    assert len(opened) == 1 and "timed out" in opened[0]["detail"]["incident"]["template"]  # ...after the rest


def test_a_truncated_occurrence_counts_towards_the_same_incident(aws: Any) -> None:
    intake = _intake(aws, Clock())
    short = "ERROR java.lang.IllegalStateException: cache rebuild failed for shards " + "k7 " * 20
    huge = "ERROR java.lang.IllegalStateException: cache rebuild failed for shards " + "k9 " * 100_000
    first = intake.handle_subscription(encode_subscription("/ecs/cache", [short])["awslogs"]["data"])
    second = intake.handle_subscription(encode_subscription("/ecs/cache", [huge])["awslogs"]["data"])
    assert len(first.opened) == 1 and second.opened == []
    assert second.counted == {first.opened[0]: 2}


def test_a_whole_batch_is_redacted_before_anything_is_counted_ignored_or_announced(aws: Any) -> None:
    # GIVEN a batch large enough for the batch path: secrets in 30 lines, 10 lines to ignore, 20 other errors
    intake = _intake(aws, Clock(), ignore_patterns=json.dumps({"/ecs/orders-api": ["healthcheck"]}))
    secret = "AKIAZ3MPLE7EXAMPLE2Q"
    lines = ([f"payment {i} failed: password=hunter{i} with key {secret}" for i in range(30)]
             + ["healthcheck failed on /health"] * 10 + [_line(i) for i in range(20)])
    # WHEN it arrives
    result = intake.handle_subscription(encode_subscription("/ecs/orders-api", lines)["awslogs"]["data"])
    # THEN the ignored lines are dropped, each kind of error is one incident with its exact count,
    # and no secret reaches the announcement (sample message, template or anything else)
    assert (result.lines, result.ignored, result.groups, len(result.opened)) == (60, 10, 2, 2)
    events = _opened_events(aws)
    text = json.dumps(events)
    assert secret not in text and "hunter" not in text and "[REDACTED:" in text
    store = IncidentStore(aws["ddb"], aws["table"])
    counts = sorted(store.fingerprint_state(storm_scope(e["detail"]["incident"]), e["detail"]["incident"]["fingerprint"])["count"]
                    for e in events)
    assert counts == [20, 30]
