"""BedrockIngestion against a real boto3 bedrock-agent client stubbed with botocore's Stubber."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.stub import ANY, Stubber

from opsloop.bedrock.ingestion import BedrockIngestion, client_token_for
from opsloop.errors import PermanentError, TransientError

try:
    from tests.stubber import client, fake_aws_env
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from stubber import client, fake_aws_env

KB_ID, DS_ID = "KBID123456", "DSID123456"
NOW = datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _aws(monkeypatch):
    fake_aws_env(monkeypatch)


@pytest.fixture
def agent():
    c = client("bedrock-agent")
    with Stubber(c) as stubber:
        yield BedrockIngestion(c, KB_ID, DS_ID), stubber
        stubber.assert_no_pending_responses()


def job(job_id: str, status: str, **extra) -> dict:
    return {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "ingestionJobId": job_id, "status": status,
            "startedAt": NOW, "updatedAt": NOW, **extra}


def summary(job_id: str, status: str, started: datetime) -> dict:
    return {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "ingestionJobId": job_id, "status": status,
            "startedAt": started, "updatedAt": started}


def test_start_sends_an_idempotent_client_token(agent):
    ingestion, stubber = agent
    token = client_token_for("inc-2:store-report")
    stubber.add_response("start_ingestion_job", {"ingestionJob": job("JOB0000001", "STARTING")},
                         {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "clientToken": token,
                          "description": ANY})
    status = ingestion.start("inc-2:store-report")
    assert (status.job_id, status.status) == ("JOB0000001", "STARTING")
    assert token == client_token_for("inc-2:store-report") and 33 <= len(token) <= 256


def test_conflict_returns_the_running_job_to_wait_for(agent):
    # GIVEN another incident's ingestion job is still running
    ingestion, stubber = agent
    stubber.add_client_error("start_ingestion_job", "ConflictException",
                             "An ingestion job is already in progress for this data source", 409)
    stubber.add_response("list_ingestion_jobs", {"ingestionJobSummaries": [
        summary("JOBNEWER001", "IN_PROGRESS", NOW), summary("JOBOLDER001", "STARTING", NOW.replace(hour=8))]}, {
        "knowledgeBaseId": KB_ID, "dataSourceId": DS_ID,
        "filters": [{"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS"]}],
        "sortBy": {"attribute": "STARTED_AT", "order": "DESCENDING"}, "maxResults": ANY})
    # WHEN this incident starts ingestion
    status = ingestion.start("inc-3:store-report")
    # THEN it is not an error: it waits for the most recent running job
    assert (status.job_id, status.status) == ("JOBNEWER001", "IN_PROGRESS")
    assert "already running" in status.detail


def test_validation_error_saying_a_job_is_running_is_treated_the_same(agent):
    ingestion, stubber = agent
    stubber.add_client_error("start_ingestion_job", "ValidationException",
                             "There is an ongoing ingestion job for data source DSID123456", 400)
    stubber.add_response("list_ingestion_jobs", {"ingestionJobSummaries": [summary("JOBRUN00001", "STARTING",
                                                                                    NOW)]})
    assert ingestion.start("t").job_id == "JOBRUN00001"


def test_busy_but_finished_meanwhile_starts_again(agent):
    ingestion, stubber = agent
    stubber.add_client_error("start_ingestion_job", "ConflictException", "busy", 409)
    stubber.add_response("list_ingestion_jobs", {"ingestionJobSummaries": []})
    stubber.add_response("start_ingestion_job", {"ingestionJob": job("JOB0000002", "STARTING")})
    assert ingestion.start("t").job_id == "JOB0000002"


def test_other_validation_errors_are_permanent(agent):
    ingestion, stubber = agent
    stubber.add_client_error("start_ingestion_job", "ValidationException", "Data source is misconfigured", 400)
    with pytest.raises(PermanentError, match="misconfigured"):
        ingestion.start("t")


def test_throttled_start_is_transient(agent):
    ingestion, stubber = agent
    stubber.add_client_error("start_ingestion_job", "ThrottlingException", "slow down", 429)
    with pytest.raises(TransientError):
        ingestion.start("t")


def test_status_maps_failures_with_reasons(agent):
    ingestion, stubber = agent
    stubber.add_response("get_ingestion_job", {"ingestionJob": job(
        "JOB0000001", "FAILED", failureReasons=["reports/x.metadata.json: invalid metadata"],
        statistics={"numberOfDocumentsScanned": 4, "numberOfDocumentsFailed": 1})},
        {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "ingestionJobId": "JOB0000001"})
    status = ingestion.status("JOB0000001")
    assert status.status == "FAILED"
    assert "invalid metadata" in status.detail and "failed 1" in status.detail


@pytest.mark.parametrize("service_status, ours", [("COMPLETE", "COMPLETE"), ("IN_PROGRESS", "IN_PROGRESS"),
                                                  ("STOPPING", "IN_PROGRESS"), ("STOPPED", "STOPPED")])
def test_status_values(agent, service_status, ours):
    ingestion, stubber = agent
    stubber.add_response("get_ingestion_job", {"ingestionJob": job("JOB0000001", service_status)})
    assert ingestion.status("JOB0000001").status == ours


def test_unknown_job_is_permanent(agent):
    ingestion, stubber = agent
    stubber.add_client_error("get_ingestion_job", "ResourceNotFoundException", "no such job", 404)
    with pytest.raises(PermanentError):
        ingestion.status("JOB9999999")


def test_client_token_keeps_valid_tokens_and_hashes_the_rest():
    valid = "a" * 40
    assert client_token_for(valid) == valid
    assert client_token_for("inc/2 store") != client_token_for("inc/3 store")
    assert len(client_token_for("")) == 64
