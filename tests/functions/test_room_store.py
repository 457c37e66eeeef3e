"""Muting a fingerprint, acknowledging, snoozing: the conditional writes behind the room's buttons."""

from __future__ import annotations

import time

import boto3
from moto import mock_aws

from opsloop.incidents import IncidentStatus, IncidentStore

from .helpers import create_table


def _store() -> IncidentStore:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    return IncidentStore(ddb, create_table(ddb))


def test_a_muted_fingerprint_counts_occurrences_and_opens_nothing_until_the_mute_ends() -> None:
    with mock_aws():
        store, now = _store(), time.time()
        assert store.count_if_muted("/ecs/api", "fp1", 3, now=now) is None, "not muted: intake records as usual"
        store.mute("/ecs/api", "fp1", until=now + 86400, by="U0ONCALL01", reason="load test", incident_id="inc-1",
                   now=now)
        first = store.count_if_muted("/ecs/api", "fp1", 3, now=now + 10)
        second = store.count_if_muted("/ecs/api", "fp1", 2, now=now + 20)
        assert first is not None and second is not None and second.count == 5 and not second.opened
        state = store.fingerprint_state("/ecs/api", "fp1")
        assert state["muted_by"] == "U0ONCALL01" and state["muted_reason"] == "load test"
        assert store.count_if_muted("/ecs/api", "fp1", 1, now=now + 86401) is None, "the mute ends by itself"
        store.mute("/ecs/api", "fp1", until=now + 86400, by="U0X", reason="r", incident_id="inc-1", now=now)
        assert store.unmute("/ecs/api", "fp1") and store.count_if_muted("/ecs/api", "fp1", 1, now=now) is None


def test_acknowledge_names_one_owner_and_snooze_only_extends() -> None:
    with mock_aws():
        store, now = _store(), time.time()
        store.create_incident({"incident_id": "inc-1"}, now=now)
        store.set_wait_token("inc-1", "t", "open", now=now)
        assert store.acknowledge("inc-1", "U0A", now=now) and not store.acknowledge("inc-1", "U0B", now=now)
        assert store.get_incident("inc-1").acknowledged_by == "U0A"
        assert store.snooze("inc-1", "U0A", until=now + 100) and not store.snooze("inc-1", "U0B", until=now + 50)
        assert store.begin_transition("inc-1", "U0A", IncidentStatus.ESCALATING, now=now) is not None
        assert store.begin_transition("inc-1", "U0B", IncidentStatus.DISMISSING, now=now) is None, "exactly one transition"
