"""Lifecycle steps over fakes: idempotent side effects and the ingestion wait."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opsloop.incidents import IncidentStore
from opsloop.lifecycle import ingest_start, ingest_status, notify_open
from opsloop.models import Analysis, Classification, Incident
from opsloop.ports import IngestionStatus, PostedMessage

from ..functions.helpers import create_table, load_event

INCIDENT = Incident.from_dict(load_event("state_machine_input.json")["incident"])


class FakeIngestion:
    """Bedrock's behaviour in miniature: a job already running is joined, jobs complete when polled."""

    def __init__(self, running: bool) -> None:
        self.started: list[str] = []
        self.running = running

    def start(self, client_token: str) -> IngestionStatus:
        if self.running:
            self.running = False
            return IngestionStatus("JOB-OLD", "IN_PROGRESS", "joined the ingestion job already running", joined=True)
        self.started.append(client_token)
        return IngestionStatus(f"JOB-{len(self.started)}", "STARTING")

    def status(self, job_id: str) -> IngestionStatus:
        return IngestionStatus(job_id, "COMPLETE")


def test_a_joined_job_is_followed_by_our_own_so_the_new_report_is_indexed() -> None:
    ing = FakeIngestion(running=True)
    state = ingest_start(INCIDENT, ing)
    assert state["job_id"] == "JOB-OLD" and state["joined"] is True
    state = ingest_status(state, ing, max_polls=10)
    assert state["status"] == "STARTING" and state["job_id"] == "JOB-1", "a second job covers our report"
    state = ingest_status(state, ing, max_polls=10)
    assert state["status"] == "COMPLETE"


def test_a_joined_job_still_running_at_the_first_check_is_still_followed_by_our_own() -> None:
    # GIVEN the job we joined needs several checks to finish (a real ingestion takes minutes)
    class Slow(FakeIngestion):
        polls = 0

        def status(self, job_id: str) -> IngestionStatus:
            self.polls += 1
            return IngestionStatus(job_id, "IN_PROGRESS" if job_id == "JOB-OLD" and self.polls < 3 else "COMPLETE")

    ing = Slow(running=True)
    state = ingest_start(INCIDENT, ing)
    state = ingest_status(state, ing, max_polls=10)
    state = ingest_status(state, ing, max_polls=10)
    assert state["status"] == "IN_PROGRESS" and state["joined"] is True, "the wait remembers it joined"
    state = ingest_status(state, ing, max_polls=10)
    # THEN once it completes, a job of our own runs, so the report written after it started is indexed
    assert state["job_id"] == "JOB-1" and ing.started, state


def test_an_ingestion_that_never_finishes_times_out_visibly() -> None:
    class Stuck(FakeIngestion):
        def status(self, job_id: str) -> IngestionStatus:
            return IngestionStatus(job_id, "IN_PROGRESS")

    state = ingest_start(INCIDENT, Stuck(running=False))
    for _ in range(3):
        state = ingest_status(state, Stuck(running=False), max_polls=3)
    assert state["status"] == "TIMED_OUT" and "after 3 checks" in state["detail"]


class RecordingNotifier:
    def __init__(self) -> None:
        self.posted = 0

    def post_incident(self, incident: Incident, classification: Any, analysis: Any) -> PostedMessage:
        self.posted += 1
        return PostedMessage("C0OPS", f"1790000000.00010{self.posted}")


@pytest.fixture()
def store() -> Any:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        yield IncidentStore(ddb, create_table(ddb))


def test_a_retried_notify_step_does_not_post_twice_but_takes_the_new_token(store: Any) -> None:
    notifier = RecordingNotifier()
    c = Classification("database", "high")
    a = Analysis(summary="s", root_cause="r")
    first = notify_open(INCIDENT, c, a, "token-1", store, notifier, now=time.time())
    second = notify_open(INCIDENT, c, a, "token-2", store, notifier, now=time.time())
    assert notifier.posted == 1 and first.ts == second.ts
    item = store.get_incident(INCIDENT.incident_id)
    assert item.task_token == "token-2" and item.status == "WAITING"
    assert store.incident_for_thread("C0OPS", first.ts) == INCIDENT.incident_id
