"""Answers to questions asked in an incident's Slack thread (``@opsloop why …?``).

The question is untrusted text: it is bounded and handed to the analyst as the incident's message, so
it reaches the model only inside the prompt's data block, and the answer cites sources like any analysis.
"""

from __future__ import annotations

from dataclasses import replace

from .incidents import IncidentStore
from .models import Classification
from .ports import Analyst, Notifier, PostedMessage

MAX_QUESTION_CHARS = 1000


def answer_in_thread(channel: str, thread_ts: str, question: str, *, store: IncidentStore, notifier: Notifier,
                     analyst: Analyst) -> bool:
    incident_id = store.incident_for_thread(channel, thread_ts)
    if not incident_id:
        return False  # not an incident thread: stay quiet
    item = store.get_incident(incident_id)
    if item is None or item.incident is None:
        return False
    incident = item.incident
    classification = item.classification or Classification("unknown", "medium")
    from .redact import redact

    question = redact(question[:MAX_QUESTION_CHARS]).text
    asked = replace(incident, message=f"{incident.message}\n\nQuestion from the team: {question}")
    # The agent's session is the incident id, so follow-up questions in the thread share one conversation.
    analysis = analyst.analyze(asked, classification)
    notifier.answer(PostedMessage(channel=channel, ts=thread_ts), analysis)
    return True
