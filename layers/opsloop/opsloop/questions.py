"""Answers to questions asked in an incident's Slack thread (``@opsloop why …?``).

The question is untrusted text: it is bounded and handed to the analyst as the incident's message, so
it reaches the model only inside the prompt's data block, and the answer cites sources like any analysis.
"""

from __future__ import annotations

from dataclasses import replace

from .incidents import IncidentStore
from .models import Classification, Incident
from .ports import Analyst, Notifier, PostedMessage

MAX_QUESTION_CHARS = 1000


def answer_in_thread(channel: str, thread_ts: str, question: str, *, store: IncidentStore, notifier: Notifier,
                     analyst: Analyst) -> bool:
    from .slack.mrkdwn import escape

    incident_id = store.incident_for_thread(channel, thread_ts)
    if not incident_id:
        return False  # not an incident thread: stay quiet
    item = store.get_incident(incident_id) or {}
    if not item.get("incident"):
        return False
    incident = Incident.from_dict(item["incident"])
    classification = Classification.from_dict(item.get("classification") or {"category": "unknown", "severity": "medium"})
    from .redact import redact

    question = redact(question[:MAX_QUESTION_CHARS]).text
    asked = replace(incident, message=f"{incident.message}\n\nQuestion from the team: {question}")
    analysis = analyst.analyze(asked, classification)
    lines = [f"*{escape(analysis.summary, 500)}*", escape(analysis.root_cause, 1500)]
    lines += [f"{i}. {escape(s, 400)}" for i, s in enumerate(analysis.fix_steps[:6], 1)]
    if analysis.sources:
        lines.append("Sources: " + ", ".join(escape(s.title or s.doc_id, 120) for s in analysis.sources[:5]))
    notifier.post_in_thread(PostedMessage(channel=channel, ts=thread_ts), "\n".join(lines))
    return True
