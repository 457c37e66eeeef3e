"""The incident's states have one owner: IncidentStatus, its transitions, and the typed record every reader gets."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opsloop.incidents import TRANSITIONS, IncidentRecord, IncidentStatus, IncidentStore
from opsloop.ports import PostedMessage

ROOT = Path(__file__).resolve().parents[2]
INCIDENT = {"incident_id": "inc-1", "fingerprint": "fp1", "template": "t", "message": "m", "source": "/ecs/a",
            "service": "a"}


@pytest.fixture()
def store() -> Any:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        s = IncidentStore(ddb, "t")
        s.create_incident(INCIDENT, now=time.time())
        yield s


def test_every_status_the_state_machine_writes_is_a_known_status() -> None:
    asl = (ROOT / "statemachine" / "incident.asl.json").read_text()
    written = re.findall(r'":status":\s*\{"S":\s*"([A-Z_]+)"\}', asl)
    assert written, "the ASL writes the incident's status in its first state"
    for value in written:
        status = IncidentStatus(value)
        assert not status.final and IncidentStatus.OPENED.can_become(status)


def test_a_final_status_is_never_left() -> None:
    for status, targets in TRANSITIONS.items():
        if status.final:
            assert targets == {status}, status
        else:
            assert IncidentStatus.FAILED in targets, f"{status} must be able to fail visibly"


def test_a_failure_reported_after_the_incident_was_resolved_keeps_it_resolved(store: Any) -> None:
    now = time.time()
    store.set_wait_token("inc-1", "tok", "open", now=now)
    assert store.begin_resolve("inc-1", "U1", now=now) is not None
    assert store.move("inc-1", IncidentStatus.CLOSED)
    assert not store.move("inc-1", IncidentStatus.FAILED, failure_error="late")  # e.g. a timed-out last step
    record = store.get_incident("inc-1")
    assert record.status is IncidentStatus.CLOSED and "failure_error" not in record.extra
    assert store.move("inc-1", IncidentStatus.CLOSED), "a retried step may write the same outcome again"


def test_a_click_that_won_as_the_first_wait_timed_out_keeps_its_claim_and_gets_the_new_token(store: Any) -> None:
    now = time.time()
    store.set_wait_token("inc-1", "tok-1", "open", now=now)
    store.begin_resolve("inc-1", "U1", now=now)
    store.set_wait_token("inc-1", "tok-2", "remind", now=now)  # the reminder wait began meanwhile
    record = store.get_incident("inc-1")
    assert (record.status, record.task_token, record.resolved_by) == (IncidentStatus.RESOLVING, "tok-2", "U1")


def test_the_status_changes_only_through_its_transitions(store: Any) -> None:
    with pytest.raises(ValueError, match="IncidentStore.move"):
        store.update_incident("inc-1", status="CLOSED")
    assert not store.move("inc-1", IncidentStatus.DISMISSED), "OPENED cannot be dismissed without a click"
    assert store.get_incident("inc-1").status is IncidentStatus.OPENED


def test_the_record_is_typed_for_its_readers(store: Any) -> None:
    store.update_incident("inc-1", slack={"channel": "C1", "ts": "1.2", "permalink": "https://x"},
                          classification={"category": "database", "severity": "high"}, acknowledged_by="U9",
                          snoozed_until=time.time() + 60)
    record = store.get_incident("inc-1")
    assert record.slack == PostedMessage("C1", "1.2", "https://x")
    assert record.incident.fingerprint == "fp1" and record.classification.severity == "high"
    assert record.acknowledged_by == "U9" and record.snoozed(time.time()) and not record.waiting
    assert not record.draft_announced
    store.update_incident("inc-1", draft_key="drafts/x.md", draft_announced=True)
    record = store.get_incident("inc-1")
    assert record.draft_key == "drafts/x.md" and record.draft_announced and "draft_announced" not in record.extra


def test_a_status_from_a_newer_version_is_read_as_in_flight_never_as_waiting() -> None:
    record = IncidentRecord.from_item({"pk": "INC#x", "status": "SOMETHING_NEW", "incident": json.dumps(INCIDENT)})
    assert record.status is IncidentStatus.ANALYZING and not record.waiting and record.incident_id == "x"
