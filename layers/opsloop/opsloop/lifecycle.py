"""The steps of the incident state machine, as plain functions over ports.

Each Lambda handler in functions/ parses its event, calls one of these with the adapters from
:mod:`opsloop.wiring`, and returns the result as JSON. Side effects are idempotent per incident and step:
Step Functions retries, and a retried step must not post twice or create a second page.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from .classify import classify
from .errors import InputError
from .incidents import IncidentStore, iso, storm_scope
from .models import Analysis, Classification, Incident, Report
from .ports import (Analyst, KnowledgeIngestion, Notifier, PostedMessage, PublishedPage, Summarizer, Wiki)
from .report import metadata, report_name, to_markdown


def _slack_ref(item: dict[str, Any] | None) -> PostedMessage | None:
    if item and isinstance(item.get("slack"), dict) and item["slack"].get("ts"):
        return PostedMessage(**item["slack"])
    return None


def _mrkdwn(text: str, limit: int = 1500) -> str:
    from .slack.mrkdwn import escape

    return escape(text, limit)


# -- Classify / Analyze ------------------------------------------------------------------------------
def classify_step(incident: Incident) -> Classification:
    return classify(incident)


def analyze_step(incident: Incident, classification: Classification, analyst: Analyst) -> Analysis:
    return analyst.analyze(incident, classification)


# -- Notify (open / remind / escalate / outcome) -----------------------------------------------------
def notify_open(incident: Incident, classification: Classification, analysis: Analysis, token: str,
                store: IncidentStore, notifier: Notifier, *, now: float) -> PostedMessage:
    """Post the analysis with a Resolve button and park the task token server side.

    A retried step finds the message it already posted and only refreshes the token."""
    if not token:
        raise InputError("notify 'open' needs the task token")
    item = store.get_incident(incident.incident_id)
    if item is None:  # intake writes it; an execution started by hand (or a lost write) still works
        store.create_incident(incident.to_dict(), now=now)
        item = {}
    message = _slack_ref(item)
    if message is None:
        message = notifier.post_incident(incident, classification, analysis)
        store.update_incident(incident.incident_id, slack={"channel": message.channel, "ts": message.ts,
                                                           "permalink": message.permalink},
                              classification=classification.to_dict(), analysis=analysis.to_dict())
        store.link_thread(message.channel, message.ts, incident.incident_id, now=now)
    store.set_wait_token(incident.incident_id, token, "open", now=now)
    return message


def notify_remind(incident: Incident, token: str, store: IncidentStore, notifier: Notifier,
                  allowed_resolvers: list[str], *, now: float) -> None:
    if not token:
        raise InputError("notify 'remind' needs the task token")
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    if message is None:
        raise InputError(f"incident {incident.incident_id} has no Slack message to remind in")
    if item.get("wait_action") != "remind":
        who = " ".join(f"<@{u}>" for u in allowed_resolvers[:10]) or "Anyone in this channel"
        notifier.post_in_thread(message, f":alarm_clock: This incident is still open. {who}: when it is fixed, "
                                         "press *Resolve* so opsloop can write the report.")
    store.set_wait_token(incident.incident_id, token, "remind", now=now)


def close_incident(store: IncidentStore, incident: Incident, status: str, **fields: Any) -> None:
    store.update_incident(incident.incident_id, status=status, **fields)
    store.close_fingerprint(storm_scope(incident), incident.fingerprint, incident.incident_id)


def notify_escalate(incident: Incident, store: IncidentStore, notifier: Notifier, *, now: float) -> None:
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    if message is not None and item.get("status") != "ESCALATED":
        notifier.post_in_thread(message, "<!here> :rotating_light: Nobody resolved this incident in time. "
                                         "opsloop has stopped waiting: handle it by hand, and the next "
                                         "occurrence will open a new incident.")
    close_incident(store, incident, "ESCALATED", closed_at=now, task_token="")


def notify_outcome(incident: Incident, classification: Classification, analysis: Analysis,
                   resolution: dict[str, Any], page: dict[str, Any], stored: dict[str, Any], store: IncidentStore,
                   notifier: Notifier, *, now: float) -> dict[str, Any]:
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    resolved_by = str(resolution.get("resolved_by") or item.get("resolved_by") or "")
    page_url = str(page.get("url") or "")
    if message is not None and item.get("status") != "CLOSED":
        notifier.mark_resolved(message, incident, classification, analysis, resolved_by, page_url)
        created = "created" if page.get("created") else f"updated (version {page.get('version')})"
        link = f"<{page_url}|incident report>" if page_url.startswith(("https://", "http://")) else "incident report"
        notifier.post_in_thread(
            message,
            f":white_check_mark: Resolved by <@{_mrkdwn(resolved_by, 40)}>. The {link} was {created}, and the "
            f"report is in the knowledge base (`{_mrkdwn(str(stored.get('key', '')), 300)}`), so the next "
            "occurrence is answered from it.")
    close_incident(store, incident, "CLOSED", closed_at=now, task_token="")
    return {"posted": message is not None, "page_url": page_url}


# -- Summarize / Publish / Store -----------------------------------------------------------------------
def previous_report(state: dict[str, Any]) -> Report | None:
    """The report stored for this fingerprint by an earlier incident, from its fingerprint item."""
    raw = state.get("last_report")
    if not raw:
        return None
    try:
        return Report.from_dict(json.loads(raw))
    except (ValueError, InputError):
        return None  # an unreadable old report is replaced, not fatal


def summarize_step(incident: Incident, classification: Classification, analysis: Analysis,
                   resolution: dict[str, Any], store: IncidentStore, notifier: Notifier,
                   summarizer: Summarizer) -> Report:
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    thread = notifier.fetch_thread(message) if message is not None else []
    # People paste tokens and connection strings into threads too: nothing unredacted reaches the model,
    # the report or the page.
    from .redact import redact

    thread = [replace(m, text=redact(m.text).text) for m in thread]
    resolved_by = str(resolution.get("resolved_by") or item.get("resolved_by") or "")
    # The occurrence count kept growing after the execution started: report the final one.
    state = store.fingerprint_state(storm_scope(incident), incident.fingerprint) or {}
    if state.get("incident_id") == incident.incident_id and state.get("count"):
        incident = replace(incident, occurrences=int(state["count"]),
                           last_seen=iso(float(state.get("last_seen", 0))) if state.get("last_seen") else incident.last_seen)
    return summarizer.summarize(incident, classification, analysis, thread, resolved_by, previous_report(state))


def publish_step(report: Report, wiki: Wiki) -> PublishedPage:
    return wiki.publish(report)


def store_step(incident: Incident, report: Report, page: dict[str, Any], s3: Any, bucket: str, prefix: str,
               store: IncidentStore) -> dict[str, Any]:
    """Write the report (Markdown + KB metadata) to the knowledge bucket, one object per fingerprint."""
    from botocore.exceptions import ClientError

    from .errors import PermanentError, TransientError

    url = str(page.get("url") or "")
    if url and url not in report.links:
        report = replace(report, links=[url, *report.links])
    name = report_name(report)
    key = f"{prefix}{name}.md"
    body = to_markdown(report).encode("utf-8")
    meta = json.dumps(metadata(report)).encode("utf-8")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/markdown; charset=utf-8")
        s3.put_object(Bucket=bucket, Key=key + ".metadata.json", Body=meta, ContentType="application/json")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"):
            raise TransientError(f"S3 PutObject: {code}") from exc
        raise PermanentError(f"S3 PutObject to s3://{bucket}/{key}: {code}") from exc
    store.save_report(storm_scope(incident), incident.fingerprint, json.dumps(report.to_dict()), key)
    return {"bucket": bucket, "key": key, "uri": f"s3://{bucket}/{key}", "bytes": len(body), "name": name}


# -- Ingestion -----------------------------------------------------------------------------------------
def ingest_start(incident: Incident, ingestion: KnowledgeIngestion) -> dict[str, Any]:
    st = ingestion.start(client_token=f"opsloop-{incident.incident_id}"[:64])
    return {"job_id": st.job_id, "status": st.status, "detail": st.detail, "polls": 0, "joined": st.joined,
            "incident_id": incident.incident_id}


def ingest_status(state: dict[str, Any], ingestion: KnowledgeIngestion, max_polls: int) -> dict[str, Any]:
    job_id = str(state.get("job_id") or "")
    polls = int(state.get("polls") or 0) + 1
    if not job_id:
        raise InputError("ingestion status needs the job id from the start step")
    st = ingestion.status(job_id)
    status, detail = st.status, st.detail
    if status == "COMPLETE" and state.get("joined"):
        # The job we joined may have listed the bucket before our report was written: run one of our own.
        again = ingestion.start(client_token=f"opsloop-{state.get('incident_id', job_id)}-again"[:64])
        return {"job_id": again.job_id, "status": again.status, "detail": "re-ingesting after a joined job",
                "polls": polls, "joined": False, "incident_id": state.get("incident_id")}
    if status not in ("COMPLETE", "FAILED", "STOPPED") and polls >= max_polls:
        status, detail = "TIMED_OUT", f"ingestion job {job_id} still {st.status} after {polls} checks"
    return {"job_id": job_id, "status": status, "detail": detail or status, "polls": polls, "joined": False,
            "incident_id": state.get("incident_id")}


# -- Failure -------------------------------------------------------------------------------------------
def report_failure(incident: Incident, failure: dict[str, Any], store: IncidentStore,
                   notifier_factory: Any, *, now: float) -> dict[str, Any]:
    """The one visible failure path: close the incident as failed, count it, and say so in Slack."""
    from .observability import count, logger

    step, error, cause = "unknown", "Unknown", ""
    for k, v in (failure or {}).items():
        step = k
        if isinstance(v, dict):
            error, cause = str(v.get("Error", "Unknown")), str(v.get("Cause", ""))
    # Lambda puts the exception as JSON in Cause; keep only its message.
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            cause = str(parsed.get("errorMessage") or cause)
    except ValueError:
        pass
    cause = cause[:500]
    close_incident(store, incident, "FAILED", closed_at=now, failed_step=step, failure_error=error, task_token="")
    count("IncidentFailed", step=step)
    logger().error("incident failed", extra={"incident_id": incident.incident_id, "step": step, "error": error})
    notifier = notifier_factory()
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    text = (f":x: opsloop could not finish incident `{_mrkdwn(incident.incident_id, 100)}` "
            f"({_mrkdwn(incident.service, 100)}): step *{_mrkdwn(step, 40)}* failed with "
            f"`{_mrkdwn(error, 80)}`: {_mrkdwn(cause, 500)}. The error itself still needs attention; "
            "the next occurrence opens a new incident.")
    if message is not None:
        notifier.post_in_thread(message, text)
    else:
        notifier.post_notice(text)
    return {"step": step, "error": error, "notified": True}
