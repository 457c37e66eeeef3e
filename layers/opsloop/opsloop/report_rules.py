"""The report rules every summarizer shares, and the offline report writer built on them: a Report from the
Slack thread without any model, plus the helpers that every summarizer shares (text bounding, Slack markup to plain text, the incident's facts, merging with the
previous report of the same fingerprint).

Why heuristics are good enough here: people resolving an incident tend to write the conclusion in a
recognisable way ("root cause: …", "fixed by …", "원인: …", "조치: …"). Taking those lines verbatim is
more faithful than paraphrase, and what the thread does not say is filled from the earlier analysis,
marked as such. Facts (fingerprint, service, dates, counts, incident ids) always come from the incident,
never from text, so a report cannot misstate what happened or to what.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from typing import Iterable, Sequence

from .models import Analysis, Classification, Incident, Report, ThreadMessage, TimelineEntry
from .slack.mrkdwn import slack_to_plain

# Field bounds: a report is read by people (Confluence) and chunked by the knowledge base; neither is
# helped by a 50 kB paragraph pasted into a thread.
MAX_TITLE = 200
MAX_PARAGRAPH = 2000
MAX_ITEM = 500
MAX_ITEMS = 20
MAX_TIMELINE = 60
MAX_TAGS = 15
MAX_TAG = 40
MAX_INCIDENTS = 100  # ids kept on a merged report: a years-long recurrence must not outgrow a DynamoDB item
TRUNCATION_MARK = "…"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def bound_text(value: object, limit: int) -> str:
    """Plain single-spaced-lines text, control characters removed, cut to ``limit`` characters."""
    if value is None:
        return ""
    text = _CONTROL.sub("", unicodedata.normalize("NFC", str(value)))
    text = "\n".join(" ".join(line.split()) for line in text.strip().splitlines())
    text = re.sub(r"\n{3,}", "\n\n", text)
    if len(text) > limit:
        text = text[: max(0, limit - len(TRUNCATION_MARK))].rstrip() + TRUNCATION_MARK
    return text


def cut_at_word(value: object, limit: int) -> str:
    """One line of ``value`` of at most ``limit`` characters, cut at a word boundary with an ellipsis.

    For terminal and preview lines: a cut never ends mid-word (a single word longer than the line is
    the only thing cut inside itself).
    """
    text = " ".join(str(value or "").split())
    if len(text) <= limit:
        return text
    room = max(1, limit - len(TRUNCATION_MARK))
    head = text[: room + 1]
    at = head.rfind(" ")
    head = head[:at] if at > 0 else text[:room]
    return head.rstrip(" ,.;:-—") + TRUNCATION_MARK


def clean(value: object, limit: int) -> str:
    """Untrusted text (Slack, model output) made safe to store: plain, bounded."""
    return bound_text(slack_to_plain(str(value)) if value is not None else "", limit)


def clean_list(values: Iterable[object], item_limit: int = MAX_ITEM, max_items: int = MAX_ITEMS) -> list[str]:
    """Bounded, de-duplicated (case and spacing insensitive) list of non-empty strings, order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = clean(value, item_limit)
        key = _dedupe_key(text)
        if text and key not in seen:
            seen.add(key)
            out.append(text)
        if len(out) >= max_items:
            break
    return out


def _dedupe_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def slack_ts_to_iso(ts: str) -> str:
    """Slack's ``"1700000000.123456"`` (or an ISO string, passed through) as ISO 8601 UTC, seconds precision."""
    ts = str(ts or "").strip()
    try:
        seconds = float(ts)
    except ValueError:
        return bound_text(ts, 40)
    if not (0 <= seconds < 4_102_444_800):  # before 2100
        return ""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tag_slug(value: str) -> str:
    """A Confluence-label-safe tag: lowercase letters, digits and dashes."""
    slug = re.sub(r"[^0-9a-z가-힣]+", "-", value.casefold()).strip("-")
    return slug[:MAX_TAG].strip("-")


def short_exception(exception: str | None) -> str:
    return re.split(r"[.$:]", exception.strip())[-1] if exception and exception.strip() else ""


def default_tags(incident: Incident, classification: Classification) -> list[str]:
    candidates = [classification.category, classification.severity, incident.service,
                  short_exception(incident.exception)]
    return [t for t in dict.fromkeys(tag_slug(c) for c in candidates if c) if t and t != "unknown"]


# --- facts and merging, shared with the Bedrock summarizer ---------------------------------------------

def report_facts(incident: Incident, classification: Classification, resolved_by: str,
                 language: str) -> dict[str, object]:
    """The fields a report takes from the incident record, never from a model or the thread."""
    return {
        "fingerprint": incident.fingerprint,
        "service": incident.service,
        "severity": classification.severity,
        "first_seen": incident.first_seen,
        "last_seen": incident.last_seen or incident.first_seen,
        "occurrences": max(1, int(incident.occurrences)),
        "incident_occurrences": max(1, int(incident.occurrences)),
        "template": bound_text(incident.template, MAX_PARAGRAPH),
        "exception": incident.exception,
        "resolved_by": clean(resolved_by, 200),
        "language": language,
        "incidents": [incident.incident_id],
        "accounts": [clean(incident.where(), 200)] if incident.where() else [],
        "related_incidents": [clean(incident.related(), 300)] if incident.related() else [],
    }


def _union(first: Sequence[str], second: Sequence[str], max_items: int) -> list[str]:
    return clean_list(list(first) + list(second), max_items=max_items)


def _min_iso(a: str, b: str) -> str:
    return min((x for x in (a, b) if x), default="")


def _max_iso(a: str, b: str) -> str:
    return max((x for x in (a, b) if x), default="")


def _last_seen_labels() -> set[str]:
    return {_dedupe_key(words["last_seen"]) for words in _LABELS.values()}


def merge_timeline(first: Sequence[TimelineEntry], second: Sequence[TimelineEntry]) -> list[TimelineEntry]:
    """Both timelines, chronological, each event once; the most recent MAX_TIMELINE entries kept.

    Exact repeats (same time, same text) are dropped, and "Error last seen" is a fact about the
    fingerprint, not an event of each run: only the latest one stays. Entries without a time go last.
    """
    seen: set[tuple[str, str]] = set()
    merged: list[TimelineEntry] = []
    last_seen = _last_seen_labels()
    latest_last_seen = max((e.at for e in [*first, *second] if _dedupe_key(e.text) in last_seen and e.at),
                           default="")
    for entry in list(first) + list(second):
        key = (entry.at, _dedupe_key(entry.text))
        if key[1] in last_seen and entry.at != latest_last_seen:
            continue
        if entry.text and key not in seen:
            seen.add(key)
            merged.append(entry)
    merged.sort(key=lambda e: (not e.at, e.at or ""))  # stable: same-second entries keep their order
    return merged[-MAX_TIMELINE:]


def merge_reports(previous: Report | None, current: Report) -> Report:
    """Fold this occurrence's report into the previous report of the same fingerprint.

    One report per fingerprint keeps the knowledge base from filling with near-duplicates: the next
    occurrence retrieves a single document with every resolution tried so far. The title stays stable
    (it names the Confluence page); lists are unions without repeats; dates widen; counts add; narrative
    fields take this occurrence's text, falling back to the previous one when it is empty.
    """
    if previous is None or previous.fingerprint != current.fingerprint:
        return current
    incidents = list(dict.fromkeys([*previous.incidents, *current.incidents]))
    if len(incidents) > MAX_INCIDENTS:  # the first (when it began) and the most recent ones
        incidents = incidents[:1] + incidents[-(MAX_INCIDENTS - 1):]
    return Report(
        title=previous.title or current.title,
        fingerprint=current.fingerprint,
        service=current.service or previous.service,
        severity=current.severity or previous.severity,
        first_seen=_min_iso(previous.first_seen, current.first_seen),
        last_seen=_max_iso(previous.last_seen, current.last_seen),
        occurrences=previous.occurrences + current.occurrences,
        incident_occurrences=current.incident_occurrences or current.occurrences,
        symptoms=current.symptoms or previous.symptoms,
        impact=current.impact or previous.impact,
        root_cause=current.root_cause or previous.root_cause,
        resolution=_union(previous.resolution, current.resolution, MAX_ITEMS),
        prevention=_union(previous.prevention, current.prevention, MAX_ITEMS),
        timeline=merge_timeline(previous.timeline, current.timeline),
        links=list(dict.fromkeys([*previous.links, *current.links]))[:MAX_ITEMS],
        tags=[t for t in dict.fromkeys([*previous.tags, *current.tags]) if t][:MAX_TAGS],
        incidents=incidents,
        template=current.template or previous.template,
        exception=current.exception or previous.exception,
        resolved_by=current.resolved_by or previous.resolved_by,
        accounts=list(dict.fromkeys([*previous.accounts, *current.accounts]))[:MAX_ITEMS],
        related_incidents=list(dict.fromkeys([*previous.related_incidents, *current.related_incidents]))[:MAX_ITEMS],
        language=current.language,
    )


# --- the extractive summarizer ---------------------------------------------------------------------------

# Cue → what the line is about. Matched case-insensitively anywhere in a message; a message can count for
# more than one section ("root cause was X, fixed by Y").
ROOT_CAUSE_CUES = ("root cause", "cause:", "caused by", "원인")
FIX_CUES = ("fixed by", "fix:", "resolved by", "mitigated by", "workaround", "조치", "해결")
PREVENTION_CUES = ("prevent", "action item", "follow-up", "follow up", "예방", "재발 방지")

_LABELS = {
    "en": {
        "symptoms": "{exception}{template} was logged {n} time(s) in this incident by {service} ({source}) "
                    "between {first} and {last}.",
        "impact": "{severity} severity: {n} occurrence(s) of this error in {service} in this incident.",
        "unknown_cause": "Not stated in the incident thread.",
        "from_analysis": "(from the automated analysis) ",
        "first_seen": "Error first seen",
        "last_seen": "Error last seen",
        "resolved": "Marked resolved by {who}",
    },
    "ko": {
        "symptoms": "이번 인시던트에서 {service}({source})에 {first}부터 {last}까지 {exception}{template} 오류가 "
                    "{n}회 기록되었습니다.",
        "impact": "심각도 {severity}: 이번 인시던트에서 {service}에 이 오류가 {n}회 발생했습니다.",
        "unknown_cause": "인시던트 스레드에 원인이 명시되지 않았습니다.",
        "from_analysis": "(자동 분석 결과) ",
        "first_seen": "오류 최초 발생",
        "last_seen": "오류 마지막 발생",
        "resolved": "{who} 님이 해결 처리",
    },
}


def labels(language: str) -> dict[str, str]:
    return _LABELS.get((language or "en").split("-")[0].lower(), _LABELS["en"])


# Slack bot ids (``B…``); people are ``U…``/``W…``. fetch_thread reports a bot post's author as its bot id.
_BOT_ID = re.compile(r"B[A-Z0-9]{6,}")

# What follows a cue before the statement: punctuation, or a Korean topic/subject particle ("원인은 …").
_CUE_TAIL = re.compile(r"^[\s:：\-—=>]*(?:(?:은|는|이|가|으로|로)\s+)?[\s:：\-—=>]*")


def _after_cue(text: str, cues: Sequence[str]) -> str:
    """The part of a message after its cue ("Root cause: pool too small" → "pool too small")."""
    lowered = text.casefold()
    for cue in cues:
        at = lowered.find(cue)
        if at >= 0:
            rest = _CUE_TAIL.sub("", text[at + len(cue):])
            if len(rest) >= 3:
                return rest
    return text


def _has_cue(text: str, cues: Sequence[str]) -> bool:
    lowered = text.casefold()
    return any(cue in lowered for cue in cues)


class ExtractiveSummarizer:
    """opsloop.ports.Summarizer without a model: the thread's own statements, the analysis for the gaps."""

    def __init__(self, language: str = "en") -> None:
        self.language = language or "en"

    def summarize(self, incident: Incident, classification: Classification, analysis: Analysis,
                  thread: list[ThreadMessage], resolved_by: str, previous: Report | None) -> Report:
        words = labels(self.language)
        messages = [(m, clean(m.text, MAX_PARAGRAPH)) for m in thread[:500]]
        messages = [(m, text) for m, text in messages if text]

        # Conclusions come from people: opsloop's own posts (the parent carries the analysis) are bots.
        human = [text for m, text in messages if not _BOT_ID.fullmatch(m.user or "")]
        causes = [_after_cue(text, ROOT_CAUSE_CUES) for text in human if _has_cue(text, ROOT_CAUSE_CUES)]
        fixes = [_after_cue(text, FIX_CUES) for text in human if _has_cue(text, FIX_CUES)]
        preventions = [_after_cue(text, PREVENTION_CUES) for text in human if _has_cue(text, PREVENTION_CUES)]

        if causes:
            root_cause = clean(causes[-1], MAX_PARAGRAPH)  # the latest statement is the settled one
        elif analysis.root_cause and analysis.grounded:
            root_cause = clean(words["from_analysis"] + analysis.root_cause, MAX_PARAGRAPH)
        else:
            root_cause = words["unknown_cause"]
        resolution = clean_list(fixes) or clean_list(words["from_analysis"] + s for s in analysis.fix_steps
                                                     if analysis.grounded)

        facts = report_facts(incident, classification, resolved_by, self.language)
        template = bound_text(incident.template or incident.message, 300)
        exception = short_exception(incident.exception)
        fmt = {
            "exception": f"{exception}: " if exception else "",
            "template": template,
            "n": facts["occurrences"],
            "service": incident.service or "?",
            "source": bound_text(incident.source, 200),
            "first": incident.first_seen or "?",
            "last": facts["last_seen"] or "?",
            "severity": classification.severity,
        }
        title_core = exception or classification.category
        # A trace's template starts with the full exception name: say it once, then what it says.
        what = incident.template
        if incident.exception and what.startswith(incident.exception):
            what = what[len(incident.exception):].lstrip(": ") or incident.exception
        title = clean(f"[{incident.service}] {title_core}: {bound_text(what, 120)}", MAX_TITLE)

        timeline = [TimelineEntry(at=incident.first_seen, text=words["first_seen"])] if incident.first_seen else []
        for message, text in messages:
            at = slack_ts_to_iso(message.ts)
            if at:
                timeline.append(TimelineEntry(at=at, text=clean(f"{message.user}: {text}", MAX_ITEM)))
        if incident.last_seen and incident.last_seen != incident.first_seen:
            timeline.append(TimelineEntry(at=incident.last_seen, text=words["last_seen"]))
        if resolved_by and messages:
            last_at = max((slack_ts_to_iso(m.ts) for m, _ in messages), default="")
            if last_at:
                timeline.append(TimelineEntry(at=last_at, text=clean(words["resolved"].format(who=resolved_by),
                                                                       MAX_ITEM)))

        current = Report(
            title=title,
            symptoms=clean(words["symptoms"].format(**fmt), MAX_PARAGRAPH),
            impact=clean(words["impact"].format(**fmt), MAX_PARAGRAPH),
            root_cause=root_cause,
            resolution=resolution,
            prevention=clean_list(preventions),
            timeline=merge_timeline([], timeline),
            links=[],
            tags=default_tags(incident, classification)[:MAX_TAGS],
            **facts,  # type: ignore[arg-type]
        )
        return merge_reports(previous, current)


__all__ = [
    "ExtractiveSummarizer", "bound_text", "clean", "cut_at_word", "clean_list", "default_tags", "merge_reports",
    "merge_timeline", "report_facts", "slack_to_plain", "slack_ts_to_iso", "tag_slug",
]
