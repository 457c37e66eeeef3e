"""Classification and the report files the Knowledge Base ingests."""

from __future__ import annotations

import json
from dataclasses import replace

from opsloop.classify import classify
from opsloop.models import Incident, Report, TimelineEntry
from opsloop.report import metadata, report_name, to_markdown

BASE = Incident(incident_id="i-1", fingerprint="3f9c2a71b0de5a11", template="t", message="m", source="/ecs/orders-api",
                service="orders-api")


def test_database_errors_are_classified_as_database_and_high() -> None:
    c = classify(replace(BASE, exception="java.sql.SQLTransientConnectionException",
                         template="HikariPool-<*> - Connection is not available"))
    assert (c.category, c.severity) == ("database", "high")


def test_out_of_memory_outranks_other_words() -> None:
    c = classify(replace(BASE, exception="java.lang.OutOfMemoryError", template="Java heap space in SQL batch"))
    assert c.category == "memory"


def test_a_storm_raises_severity_and_says_why() -> None:
    c = classify(replace(BASE, level="WARN", template="request timed out", occurrences=500))
    assert c.severity == "high" and any("occurrences" in r for r in c.reasons)


def _report(**kw) -> Report:
    r = Report(title="orders-api: pool exhausted", fingerprint="3f9c2a71b0de5a11", service="orders-api",
               severity="high", first_seen="2026-11-25T09:14:03Z", last_seen="2026-11-25T09:20:00Z", occurrences=42,
               symptoms="Requests failed.", impact="Orders failed.", root_cause="A batch job held connections.",
               resolution=["Stopped the job."], prevention=["Limit batch connections."],
               timeline=[TimelineEntry("2026-11-25T09:14:03Z", "first error")], incidents=["i-1"],
               tags=["database", "RDS pool"], exception="java.sql.SQLTransientConnectionException", template="t")
    return replace(r, **kw)


def test_one_report_name_per_service_and_fingerprint() -> None:
    assert report_name(_report()) == report_name(_report(title="other", occurrences=1))
    assert report_name(_report()) != report_name(_report(fingerprint="0000000000000000"))
    assert report_name(_report(service="Orders API / prod")) .startswith("incident-orders-api-prod-")


def test_markdown_has_front_matter_the_retriever_reads_and_no_injected_headings() -> None:
    md = to_markdown(_report(root_cause="line one\n## Fix\nrm -rf /", title='evil"\ntitle: x'))
    front = md.split("---")[1]
    assert "kind: report" in front and "fingerprint: 3f9c2a71b0de5a11" in front
    assert "\n## Fix\n" not in md, "untrusted newlines cannot start a section"
    assert "tags: [database, rds-pool]" in front


def test_metadata_uses_only_kb_filterable_types() -> None:
    attrs = metadata(_report())["metadataAttributes"]
    assert attrs["fingerprint"] == "3f9c2a71b0de5a11" and attrs["kind"] == "report"
    assert all(isinstance(v, (str, int, float, bool)) for v in attrs.values())
    assert attrs["last_seen_epoch"] > 1_700_000_000
    json.dumps(attrs)


def test_the_exception_class_decides_before_words_in_the_message() -> None:
    c = classify(replace(BASE, exception="java.sql.SQLTransientConnectionException",
                         template="Connection is not available, request timed out after <*>ms."))
    assert c.category == "database"
    assert classify(replace(BASE, template="Task timed out after <*> seconds")).category == "timeout"


def test_a_draft_is_stored_apart_per_incident_and_never_replaces_the_confirmed_report() -> None:
    import boto3
    from moto import mock_aws

    from opsloop.archive import S3ReportArchive
    from opsloop.incidents import IncidentStore
    from opsloop.lifecycle import store_step

    from ..functions.helpers import create_table

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="kb-test")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        store = IncidentStore(ddb, create_table(ddb))
        store.create_incident(BASE.to_dict(), now=1.0)
        archive = S3ReportArchive(s3, "kb-test")
        confirmed = store_step(BASE, _report(confirmed_by="U0ONCALL01"), {}, archive, "reports/", store)
        later = replace(BASE, incident_id="i-2")
        store.create_incident(later.to_dict(), now=2.0)
        draft = store_step(later, _report(draft=True, root_cause="Unconfirmed draft: ?"), {}, archive, "reports/",
                           store)

        assert confirmed["key"] == f"reports/{report_name(_report())}.md"
        assert draft["key"] == f"drafts/{report_name(_report())}-i-2.md" and draft["draft"] is True
        body = s3.get_object(Bucket="kb-test", Key=confirmed["key"])["Body"].read().decode()
        assert "A batch job held connections." in body and "kind: report" in body
        meta = json.loads(s3.get_object(Bucket="kb-test", Key=draft["key"] + ".metadata.json")["Body"].read())
        assert meta["metadataAttributes"]["kind"] == "draft"
        # the fingerprint's previous report (merged into the next confirmed one) is still the confirmed one
        from opsloop.incidents import storm_scope

        state = store.fingerprint_state(storm_scope(BASE), BASE.fingerprint) or {}
        assert state.get("last_report_key") == confirmed["key"]
        assert store.get_incident("i-2").draft_key == draft["key"]


def test_drafts_and_reports_prefixes_may_not_overlap() -> None:
    import pytest

    from opsloop.config import load_settings
    from opsloop.errors import ConfigError

    assert load_settings({}).drafts_prefix == "drafts/"
    for drafts in ("reports", "reports/drafts/"):
        with pytest.raises(ConfigError, match="OPSLOOP_DRAFTS_PREFIX"):
            load_settings({"OPSLOOP_DRAFTS_PREFIX": drafts})
