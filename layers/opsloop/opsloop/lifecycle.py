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
from .incidents import IncidentStore, iso, storm_scope
from .models import Analysis, Classification, Incident, Report
from .ports import (Analyst, KnowledgeIngestion, Notifier, PostedMessage, PublishedPage, ReportArchive, Summarizer,
                    Wiki)
from .report import DRAFTS_PREFIX, draft_name, metadata, report_name, to_markdown


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
        item = {}
    message = _slack_ref(item)
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
    notifier.post_in_thread(message, (
        f":mute: This error was marked *not an incident* by <@{_mrkdwn(str(state['muted_by']), 40)}> on "
        f"{iso(float(state.get('muted_at') or 0))}: {_mrkdwn(str(state.get('muted_reason') or ''), 500)}. "
        f"It occurred {int(state.get('muted_count') or 0)} time(s) while muted; the mute has ended."))


def notify_remind(incident: Incident, token: str, store: IncidentStore, notifier: Notifier,
                  allowed_resolvers: list[str], *, now: float) -> None:
    if not token:
        raise InputError("notify 'remind' needs the task token")
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    if message is None:
        # The first wait can time out while its notify call is still posting (a short reminder, a slow
        # Slack): the message is about to exist, so this is worth a retry, not a failed incident.
        raise TransientError(f"incident {incident.incident_id} has no Slack message to remind in yet")
    owner = str(item.get("acknowledged_by") or "")
    snoozed = float(item.get("snoozed_until") or 0) > now
    if item.get("wait_action") != "remind" and not owner and not snoozed:  # acknowledged / snoozed: no reminder
        who = " ".join(f"<@{u}>" for u in allowed_resolvers[:10]) or "Anyone in this channel"
        notifier.post_in_thread(message, f":alarm_clock: This incident is still open. {who}: when it is fixed, "
                                         "press *Resolve* so opsloop can write the report.")
    store.set_wait_token(incident.incident_id, token, "remind", now=now)


def close_incident(store: IncidentStore, incident: Incident, status: str, **fields: Any) -> None:
    from .observability import count

    store.update_incident(incident.incident_id, status=status, **fields)
    store.close_fingerprint(storm_scope(incident), incident.fingerprint, incident.incident_id)
    count("IncidentClosed", outcome=status)  # CLOSED (resolved) | ESCALATED | FAILED
    store.untrack_open(incident.incident_id)


def seconds_since(first_seen: str, now: float) -> float | None:
    """Seconds from an ISO 8601 time to ``now`` (None when the time is missing or unreadable)."""
    from datetime import datetime

    try:
        start = datetime.fromisoformat(first_seen.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None
    return max(0.0, now - start)


def notify_escalate(incident: Incident, store: IncidentStore, notifier: Notifier, *, now: float) -> None:
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    if message is not None and item.get("status") == "ESCALATING" and item.get("action_by"):
        notifier.post_in_thread(message, f"<!here> :rotating_light: <@{_mrkdwn(str(item['action_by']), 40)}> "
                                         "escalated this incident. opsloop has stopped waiting: handle it by hand, "
                                         "and the next occurrence will open a new incident.")
    elif message is not None and item.get("status") != "ESCALATED":
        notifier.post_in_thread(message, "<!here> :rotating_light: Nobody resolved this incident in time. "
                                         "opsloop has stopped waiting: handle it by hand, and the next "
                                         "occurrence will open a new incident.")
    close_incident(store, incident, "ESCALATED", closed_at=now, task_token="")


def notify_dismiss(incident: Incident, classification: Classification, analysis: Analysis,
                   resolution: dict[str, Any], store: IncidentStore, notifier: Notifier, *, now: float) -> None:
    """"Not an incident": say who decided and why in the thread and on the message, and close it."""
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    by, reason = str(resolution.get("by") or item.get("action_by") or ""), str(resolution.get("reason") or "")
    days = int(resolution.get("mute_days") or 0)
    line = (f":mute: Not an incident, said <@{_mrkdwn(by, 40)}>: {_mrkdwn(reason, 500)}. "
            f"This error is muted for {days} day(s); occurrences are counted but open nothing.")
    if message is not None and item.get("status") != "DISMISSED":
        notifier.post_in_thread(message, line)
        show = getattr(notifier, "show_state", None)
        if show is not None:
            show(message, incident, classification, analysis, line)
    close_incident(store, incident, "DISMISSED", closed_at=now, task_token="", dismissed_by=by,
                   dismissed_reason=reason[:500])


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
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    thread = notifier.fetch_thread(message) if message is not None else []
    # People paste tokens and connection strings into threads too: nothing unredacted reaches the model,
    # the report or the page.
    from .redact import redact

    thread = [replace(m, text=redact(m.text).text) for m in thread]
    if draft:
        resolution = {}
    resolved_by = "" if draft else str(resolution.get("resolved_by") or item.get("resolved_by") or "")
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
    item = store.get_incident(incident.incident_id) or {}
    message = _slack_ref(item)
    if message is None or item.get("draft_announced"):
        return False
    notifier.post_in_thread(message, (
        ":memo: opsloop stored this thread as a *draft* report "
        f"(`{_mrkdwn(str(stored.get('key') or ''), 300)}`). Nobody confirmed a root cause, so the knowledge "
        "base does not use it as an answer and no Confluence page was made; the next occurrence opens a new "
        "incident, and its confirmed report is what teaches opsloop."))
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
    prior = (store.get_incident(incident.incident_id) or {}).get("status")
    if prior == "ESCALATED":  # a draft step after the escalation: already closed (and counted) as escalated
        store.update_incident(incident.incident_id, failed_step=step, failure_error=error)
    else:
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
