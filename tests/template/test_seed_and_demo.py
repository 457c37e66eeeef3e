"""The two handlers that exist for the deployment itself: the runbook-seeding custom resource and the
demo error generator. S3 is moto; Bedrock is botocore's Stubber; CloudFormation's pre-signed response URL
is a recording opener (the handler refuses anything but https, so no local server can stand in)."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from opsloop import knowledge_seed

from . import ROOT

BUCKET = "opsloop-knowledge-test"
RESPONSE_URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=secret"


def _load(name: str) -> ModuleType:
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"opsloop_fn_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def seed() -> ModuleType:
    return _load("seed_knowledge")


class RecordingOpener:
    """Stands in for urllib's urlopen: records the PUT CloudFormation would receive."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[Any] = []
        self.status = status

    def __call__(self, request: Any, timeout: float) -> "RecordingOpener":
        self.requests.append(request)
        return self

    def __enter__(self) -> "RecordingOpener":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].data)


class Context:
    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _event(kind: str = "Create") -> dict[str, Any]:
    return {
        "RequestType": kind, "ResponseURL": RESPONSE_URL, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/opsloop/x",
        "RequestId": "5d4c1a0e-2f7b-4c1e-9d51-3f1f2b8a7c10", "LogicalResourceId": "SeedKnowledge",
        "ResourceType": "Custom::SeedKnowledge", "ResourceProperties": {"ServiceToken": "arn:aws:lambda:x"},
    }


@pytest.fixture()
def aws(seed: ModuleType, monkeypatch: pytest.MonkeyPatch):
    """moto S3 with the knowledge bucket; a stubbed bedrock-agent client; clients injected into the handler."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        bedrock = boto3.client("bedrock-agent", region_name="us-east-1")
        stub = Stubber(bedrock)
        monkeypatch.setattr(seed, "_clients", lambda: (s3, bedrock))
        monkeypatch.setenv("OPSLOOP_KNOWLEDGE_BUCKET", BUCKET)
        monkeypatch.setenv("OPSLOOP_KNOWLEDGE_BASE_ID", "KB12345678")
        monkeypatch.setenv("OPSLOOP_DATA_SOURCE_ID", "DS12345678")
        opener = RecordingOpener()
        monkeypatch.setattr("urllib.request.urlopen", opener)
        with stub:
            yield s3, stub, opener


def _ingestion_started(stub: Stubber) -> None:
    stub.add_response("start_ingestion_job", {"ingestionJob": {
        "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "ingestionJobId": "JOB1234567",
        "status": "STARTING", "startedAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"}})


def _repo_runbooks() -> list[str]:
    root = ROOT / "knowledge"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.md")
                  if p.relative_to(root).as_posix().startswith("runbooks/"))


def test_create_puts_every_runbook_with_metadata_and_starts_ingestion(seed: ModuleType, aws: Any) -> None:
    s3, stub, opener = aws
    _ingestion_started(stub)

    result = knowledge_seed.seed(s3, seed._clients()[1], bucket=BUCKET, knowledge_base_id="KB12345678",
                       data_source_id="DS12345678", knowledge_dir=ROOT / "knowledge")

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    runbooks = _repo_runbooks()
    assert [k for k in keys if k.endswith(".md")] == runbooks
    assert [k for k in keys if k.endswith(".metadata.json")] == sorted(k + ".metadata.json" for k in runbooks)
    meta = json.loads(s3.get_object(Bucket=BUCKET, Key="runbooks/rds-connection-exhaustion.md.metadata.json")["Body"].read())
    assert meta["metadataAttributes"]["kind"] == "runbook"
    assert meta["metadataAttributes"]["doc_id"] == "runbooks/rds-connection-exhaustion"
    assert meta["metadataAttributes"]["title"] == "RDS connection pool exhaustion"
    assert result == {"Uploaded": len(runbooks), "Ingestion": "started JOB1234567"}
    stub.assert_no_pending_responses()


def test_handler_answers_cloudformation_success_after_seeding(seed: ModuleType, aws: Any, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    s3, stub, opener = aws
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "disk-full.md").write_text("---\ntitle: Disk full\nservice: ec2\n---\n# Disk full\n")
    (tmp_path / "README.md").write_text("not a runbook")
    monkeypatch.setattr(seed, "KNOWLEDGE_DIR", tmp_path)
    stub.add_client_error("start_ingestion_job", "ConflictException", "an ingestion job is already running")
    stub.add_response("list_ingestion_jobs", {"ingestionJobSummaries": [{
        "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "ingestionJobId": "JOB0RUNNING",
        "status": "IN_PROGRESS", "startedAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"}]})

    seed.handler(_event("Create"), Context())

    body = opener.body
    assert body["Status"] == "SUCCESS" and body["Data"] == {"Uploaded": "1", "Ingestion": "already running"}
    assert body["PhysicalResourceId"] == "opsloop-seed-SeedKnowledge"
    assert body["RequestId"] == _event()["RequestId"] and body["LogicalResourceId"] == "SeedKnowledge"
    assert opener.requests[-1].get_method() == "PUT" and opener.requests[-1].full_url == RESPONSE_URL
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == ["runbooks/disk-full.md", "runbooks/disk-full.md.metadata.json"]


def test_a_failure_is_reported_to_cloudformation_instead_of_hanging_the_stack(
        seed: ModuleType, aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, opener = aws
    monkeypatch.setenv("OPSLOOP_KNOWLEDGE_BUCKET", "no-such-bucket")

    seed.handler(_event("Update") | {"PhysicalResourceId": "opsloop-seed-SeedKnowledge"}, Context())

    assert opener.body["Status"] == "FAILED"
    assert "NoSuchBucket" in opener.body["Reason"]
    assert opener.body["PhysicalResourceId"] == "opsloop-seed-SeedKnowledge"  # no replacement on failure


def test_delete_succeeds_without_touching_the_bucket(seed: ModuleType, aws: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    s3, _, opener = aws
    s3.put_object(Bucket=BUCKET, Key="reports/x.md", Body=b"a resolved incident")

    def no_clients() -> None:
        raise AssertionError("Delete must not call AWS")

    monkeypatch.setattr(seed, "_clients", no_clients)
    seed.handler(_event("Delete") | {"PhysicalResourceId": "opsloop-seed-SeedKnowledge"}, Context())

    assert opener.body["Status"] == "SUCCESS"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["reports/x.md"]


def test_running_out_of_time_answers_failed_before_lambda_times_out(seed: ModuleType, aws: Any) -> None:
    _, _, opener = aws

    seed.handler(_event("Create"), Context(remaining_ms=knowledge_seed.SAFETY_MARGIN_MS - 1))

    assert opener.body["Status"] == "FAILED" and "ran out of time" in opener.body["Reason"]


def test_response_stays_under_cloudformations_size_limit_and_the_url_is_never_logged(
        seed: ModuleType, aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _, _, opener = aws

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("x" * 20_000)

    monkeypatch.setattr(knowledge_seed, "seed", explode)
    with caplog.at_level(logging.DEBUG):
        seed.handler(_event("Create"), Context())

    assert len(opener.requests[-1].data) < 4096
    assert "X-Amz-Signature" not in caplog.text and RESPONSE_URL not in caplog.text


def test_only_an_https_response_url_is_answered(seed: ModuleType) -> None:
    opener = RecordingOpener()
    with pytest.raises(ValueError):
        knowledge_seed.send_response(_event() | {"ResponseURL": "http://169.254.169.254/latest"}, "SUCCESS", "", "id", {},
                           opener=opener)
    assert opener.requests == []


def test_a_failed_response_put_raises_so_lambda_retries(seed: ModuleType) -> None:
    with pytest.raises(RuntimeError):
        knowledge_seed.send_response(_event(), "SUCCESS", "", "id", {}, opener=RecordingOpener(status=403))


# -- Demo errors -----------------------------------------------------------------------------------------

def test_demo_logs_one_error_record_with_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    demo = _load("demo_errors")
    with caplog.at_level(logging.INFO):
        out = demo.handler({}, type("Ctx", (), {"aws_request_id": "req-1"})())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "req-1" in errors[0].getMessage()
    assert out["logged"] == errors[0].exc_info[0].__name__


def test_demo_scenario_is_stable_within_an_hour_and_rotates_across_hours() -> None:
    from opsloop import demo_errors as demo

    hour = 1_700_000_000 // 3600 * 3600
    assert demo.pick_scenario(hour) == demo.pick_scenario(hour + 3599)
    seen = {demo.pick_scenario(hour + i * 3600)[0] for i in range(len(demo.SCENARIOS))}
    assert len(seen) == len(demo.SCENARIOS)


def test_every_demo_error_matches_a_seed_runbook_so_the_analysis_can_cite_it(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsloop.knowledge_docs import load_documents

    from opsloop import demo_errors as scenarios

    patterns = [p for d in load_documents(ROOT / "knowledge") for p in d.error_patterns]
    demo = _load("demo_errors")
    for i in range(len(scenarios.SCENARIOS)):
        monkeypatch.setattr(scenarios.time, "time", lambda i=i: i * 3600.0)
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            demo.handler({}, None)
        text = caplog.text
        assert "Traceback" in text
        assert any(p in text for p in patterns), scenarios.SCENARIOS[i][0]


def test_an_ingestion_that_cannot_start_is_reported_without_failing_the_stack(seed: ModuleType, aws: Any,
                                                                             tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _, stub, opener = aws
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "disk-full.md").write_text("---\ntitle: Disk full\n---\n# Disk full\n")
    monkeypatch.setattr(seed, "KNOWLEDGE_DIR", tmp_path)
    stub.add_client_error("start_ingestion_job", "AccessDeniedException", "not authorized", http_status_code=403)

    seed.handler(_event("Create"), Context())

    assert opener.body["Status"] == "SUCCESS"
    assert opener.body["Data"] == {"Uploaded": "1", "Ingestion": "not started (AccessDeniedException)"}
