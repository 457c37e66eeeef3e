"""Account-wide intake: the loop guard, allowed accounts, per-(account, region, log group) storm keys,
Kinesis-delivered batches from member accounts, and the decoder's memory bounds."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from opsloop.config import load_settings
from opsloop.errors import ConfigError, InputError
from opsloop.eventbus import EventBridgePublisher
from opsloop.incidents import IncidentStore, storm_scope
from opsloop.intake import Intake
from opsloop.logparse import MAX_DECOMPRESSED_BYTES, MAX_LOG_EVENTS, decode_subscription

from . import test_storm as _storm

Clock, _opened_events = _storm.Clock, _storm._opened_events
aws, atomic_moto = _storm.aws, _storm.atomic_moto  # the same moto fixtures as the storm tests

OWN = "/aws/lambda/opsloop-intake"
PROD, STAGING = "111111111111", "222222222222"


def _payload(group: str, messages: list[str], *, owner: str = PROD, kind: str = "DATA_MESSAGE") -> str:
    doc = {"messageType": kind, "owner": owner, "logGroup": group, "logStream": "s/1",
           "subscriptionFilters": ["opsloop"],
           "logEvents": [{"id": str(i), "timestamp": 1_790_000_000_000 + i, "message": m} for i, m in enumerate(messages)]}
    return base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()


def _intake(aws: Any, **env: str) -> Intake:
    settings = load_settings({"OPSLOOP_EVENT_BUS_NAME": "bus", **{f"OPSLOOP_{k.upper()}": v for k, v in env.items()}})
    return Intake(settings, IncidentStore(aws["ddb"], aws["table"]), EventBridgePublisher(aws["events"], settings.event_bus_name), clock=Clock())


ERR = "ERROR psycopg2.OperationalError: connection to server at 10.0.0.7 failed: too many clients"


def test_a_batch_from_the_stacks_own_log_group_is_dropped_and_counted_never_an_incident(aws: Any) -> None:
    intake = _intake(aws, own_log_groups=f"{OWN},/aws/vendedlogs/states/opsloop-incident")
    out = intake.handle({"awslogs": {"data": _payload(OWN, [ERR] * 5)}}, region="us-east-1")
    assert out["dropped"] == "own-log-group" and out["opened"] == []
    assert out["metrics"] == {"BatchesFromOwnLogGroups": 1}
    assert _opened_events(aws) == []
    # the same lines from a workload's group do open one
    assert len(intake.handle({"awslogs": {"data": _payload("/ecs/orders", [ERR])}}, region="us-east-1")["opened"]) == 1


def test_a_batch_from_an_account_not_allowed_is_rejected_with_a_metric(aws: Any) -> None:
    intake = _intake(aws, allowed_accounts=f"{PROD},{STAGING}")
    out = intake.handle({"awslogs": {"data": _payload("/ecs/orders", [ERR], owner="999999999999")}}, region="us-east-1")
    assert out["dropped"] == "account-not-allowed" and out["metrics"] == {"BatchesFromUnknownAccount": 1}
    alarm = {"detail-type": "CloudWatch Alarm State Change", "account": "999999999999", "region": "eu-west-1",
             "time": "2026-12-03T10:00:00Z", "detail": {"alarmName": "db-cpu", "state": {"value": "ALARM"}}}
    assert intake.handle(alarm)["dropped"] == "account-not-allowed"
    assert _opened_events(aws) == []


def test_control_message_and_empty_batch_are_counted_without_an_incident(aws: Any) -> None:
    intake = _intake(aws)
    control = intake.handle({"awslogs": {"data": _payload("", [], kind="CONTROL_MESSAGE")}})
    assert control["control"] and control["metrics"] == {"ControlMessages": 1}
    empty = intake.handle({"awslogs": {"data": _payload("/ecs/orders", [])}})
    assert empty["dropped"] == "empty" and empty["metrics"] == {"EmptyBatches": 1}
    assert _opened_events(aws) == []


def test_bad_account_list_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="12-digit"):
        load_settings({"OPSLOOP_ALLOWED_ACCOUNTS": "prod"})


def test_the_same_error_in_two_accounts_is_two_incidents_the_second_names_the_first(aws: Any) -> None:
    intake = _intake(aws)
    first = intake.handle({"awslogs": {"data": _payload("/ecs/orders", [ERR] * 3, owner=PROD)}}, region="us-east-1")
    second = intake.handle({"awslogs": {"data": _payload("/ecs/orders", [ERR] * 2, owner=STAGING)}}, region="us-east-1")
    again = intake.handle({"awslogs": {"data": _payload("/ecs/orders", [ERR], owner=PROD)}}, region="us-east-1")
    assert len(first["opened"]) == len(second["opened"]) == 1 and first["opened"] != second["opened"]
    assert again["opened"] == [] and again["counted"] == {first["opened"][0]: 4}
    events = [e["detail"]["incident"] for e in _opened_events(aws)]
    by_account = {e["account"]: e for e in events}
    assert set(by_account) == {PROD, STAGING} and {e["region"] for e in events} == {"us-east-1"}
    assert by_account[STAGING]["related_incident_id"] == first["opened"][0]
    assert by_account[STAGING]["related_account"] == PROD
    assert by_account[PROD]["related_incident_id"] is None


def test_kinesis_records_from_a_destination_carry_the_member_account(aws: Any) -> None:
    intake = _intake(aws, allowed_accounts=f"{PROD},{STAGING}")
    records = [{"kinesis": {"data": _payload("/ecs/pay", [ERR], owner=STAGING), "sequenceNumber": "1"},
                "awsRegion": "eu-west-1", "eventSource": "aws:kinesis"},
               {"kinesis": {"data": "not base64!", "sequenceNumber": "2"}, "awsRegion": "eu-west-1"},
               {"kinesis": {"data": _payload("", [], kind="CONTROL_MESSAGE"), "sequenceNumber": "3"}}]
    out = intake.handle({"Records": records})
    assert len(out["opened"]) == 1 and out["batchItemFailures"] == []
    assert out["metrics"]["RecordsRejected"] == 1 and out["metrics"]["ControlMessages"] == 1
    (event,) = _opened_events(aws)
    assert (event["detail"]["incident"]["account"], event["detail"]["incident"]["region"]) == (STAGING, "eu-west-1")


def test_a_transient_failure_in_a_kinesis_batch_reports_that_record_and_the_rest(aws: Any, monkeypatch: Any) -> None:
    intake = _intake(aws)
    calls = {"n": 0}
    real = intake.handle_subscription

    def flaky(data: str, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            from opsloop.errors import TransientError
            raise TransientError("DynamoDB update_item: ThrottlingException")
        return real(data, **kw)

    monkeypatch.setattr(intake, "handle_subscription", flaky)
    records = [{"kinesis": {"data": _payload(f"/ecs/s{i}", [ERR]), "sequenceNumber": str(i)}} for i in range(3)]
    out = intake.handle({"Records": records})
    assert out["batchItemFailures"] == [{"itemIdentifier": "1"}, {"itemIdentifier": "2"}]


def test_decoder_rejects_payloads_beyond_the_memory_bounds() -> None:
    big = _payload("/ecs/orders", ["x" * 1000] * (MAX_DECOMPRESSED_BYTES // 1000 + 10))
    with pytest.raises(InputError, match="expands beyond"):
        decode_subscription(big)
    many = _payload("/ecs/orders", ["e"] * (MAX_LOG_EVENTS + 1))
    with pytest.raises(InputError, match="logEvents"):
        decode_subscription(many)
    assert len(decode_subscription(_payload("/ecs/orders", ["e"] * MAX_LOG_EVENTS)).lines) == MAX_LOG_EVENTS


def test_decoding_the_largest_accepted_payload_stays_well_inside_the_function_memory() -> None:
    import tracemalloc

    # the biggest payload the bounds admit: as many events as allowed, as long as the byte bound allows
    per = MAX_DECOMPRESSED_BYTES // MAX_LOG_EVENTS - 120
    data = _payload("/ecs/orders", ["ERROR " + "y" * per] * MAX_LOG_EVENTS)
    tracemalloc.start()
    decode_subscription(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 128 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


def test_a_throttled_write_in_a_storm_is_retried_and_counted_once(aws: Any, monkeypatch: Any) -> None:
    """The fault-injecting client throttles every third update (DynamoDB applies nothing then)."""
    import opsloop.incidents as incidents_mod
    from botocore.exceptions import ClientError

    monkeypatch.setattr(incidents_mod.time, "sleep", lambda s: None)

    class Throttling:
        def __init__(self, inner: Any) -> None:
            self.inner, self.n, self.throttled = inner, 0, 0

        def __getattr__(self, name: str) -> Any:
            call = getattr(self.inner, name)
            if name != "update_item":
                return call

            def maybe(**kw: Any) -> Any:
                self.n += 1
                if self.n % 3 == 0:
                    self.throttled += 1
                    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, name)
                return call(**kw)
            return maybe

    client = Throttling(aws["ddb"])
    settings = load_settings({"OPSLOOP_EVENT_BUS_NAME": "bus"})
    store = IncidentStore(client, aws["table"])
    intake = Intake(settings, store, EventBridgePublisher(aws["events"], settings.event_bus_name), clock=Clock())
    opened = []
    for _ in range(30):
        opened += intake.handle_subscription(_payload("/ecs/orders", [ERR] * 10)).opened
    assert client.throttled >= 10 and store.throttled == client.throttled
    assert len(opened) == 1
    (event,) = _opened_events(aws)
    state = store.fingerprint_state(storm_scope(event["detail"]["incident"]), event["detail"]["incident"]["fingerprint"])
    assert state["count"] == 300  # every line once: no loss, no double count


def test_an_alarm_keeps_its_description_redacted_for_the_knowledge_query(aws: Any) -> None:
    intake = _intake(aws)
    alarm = {"detail-type": "CloudWatch Alarm State Change", "account": PROD, "region": "eu-west-1",
             "time": "2026-12-03T10:00:00Z",
             "detail": {"alarmName": "orders-db-connections", "state": {"value": "ALARM", "reason": "Threshold Crossed"},
                        "configuration": {"description": "Connections near max_connections; password=hunter2hunter2",
                                          "metrics": []}}}
    assert len(intake.handle(alarm)["opened"]) == 1
    incident = _opened_events(aws)[0]["detail"]["incident"]
    assert incident["description"].startswith("Connections near max_connections")
    assert "hunter2hunter2" not in incident["description"]
