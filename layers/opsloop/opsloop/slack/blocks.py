"""The incident message in Block Kit: what the team sees in Slack, and the Resolve button.

Built with slack_sdk's block classes (their validators catch most limit mistakes while building) and
returned as plain dicts for ``chat.postMessage`` / ``chat.update``. Every string taken from the incident or
the analysis is untrusted (log text, model output, runbook titles) and goes through :mod:`.mrkdwn`.

Slack's documented limits, enforced here so a huge log line or a chatty model can never make Slack reject
the message (https://docs.slack.dev/reference/block-kit/blocks):

* a message holds at most 50 blocks;
* a section's text is at most 3000 characters; a header's plain_text at most 150;
* a context block has at most 10 elements;
* a button's text is at most 75 characters, its value at most 2000, an action_id at most 255;
* a static_select's placeholder is at most 150 characters, it has at most 100 options, each option's text
  at most 75 and its value at most 150
  (https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#static_select);
* a confirmation dialog: title 100, text 300, confirm/deny 30 characters;
* a message's top-level ``text`` is at most 40,000 characters, and Slack truncates it after 4000 when it is
  used as the notification, so the fallback is cut at 4000
  (https://docs.slack.dev/reference/methods/chat.postMessage).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from ..errors import InputError
from ..models import Analysis, Classification, Incident
from .mrkdwn import INCIDENT_ID, code_block, escape, escape_plain, is_safe_https_url, link, truncate, user_mention

RESOLVE_ACTION_ID = "resolve_incident"
RESOLVE_BLOCK_ID = "opsloop_resolve"
ACK_ACTION_ID = "ack_incident"
SNOOZE_ACTION_ID = "snooze_incident"
ESCALATE_ACTION_ID = "escalate_incident"
DISMISS_ACTION_ID = "dismiss_incident"
SNOOZE_CHOICES = (1, 4, 24)  # hours a person may pick; any other value that comes back is refused
SNOOZE_HOURS = 4  # the default (kept for callers that do not choose)
ROOM_ACTIONS = {ACK_ACTION_ID: "Acknowledge", SNOOZE_ACTION_ID: "Snooze reminders…",
                ESCALATE_ACTION_ID: "Escalate now", DISMISS_ACTION_ID: "Not an incident"}

MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_ELEMENT_MAX = 300  # ours, to keep the context line readable (Slack allows 3000 per text object)
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000  # the incident id pattern keeps the value at 128 characters at most
OPTION_VALUE_MAX = 150  # "<hours>|<incident id>": at most 3 + 1 + 128 characters
SELECT_PLACEHOLDER_MAX = 150
ACTION_ID_MAX = 255
MESSAGE_TEXT_MAX = 40_000
NOTIFICATION_TEXT_MAX = 4000

MAX_FIX_STEP_SECTIONS = 5  # fix steps beyond what fits in these are counted, not shown
FIX_STEP_MAX = 700
MAX_SOURCES = 8
MAX_FRAMES = 8

SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "medium": ":large_orange_circle:",
    "low": ":large_blue_circle:",
}
RESOLVED_EMOJI = ":white_check_mark:"


def _first_line(text: str) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def incident_title(incident: Incident) -> str:
    """The one-line name of an error: its exception class, else its template, else its message."""
    what = (incident.exception or "").strip() or _first_line(incident.template) or _first_line(incident.message)
    what = what or "Error"
    return f"{what} in {incident.service}" if incident.service else what


def _check_incident_id(incident_id: str) -> str:
    # The id becomes the button value that comes back to us signed by Slack: it must be exactly an id.
    if not isinstance(incident_id, str) or not INCIDENT_ID.fullmatch(incident_id):
        raise InputError("incident_id is not a valid opsloop incident id")
    return incident_id


def _mrkdwn(text: str) -> MarkdownTextObject:
    # verbatim: Slack must not auto-link bare URLs, channel names or @mentions found in untrusted text.
    return MarkdownTextObject(text=text, verbatim=True)


def _section(label: str, body: str) -> SectionBlock:
    """A section "*label*\\nbody"; ``body`` must already be escaped and bounded by the caller."""
    text = f"*{label}*\n{body}" if label else body
    return SectionBlock(text=_mrkdwn(truncate(text, SECTION_TEXT_MAX)))


def _escaped_section(label: str, untrusted: str) -> SectionBlock:
    head = f"*{label}*\n"
    return _section(label, escape(untrusted, SECTION_TEXT_MAX - len(head)))


def _header(incident: Incident, classification: Classification, resolved: bool) -> HeaderBlock:
    severity = (classification.severity or "").lower()
    emoji = RESOLVED_EMOJI if resolved else SEVERITY_EMOJI.get(severity, ":white_circle:")
    label = "Resolved" if resolved else (severity.capitalize() or "Incident")
    prefix = f"{emoji} {escape_plain(label, 20, single_line=True)}: "
    title = escape_plain(incident_title(incident), HEADER_TEXT_MAX - len(prefix), single_line=True)
    return HeaderBlock(text=PlainTextObject(text=prefix + title, emoji=True))


def _facts(incident: Incident, classification: Classification) -> ContextBlock:
    def fact(label: str, value: object) -> MarkdownTextObject:
        head = f"*{label}:* "
        return _mrkdwn(head + escape(value, CONTEXT_ELEMENT_MAX - len(head)))

    elements = [
        fact("Service", incident.service or "unknown"),
        fact("Source", incident.source or "unknown"),
        *([fact("Account", incident.where())] if incident.where() else []),
        fact("Category", classification.category or "unknown"),
        fact("Occurrences", incident.occurrences),
    ]
    if incident.first_seen:
        elements.append(fact("First seen", incident.first_seen))
    if incident.last_seen:
        elements.append(fact("Last seen", incident.last_seen))
    elements.append(fact("Incident", incident.incident_id))
    if incident.previous_incident_id:
        elements.append(fact("Recurrence of", incident.previous_incident_id))
    if incident.related_incident_id:
        elements.append(fact("Also open in", incident.related()))
    return ContextBlock(elements=elements[:CONTEXT_ELEMENTS_MAX])


def _fix_step_sections(steps: list[str]) -> list[SectionBlock]:
    """Numbered steps packed into as few sections as fit in 3000 characters each."""
    head = "*Suggested fix*\n"
    sections: list[str] = []
    current = head
    shown = 0
    for number, step in enumerate(steps, 1):
        line = f"{number}. {escape(step, FIX_STEP_MAX)}\n"
        if len(current) + len(line) > SECTION_TEXT_MAX:
            if len(sections) + 1 >= MAX_FIX_STEP_SECTIONS:
                break
            sections.append(current)
            current = ""
        current += line
        shown += 1
    if current.strip():
        sections.append(current)
    hidden = len(steps) - shown
    if hidden:
        more = f"_…and {hidden} more step{'s' if hidden != 1 else ''}, see the report._"
        if len(sections[-1]) + len(more) <= SECTION_TEXT_MAX:
            sections[-1] += more
        else:
            sections.append(more)
    return [SectionBlock(text=_mrkdwn(truncate(s.rstrip("\n"), SECTION_TEXT_MAX))) for s in sections]


def _sources_section(analysis: Analysis) -> SectionBlock | None:
    if not analysis.sources:
        return None
    budget = SECTION_TEXT_MAX - len("*Sources*\n")
    lines: list[str] = []
    used = 0
    for src in analysis.sources[:MAX_SOURCES]:
        label = src.title or src.doc_id or "source"
        kind = f" ({escape(src.kind, 20)})" if src.kind else ""
        line = f"• {link(src.uri, label, 300)}{kind}"
        if used + len(line) + 1 > budget - 20:  # whole lines only: a cut link would show as garbage
            break
        lines.append(line)
        used += len(line) + 1
    hidden = len(analysis.sources) - len(lines)
    if hidden > 0:
        lines.append(f"…and {hidden} more")
    return _section("Sources", "\n".join(lines))


def _confidence(analysis: Analysis) -> ContextBlock:
    elements = [_mrkdwn(f"*Confidence:* {escape(analysis.confidence or 'none', 20)}")]
    if analysis.answered_from_history:
        elements.append(_mrkdwn(":books: Answered from your history"))
    if not analysis.grounded:
        elements.append(_mrkdwn(":grey_question: No matching runbook or past incident was found"))
    if analysis.engine:
        elements.append(_mrkdwn(f"*Engine:* {escape(analysis.engine, 40)}"))
    return ContextBlock(elements=elements)


def resolve_button(incident_id: str) -> ButtonElement:
    """The Resolve button: its value is the incident id and nothing else (never a task token)."""
    value = _check_incident_id(incident_id)
    return ButtonElement(
        text=PlainTextObject(text="Resolve", emoji=True),
        action_id=RESOLVE_ACTION_ID,
        value=value,
        style="primary",
        confirm=ConfirmObject(
            title=PlainTextObject(text="Resolve this incident?"),
            text=PlainTextObject(text="opsloop will summarise this thread into the incident report and publish it."),
            confirm=PlainTextObject(text="Resolve"),
            deny=PlainTextObject(text="Not yet"),
        ),
    )


def snooze_value(hours: int, incident_id: str) -> str:
    """The value of a Snooze option: the hours and the incident id, nothing else (never a task token)."""
    return f"{int(hours)}|{_check_incident_id(incident_id)}"


def snooze_select(incident_id: str) -> StaticSelectElement:
    """Snooze reminders for 1 h, 4 h or 24 h: one pick, no second dialog."""
    return StaticSelectElement(
        placeholder=PlainTextObject(text=ROOM_ACTIONS[SNOOZE_ACTION_ID], emoji=True), action_id=SNOOZE_ACTION_ID,
        options=[Option(text=PlainTextObject(text=f"Snooze {h} h", emoji=True), value=snooze_value(h, incident_id))
                 for h in SNOOZE_CHOICES])


def room_buttons(incident_id: str) -> list[ButtonElement | StaticSelectElement]:
    """Acknowledge, Snooze (a menu of hours), Escalate now, Not an incident: like Resolve, each carries the
    incident id and nothing else (the snooze options carry the hours too)."""
    value = _check_incident_id(incident_id)
    return [snooze_select(value) if action_id == SNOOZE_ACTION_ID else
            ButtonElement(text=PlainTextObject(text=label, emoji=True), action_id=action_id, value=value,
                          **({"style": "danger"} if action_id == ESCALATE_ACTION_ID else {}))
            for action_id, label in ROOM_ACTIONS.items()]


def _resolved_context(resolved_by: str, page_url: str | None) -> ContextBlock:
    parts = [f"{RESOLVED_EMOJI} Resolved by {user_mention(resolved_by)}"]
    if page_url and is_safe_https_url(page_url):
        parts.append(link(page_url, "Incident report", 2000))
    elif page_url:  # e.g. the offline run's local file: shown, not linked
        parts.append("Incident report: " + escape(page_url, 500))
    return ContextBlock(elements=[_mrkdwn(truncate(" · ".join(parts), SECTION_TEXT_MAX))])


def _fit(blocks: list[Block]) -> list[Block]:
    """At most 50 blocks; the last one (the button or the resolution line) always survives."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return blocks[: MAX_BLOCKS - 1] + blocks[-1:]


def incident_blocks(
    incident: Incident,
    classification: Classification,
    analysis: Analysis | None,
    *,
    resolved_by: str | None = None,
    page_url: str | None = None,
    state: str | None = None,
) -> list[dict[str, Any]]:
    """The incident message. With ``resolved_by`` the button is replaced by who resolved it and the page."""
    _check_incident_id(incident.incident_id)
    resolved = bool(resolved_by)
    blocks: list[Block] = [_header(incident, classification, resolved)]
    head = "*Error sample*\n"
    blocks.append(_section("Error sample", code_block(incident.message or incident.template,
                                                      SECTION_TEXT_MAX - len(head))))
    if incident.frames:
        frames = "\n".join(incident.frames[:MAX_FRAMES])
        blocks.append(_section("Top frames", code_block(frames, SECTION_TEXT_MAX - len("*Top frames*\n"))))
    blocks.append(_facts(incident, classification))
    if analysis is not None:
        blocks.append(DividerBlock())
        if analysis.summary:
            blocks.append(_escaped_section("Summary", analysis.summary))
        if analysis.root_cause:
            blocks.append(_escaped_section("Likely root cause", analysis.root_cause))
        if analysis.fix_steps:
            blocks.extend(_fix_step_sections(list(analysis.fix_steps)))
        sources = _sources_section(analysis)
        if sources is not None:
            blocks.append(sources)
        blocks.append(_confidence(analysis))
    if state and not resolved:  # "Acknowledged by <@U…>", "Snoozed until …" (mrkdwn built by opsloop)
        blocks.append(ContextBlock(elements=[_mrkdwn(truncate(state, CONTEXT_ELEMENT_MAX))]))
    if resolved:
        blocks.append(_resolved_context(str(resolved_by), page_url))
    else:
        blocks.append(ActionsBlock(block_id=RESOLVE_BLOCK_ID, elements=[resolve_button(incident.incident_id),
                                                                       *room_buttons(incident.incident_id)]))
    return [b.to_dict() for b in _fit(blocks)]


def fallback_text(
    incident: Incident,
    classification: Classification,
    analysis: Analysis | None = None,
    *,
    resolved_by: str | None = None,
) -> str:
    """The message's top-level ``text``: what notifications and screen readers show (escaped, ≤ 4000)."""
    severity = (classification.severity or "unknown").upper()
    status = f"Resolved by {resolved_by}: " if resolved_by else f"[{severity}] "
    text = status + incident_title(incident)
    if analysis is not None and analysis.summary:
        text += " — " + _first_line(analysis.summary)
    return escape(text, NOTIFICATION_TEXT_MAX)


__all__ = [
    "MAX_BLOCKS", "RESOLVE_ACTION_ID", "RESOLVE_BLOCK_ID", "fallback_text", "incident_blocks", "incident_title",
    "resolve_button",
]
