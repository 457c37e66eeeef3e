"""Incident reports as files the Knowledge Base can ingest: Markdown with front matter, plus Bedrock KB
metadata (``<name>.md.metadata.json``) so retrieval can filter and boost on fingerprint and service.

One file per (service, fingerprint): a recurrence updates the same report instead of adding a second one.
A draft (nobody confirmed it within the wait) is one file per incident under ``drafts/``, marked
``kind: draft`` in both the front matter and the metadata, so retrieval can leave it out.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from .models import Report

_SAFE = re.compile(r"[^a-z0-9-]+")


def report_name(report_or_service: Report | str, fingerprint: str | None = None) -> str:
    """File stem shared by the S3 key, the local mirror and the doc id the retriever cites."""
    if isinstance(report_or_service, Report):
        service, fingerprint = report_or_service.service, report_or_service.fingerprint
    else:
        service = report_or_service
    slug = _SAFE.sub("-", (service or "service").lower()).strip("-")[:48] or "service"
    fp = _SAFE.sub("", (fingerprint or "").lower())[:16]
    return f"incident-{slug}-{fp}"


DRAFTS_PREFIX = "drafts/"  # apart from reports/: a draft never overwrites a confirmed report


def draft_name(report: Report, incident_id: str) -> str:
    """File stem of an incident's unconfirmed draft: the report's name plus the incident, so each draft is
    its own object and a later draft or confirmed report never replaces it."""
    inc = _SAFE.sub("-", (incident_id or "").lower()).strip("-")[:64] or "incident"
    return f"{report_name(report)}-{inc}"


def _line(text: str, limit: int = 2000) -> str:
    """One line of untrusted text for Markdown: no newlines (they could start a heading), bounded."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _yaml_str(text: str) -> str:
    return json.dumps(_line(text, 300), ensure_ascii=False)


def occurrence_counts(report: Report) -> str:
    """Both counts, each labelled: this incident's own, and the fingerprint's total across incidents.

    The Markdown report, the Confluence page and the terminal summary all say it with these words, so
    the numbers a reader compares always agree.
    """
    this = report.incident_occurrences or report.occurrences
    n = max(1, len(report.incidents))
    total = f"{report.occurrences} in total across {n} incident{'s' if n != 1 else ''}"
    return f"{this} occurrence(s) in this incident, {total}"


def to_markdown(report: Report) -> str:
    patterns = [p for p in (report.exception, report.template) if p]
    tags = ", ".join(_SAFE.sub("-", t.lower()).strip("-") for t in report.tags if t)
    lines = [
        "---",
        f"title: {_yaml_str(report.title)}",
        f"service: {_yaml_str(report.service)}",
        f"kind: {'draft' if report.draft else 'report'}",
        f"fingerprint: {report.fingerprint}",
        f"severity: {report.severity}",
        "error_patterns:",
        *[f"  - {_yaml_str(p)}" for p in patterns],
        f"tags: [{tags}]",
        "---",
        f"# {_line(report.title, 300)}",
        "",
        f"Incident report for `{report.fingerprint}` on {_line(report.service, 200)}: severity {report.severity}, "
        f"{occurrence_counts(report)}, first seen {report.first_seen}, last seen {report.last_seen}.",
        f"Incidents: {', '.join(report.incidents)}.",
        *([f"Account: {_line(', '.join(report.accounts), 600)}."] if report.accounts else []),
        *([f"The same error in: {_line(', '.join(report.related_incidents), 900)}."] if report.related_incidents else []),
        "",
        "## Symptoms",
        _line(report.symptoms, 4000),
    ]
    if report.template:
        lines += ["", "Error template:", "", "    " + _line(report.template, 1000)]
    lines += ["", "## Impact", _line(report.impact, 2000), "", "## Root cause", _line(report.root_cause, 4000),
              "", "## Resolution"]
    lines += [f"{i}. {_line(s, 1000)}" for i, s in enumerate(report.resolution, 1)] or ["(none recorded)"]
    lines += ["", "## Prevention"]
    lines += [f"- {_line(s, 1000)}" for s in report.prevention] or ["(none recorded)"]
    lines += ["", "## Timeline"]
    lines += [f"- {_line(t.at, 40)}: {_line(t.text, 600)}" for t in report.timeline] or ["(none recorded)"]
    if report.links:
        lines += ["", "## Links"] + [f"- {_line(u, 500)}" for u in report.links]
    if report.resolved_by:
        lines += ["", f"Resolved by {_line(report.resolved_by, 100)}."]
    if report.confirmed_by:
        lines += ["", f"Root cause, fix and prevention confirmed by <@{_line(report.confirmed_by, 40)}>."]
        lines += [f"- {_line(k.replace('_', ' '), 40)}: {_line(v, 200)}" for k, v in report.attribution.items()]
    elif report.draft:
        lines += ["", "Draft: nobody confirmed the root cause, fix or prevention; this report is not an answer."]
    return "\n".join(lines) + "\n"


def _epoch(iso: str) -> int:
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except (ValueError, AttributeError):
        return 0


def metadata(report: Report) -> dict:
    """Bedrock Knowledge Base metadata for the report (string, number and boolean values only)."""
    return {
        "metadataAttributes": {
            "kind": "draft" if report.draft else "report",
            "draft": report.draft,
            "confirmed_by": report.confirmed_by,
            "fingerprint": report.fingerprint,
            "service": report.service,
            "severity": report.severity,
            "first_seen": report.first_seen,
            "last_seen": report.last_seen,
            "last_seen_epoch": _epoch(report.last_seen),
            "occurrences": report.occurrences,
            "incident_count": len(report.incidents),
            "incident_occurrences": report.incident_occurrences or report.occurrences,
            "language": report.language,
        }
    }
