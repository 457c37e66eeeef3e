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
MAX_ANSWER_CHARS = 12_000  # at most a few thread messages
MAX_ANSWER_MESSAGES = 5


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
    # The agent's session is the incident id, so follow-up questions in the thread share one conversation.
    analysis = analyst.analyze(asked, classification)
    from .slack.mrkdwn import is_safe_https_url, link
    from .slack.split import split_text

    parts = [f"*{escape(analysis.summary, 500)}*", escape(analysis.root_cause, MAX_ANSWER_CHARS)]
    if analysis.fix_steps:
        parts.append("\n".join(f"{i}. {escape(s, 1000)}" for i, s in enumerate(analysis.fix_steps[:10], 1)))
    if analysis.sources:
        cited = []
        for i, src in enumerate(analysis.sources[:8], 1):
            title = src.title or src.doc_id
            cited.append(f"[{i}] " + (link(src.uri, title, 200) if src.uri and is_safe_https_url(src.uri)
                                      else escape(title, 200)))
        parts.append("*Sources*\n" + "\n".join(cited))
    pieces = split_text("\n\n".join(p for p in parts if p))
    if len(pieces) > MAX_ANSWER_MESSAGES:
        pieces = pieces[:MAX_ANSWER_MESSAGES - 1] + [pieces[-1]]  # the sources (last) always survive
    where = PostedMessage(channel=channel, ts=thread_ts)
    for piece in pieces:
        notifier.post_in_thread(where, piece)
    return True
