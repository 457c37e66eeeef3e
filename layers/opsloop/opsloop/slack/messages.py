"""What opsloop says in an incident's room, by intent: opened, muted before, remind, escalated, draft stored,
dismissed, resolved, failed, answer.

These are the Notifier's intent-level methods. Domain code says *what happened* (``notifier.remind(...)``);
the words, mentions and escaping live here, built on the few Slack primitives a notifier has
(``post_in_thread``, ``post_notice``, ``mark_resolved``, ``show_state``). Everything quoted from an incident,
a person or a model is escaped with :func:`opsloop.slack.mrkdwn.escape`; the rest is opsloop's own mrkdwn.
This module imports no Slack SDK, so a stand-in notifier (the tests', the benchmarks') gets the same
wording by inheriting :class:`IncidentRoom`.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..models import Analysis, Classification, Incident
from ..ports import PostedMessage
from .mrkdwn import escape, is_safe_https_url, link

MAX_ANSWER_CHARS = 12_000  # at most a few thread messages
MAX_ANSWER_MESSAGES = 5
MAX_MENTIONED_RESOLVERS = 10


def _m(text: str, limit: int = 1500) -> str:
    return escape(text, limit)


def _user(user_id: str) -> str:
    return f"<@{_m(user_id, 40)}>"


class IncidentRoom:
    """The intent-level half of :class:`~opsloop.ports.Notifier`, over its Slack primitives."""

    # primitives a concrete notifier provides
    def post_in_thread(self, message: PostedMessage, text: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def post_notice(self, text: str) -> PostedMessage:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- intents ------------------------------------------------------------------------------------
    def muted_before(self, message: PostedMessage, *, by: str, at: str, reason: str, count: int) -> None:
        """A recurrence after "Not an incident": who said so, when, why, and how often it happened while muted."""
        self.post_in_thread(message, (
            f":mute: This error was marked *not an incident* by {_user(by)} on {_m(at, 40)}: "
            f"{_m(reason, 500)}. It occurred {int(count)} time(s) while muted; the mute has ended."))

    def remind(self, message: PostedMessage, resolvers: Sequence[str]) -> None:
        who = " ".join(_user(u) for u in resolvers[:MAX_MENTIONED_RESOLVERS]) or "Anyone in this channel"
        self.post_in_thread(message, f":alarm_clock: This incident is still open. {who}: when it is fixed, "
                                     "press *Resolve* so opsloop can write the report.")

    def escalated(self, message: PostedMessage, *, by: str = "") -> None:
        """The wait ended unresolved: ``by`` pressed Escalate now, or (empty) nobody resolved it in time."""
        opening = (f"<!here> :rotating_light: {_user(by)} escalated this incident." if by else
                   "<!here> :rotating_light: Nobody resolved this incident in time.")
        self.post_in_thread(message, f"{opening} opsloop has stopped waiting: handle it by hand, and the next "
                                     "occurrence will open a new incident.")

    def draft_stored(self, message: PostedMessage, *, report_key: str) -> None:
        """After an unresolved wait: the thread was kept as a draft report, which is not an answer."""
        self.post_in_thread(message, (
            ":memo: opsloop stored this thread as a *draft* report "
            f"(`{_m(report_key, 300)}`). Nobody confirmed a root cause, so the knowledge "
            "base does not use it as an answer and no Confluence page was made; the next occurrence opens a new "
            "incident, and its confirmed report is what teaches opsloop."))

    def dismissed(self, message: PostedMessage, incident: Incident, classification: Classification,
                  analysis: Analysis | None, *, by: str, reason: str, days: int) -> None:
        """"Not an incident": who decided and why, in the thread and on the message."""
        line = (f":mute: Not an incident, said {_user(by)}: {_m(reason, 500)}. "
                f"This error is muted for {int(days)} day(s); occurrences are counted but open nothing.")
        self.post_in_thread(message, line)
        show = getattr(self, "show_state", None)
        if show is not None:
            show(message, incident, classification, analysis, line)

    def resolved(self, message: PostedMessage, incident: Incident, classification: Classification,
                 analysis: Analysis, *, resolved_by: str, page_url: str, page_created: bool, page_version: Any,
                 report_key: str) -> None:
        """The message shows who resolved it and links the page; the thread says where the report went."""
        mark = getattr(self, "mark_resolved", None)
        if mark is not None:
            mark(message, incident, classification, analysis, resolved_by, page_url)
        created = "created" if page_created else f"updated (version {page_version})"
        page = f"<{page_url}|incident report>" if page_url.startswith(("https://", "http://")) else "incident report"
        self.post_in_thread(
            message,
            f":white_check_mark: Resolved by {_user(resolved_by)}. The {page} was {created}, and the report is "
            f"in the knowledge base (`{_m(report_key, 300)}`), so the next occurrence is answered from it.")

    def failed(self, message: PostedMessage | None, incident: Incident, *, step: str, error: str,
               cause: str) -> None:
        """A step failed: in the thread when the incident was posted, else as a message of its own."""
        text = (f":x: opsloop could not finish incident `{_m(incident.incident_id, 100)}` "
                f"({_m(incident.service, 100)}): step *{_m(step, 40)}* failed with "
                f"`{_m(error, 80)}`: {_m(cause, 500)}. The error itself still needs attention; "
                "the next occurrence opens a new incident.")
        if message is not None:
            self.post_in_thread(message, text)
        else:
            self.post_notice(text)

    def answer(self, where: PostedMessage, analysis: Analysis) -> int:
        """An answer to a question asked in the thread, with its sources, split into messages that each
        fit Slack's limits (never cut mid-answer); the sources (last) always survive. Returns the messages sent."""
        from .split import split_text

        parts = [f"*{_m(analysis.summary, 500)}*", _m(analysis.root_cause, MAX_ANSWER_CHARS)]
        if analysis.fix_steps:
            parts.append("\n".join(f"{i}. {_m(s, 1000)}" for i, s in enumerate(analysis.fix_steps[:10], 1)))
        if analysis.sources:
            cited = []
            for i, src in enumerate(analysis.sources[:8], 1):
                title = src.title or src.doc_id
                cited.append(f"[{i}] " + (link(src.uri, title, 200) if src.uri and is_safe_https_url(src.uri)
                                          else _m(title, 200)))
            parts.append("*Sources*\n" + "\n".join(cited))
        pieces = split_text("\n\n".join(p for p in parts if p))
        if len(pieces) > MAX_ANSWER_MESSAGES:
            pieces = pieces[:MAX_ANSWER_MESSAGES - 1] + [pieces[-1]]
        for piece in pieces:
            self.post_in_thread(where, piece)
        return len(pieces)


__all__ = ["IncidentRoom", "MAX_ANSWER_CHARS", "MAX_ANSWER_MESSAGES"]
