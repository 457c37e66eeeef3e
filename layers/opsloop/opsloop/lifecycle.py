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
from .errors import InputError, TransientError
from .incidents import IncidentStatus, IncidentStore, iso, storm_scope
from .models import Analysis, Classification, Incident, Report
from .ports import (Analyst, KnowledgeIngestion, Notifier, PostedMessage, PublishedPage, ReportArchive, Summarizer,
                    Wiki)
from .report import DRAFTS_PREFIX, draft_name, metadata, report_name, to_markdown


# -- Classify / Analyze ------------------------------------------------------------------------------
def classify_step(incident: Incident) -> Classification:
    return classify(incident)


def analyze_step(incident: Incident, classification: Classification, analyst: Analyst) -> Analysis:
    from .observability import observe

    analysis = analyst.analyze(incident, classification)
    engine = analysis.engine or "unknown"
    observe("AnalysisLatency", analysis.budget.elapsed_ms, "Milliseconds", engine=engine)
    observe("AnalysisInputTokens", analysis.budget.input_tokens, "Count", engine=engine)
    observe("AnalysisOutputTokens", analysis.budget.output_tokens, "Count", engine=engine)
    return analysis


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
    message = item.slack if item is not None else None
    if message is None:
        message = notifier.post_incident(incident, classification, analysis)
        store.update_incident(incident.incident_id, slack={"channel": message.channel, "ts": message.ts,
                                                           "permalink": message.permalink},
                              classification=classification.to_dict(), analysis=analysis.to_dict())
        store.link_thread(message.channel, message.ts, incident.incident_id, now=now)
        _say_if_muted_before(incident, store, notifier, message)
    store.track_open(incident.incident_id, {"service": incident.service, "permalink": message.permalink,
                                            "opened_at": now, "fingerprint": incident.fingerprint,
                                            "source": incident.source, "account": incident.account,
                                            "region": incident.region})
    store.set_wait_token(incident.incident_id, token, "open", now=now)
    return message


def _say_if_muted_before(incident: Incident, store: IncidentStore, notifier: Notifier, message: PostedMessage) -> None:
    """On recurrence after "Not an incident": who said so, why, and how often it happened while muted."""
    state = store.fingerprint_state(storm_scope(incident), incident.fingerprint) or {}
    if not state.get("muted_by"):
        return
    notifier.muted_before(message, by=str(state["muted_by"]), at=iso(float(state.get("muted_at") or 0)),
                          reason=str(state.get("muted_reason") or ""), count=int(state.get("muted_count") or 0))


def notify_remind(incident: Incident, token: str, store: IncidentStore, notifier: Notifier,
                  allowed_resolvers: list[str], *, now: float) -> None:
    if not token:
        raise InputError("notify 'remind' needs the task token")
    item = store.get_incident(incident.incident_id)
    message = item.slack if item is not None else None
    if item is None or message is None:
        # The first wait can time out while its notify call is still posting (a short reminder, a slow
        # Slack): the message is about to exist, so this is worth a retry, not a failed incident.
        raise TransientError(f"incident {incident.incident_id} has no Slack message to remind in yet")
    if item.wait_action != "remind" and not item.acknowledged_by and not item.snoozed(now):
        notifier.remind(message, allowed_resolvers)  # acknowledged / snoozed: no reminder
    store.set_wait_token(incident.incident_id, token, "remind", now=now)


def close_incident(store: IncidentStore, incident: Incident, status: IncidentStatus, **fields: Any) -> bool:
    """Move the incident to a final status and free its fingerprint (the next occurrence opens a new one).

    False when it had already ended otherwise (e.g. a failure reported after it was closed): the first
    outcome stays, and it is counted once."""
    from .observability import count, logger

    moved = store.move(incident.incident_id, status, **fields)
    store.close_fingerprint(storm_scope(incident), incident.fingerprint, incident.incident_id)
    if moved:
        count("IncidentClosed", outcome=status.value)  # CLOSED (resolved) | ESCALATED | DISMISSED | FAILED
    else:
        logger().warning("incident had already ended", extra={"incident_id": incident.incident_id,
                                                              "outcome": status.value})
    store.untrack_open(incident.incident_id)
    return moved


def seconds_since(first_seen: str, now: float) -> float | None:
    """Seconds from an ISO 8601 time to ``now`` (None when the time is missing or unreadable)."""
    from datetime import datetime

    try:
        start = datetime.fromisoformat(first_seen.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None
    return max(0.0, now - start)


def notify_escalate(incident: Incident, store: IncidentStore, notifier: Notifier, *, now: float) -> None:
    item = store.get_incident(incident.incident_id)
    if item is not None and item.slack is not None and item.status is not IncidentStatus.ESCALATED:
        by = item.action_by if item.status is IncidentStatus.ESCALATING else ""
        notifier.escalated(item.slack, by=by)
    close_incident(store, incident, IncidentStatus.ESCALATED, closed_at=now, task_token="")


def notify_dismiss(incident: Incident, classification: Classification, analysis: Analysis,
                   resolution: dict[str, Any], store: IncidentStore, notifier: Notifier, *, now: float) -> None:
    """"Not an incident": say who decided and why in the thread and on the message, and close it."""
    item = store.get_incident(incident.incident_id)
    by = str(resolution.get("by") or (item.action_by if item else "") or "")
    reason = str(resolution.get("reason") or "")
    if item is not None and item.slack is not None and item.status is not IncidentStatus.DISMISSED:
        notifier.dismissed(item.slack, incident, classification, analysis, by=by, reason=reason,
                           days=int(resolution.get("mute_days") or 0))
    close_incident(store, incident, IncidentStatus.DISMISSED, closed_at=now, task_token="", dismissed_by=by,
                   dismissed_reason=reason[:500])


def notify_outcome(incident: Incident, classification: Classification, analysis: Analysis,
                   resolution: dict[str, Any], page: dict[str, Any], stored: dict[str, Any], store: IncidentStore,
                   notifier: Notifier, *, now: float) -> dict[str, Any]:
    item = store.get_incident(incident.incident_id)
    message = item.slack if item is not None else None
    resolved_by = str(resolution.get("resolved_by") or (item.resolved_by if item else "") or "")
    page_url = str(page.get("url") or "")
    if item is not None and message is not None and item.status is not IncidentStatus.CLOSED:
        notifier.resolved(message, incident, classification, analysis, resolved_by=resolved_by, page_url=page_url,
                          page_created=bool(page.get("created")), page_version=page.get("version"),
                          report_key=str(stored.get("key", "")))
    close_incident(store, incident, IncidentStatus.CLOSED, closed_at=now, task_token="")
    elapsed = seconds_since(incident.first_seen, now)
    if elapsed is not None:
        from .observability import observe

        observe("TimeToResolve", elapsed, "Seconds")
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
                   summarizer: Summarizer, *, draft: bool = False) -> Report:
    """The thread as a report. With ``draft`` (nobody confirmed within the wait, or someone escalated) the
    report is a draft whatever the resolution says: nobody resolved it, nobody confirmed it."""
    item = store.get_incident(incident.incident_id)
    message = item.slack if item is not None else None
    thread = notifier.fetch_thread(message) if message is not None else []
    # People paste tokens and connection strings into threads too: nothing unredacted reaches the model,
    # the report or the page.
    from .redact import redact

    thread = [replace(m, text=redact(m.text).text) for m in thread]
    if draft:
        resolution = {}
    resolved_by = "" if draft else str(resolution.get("resolved_by") or (item.resolved_by if item else "") or "")
    # The occurrence count kept growing after the execution started: report the final one.
    state = store.fingerprint_state(storm_scope(incident), incident.fingerprint) or {}
    if state.get("incident_id") == incident.incident_id and state.get("count"):
        incident = replace(incident, occurrences=int(state["count"]),
                           last_seen=iso(float(state.get("last_seen", 0))) if state.get("last_seen") else incident.last_seen)
    report = summarizer.summarize(incident, classification, analysis, thread, resolved_by, previous_report(state))
    return apply_confirmation(report, analysis, resolution)


def apply_confirmation(report: Report, analysis: Analysis, resolution: dict[str, Any]) -> Report:
    """Only what the resolver confirmed in the Resolve modal becomes the root cause, fix and prevention.

    Without a confirmation the report is a draft: its root cause is opsloop's own analysis, marked as
    unconfirmed (a "root cause: …" line in the thread, written by anyone, is not taken), and the knowledge
    base metadata marks it so no analyst treats it as an answer."""
    from .report_rules import MAX_PARAGRAPH, clean, clean_list

    confirmed = resolution.get("confirmed") if isinstance(resolution, dict) else None
    if isinstance(confirmed, dict) and confirmed.get("by") and confirmed.get("root_cause"):
        lines = lambda key: clean_list(str(confirmed.get(key) or "").splitlines())  # noqa: E731
        return replace(report, root_cause=clean(confirmed["root_cause"], MAX_PARAGRAPH), resolution=lines("resolution"),
                       prevention=lines("prevention"), confirmed_by=str(confirmed["by"])[:40], draft=False,
                       attribution={str(k): clean(v, 200) for k, v in (confirmed.get("attribution") or {}).items()})
    drafted = analysis.root_cause if analysis.root_cause and analysis.grounded else "unknown"
    return replace(report, root_cause=clean(f"Unconfirmed draft (nobody confirmed a root cause): {drafted}",
                                            MAX_PARAGRAPH), confirmed_by="", draft=True, attribution={})


def publish_step(report: Report, wiki: Wiki, analysis: Analysis | None = None) -> PublishedPage:
    """The report page, with the sources the analysis cited (people check where the answer came from)."""
    return wiki.publish(report, analysis_sources=analysis.sources if analysis is not None else ())


def store_step(incident: Incident, report: Report, page: dict[str, Any], archive: ReportArchive, prefix: str,
               store: IncidentStore, *, drafts_prefix: str = DRAFTS_PREFIX) -> dict[str, Any]:
    """Write the report (Markdown + KB metadata) to the knowledge archive, one object per fingerprint.

    A draft goes under ``drafts_prefix``, one object per incident (:func:`opsloop.report.draft_name`), so it
    can never overwrite the confirmed report of its fingerprint, and it is not kept as the fingerprint's
    previous report: the next confirmed report merges only what people confirmed."""
    url = str(page.get("url") or "")
    if url and url not in report.links:
        report = replace(report, links=[url, *report.links])
    if report.draft:
        if not drafts_prefix or drafts_prefix == prefix:
            raise InputError("drafts need a prefix of their own, apart from the confirmed reports")
        name = draft_name(report, incident.incident_id)
        key = f"{drafts_prefix}{name}.md"
    else:
        name = report_name(report)
        key = f"{prefix}{name}.md"
    body = to_markdown(report).encode("utf-8")
    stored = archive.put_report(key, body, json.dumps(metadata(report)).encode("utf-8"))
    if report.draft:
        store.update_incident(incident.incident_id, draft_key=stored.key)
    else:
        store.save_report(storm_scope(incident), incident.fingerprint, json.dumps(report.to_dict()), stored.key)
    return {"bucket": stored.bucket, "key": stored.key, "uri": stored.uri, "bytes": len(body), "name": name,
            "draft": report.draft}


def notify_draft(incident: Incident, stored: dict[str, Any], store: IncidentStore, notifier: Notifier) -> bool:
    """Say in the thread that the unconfirmed draft was stored, where, and that it is not an answer (once)."""
    item = store.get_incident(incident.incident_id)
    if item is None or item.slack is None or item.draft_announced:
        return False
    notifier.draft_stored(item.slack, report_key=str(stored.get("key") or ""))
    store.update_incident(incident.incident_id, draft_announced=True)
    return True


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
    # A joined job still running stays "joined", so its completion is followed by a job of our own.
    joined = bool(state.get("joined")) and status not in ("COMPLETE", "FAILED", "STOPPED", "TIMED_OUT")
    return {"job_id": job_id, "status": status, "detail": detail or status, "polls": polls, "joined": joined,
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
    if not close_incident(store, incident, IncidentStatus.FAILED, closed_at=now, failed_step=step,
                          failure_error=error, task_token=""):
        # e.g. a draft step after the escalation: it stays escalated (counted once), the failure is noted
        store.update_incident(incident.incident_id, failed_step=step, failure_error=error)
    count("IncidentFailed", step=step)
    logger().error("incident failed", extra={"incident_id": incident.incident_id, "step": step, "error": error})
    notifier = notifier_factory()
    item = store.get_incident(incident.incident_id)
    notifier.failed(item.slack if item is not None else None, incident, step=step, error=error, cause=cause)
    return {"step": step, "error": error, "notified": True}
