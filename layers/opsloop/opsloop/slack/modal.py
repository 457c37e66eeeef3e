"""The Resolve confirmation modal: drafted root cause, fix and prevention, confirmed or edited by a person.

Clicking Resolve no longer resolves: it opens this modal (``views.open`` with the click's trigger id)
pre-filled with what opsloop drafted from the analysis and from the thread (the same cue rules the local
report writer uses). Only what the resolver submits becomes the report's root cause, fix and prevention,
each attributed: text left as drafted is "drafted from <source>, confirmed by <@user>", text typed or
edited is "written by <@user>".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

RESOLVE_CALLBACK_ID = "opsloop_resolve_confirm"
FIELDS = (("root_cause", "Root cause", False), ("resolution", "Fix (one step per line)", False),
          ("prevention", "Prevention (one item per line)", True))
INPUT_MAX = 3000  # plain_text_input max_length (Block Kit)
TITLE_MAX = 24  # modal title and button texts (Block Kit)


def _bounded(text: str, limit: int = INPUT_MAX) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def draft_from(analysis: Mapping[str, Any], thread: Sequence[Any]) -> dict[str, dict[str, str]]:
    """field → {"text", "source"}: the latest statement in the thread with its cue, else the analysis."""
    from ..report_rules import (FIX_CUES, MAX_PARAGRAPH, PREVENTION_CUES, ROOT_CAUSE_CUES, _BOT_ID, _after_cue,
                                   _has_cue, clean)

    human = [(str(m.user or ""), clean(m.text, MAX_PARAGRAPH)) for m in thread[:500]
             if not _BOT_ID.fullmatch(str(m.user or ""))]

    def latest(cues: Sequence[str]) -> tuple[list[str], str]:
        found = [(u, _after_cue(t, cues)) for u, t in human if t and _has_cue(t, cues)]
        return [t for _, t in found], (found[-1][0] if found else "")

    causes, cause_by = latest(ROOT_CAUSE_CUES)
    fixes, fix_by = latest(FIX_CUES)
    preventions, prevention_by = latest(PREVENTION_CUES)
    # Analysis text quotes log lines: made plain too, so no mention or link survives into the modal.
    steps = [clean(s, MAX_PARAGRAPH) for s in analysis.get("fix_steps") or []]
    return {
        "root_cause": {"text": _bounded(causes[-1]) if causes else _bounded(clean(analysis.get("root_cause") or "", MAX_PARAGRAPH)),
                       "source": f"<@{cause_by}>" if causes else "opsloop's analysis"},
        "resolution": {"text": _bounded("\n".join(fixes[-6:] if fixes else steps[:6])),
                       "source": f"<@{fix_by}>" if fixes else "opsloop's analysis"},
        "prevention": {"text": _bounded("\n".join(preventions[-6:])),
                       "source": f"<@{prevention_by}>" if preventions else ""},
    }


def resolve_view(incident_id: str, title: str, draft: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The modal (Block Kit view JSON) for ``views.open``; ``private_metadata`` carries the incident id."""
    from .mrkdwn import escape

    blocks: list[dict[str, Any]] = [{
        "type": "section", "block_id": "intro",
        "text": {"type": "mrkdwn", "text": escape(f"Confirm or correct what goes into the report of {title}. "
                                                  "Only what you submit is stored as the root cause, fix and "
                                                  "prevention.", 2900)}}]
    for name, label, optional in FIELDS:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": True,
                                   "max_length": INPUT_MAX}
        # Untrusted text in a form field: angle brackets become look-alikes, so no mention, link or tag is
        # ever sent to Slack (the person still reads the same words).
        initial = _bounded(str((draft.get(name) or {}).get("text") or "").replace("<", "‹").replace(">", "›"))
        if initial:
            element["initial_value"] = initial
        blocks.append({"type": "input", "block_id": name, "optional": optional,
                       "label": {"type": "plain_text", "text": label}, "element": element})
    return {"type": "modal", "callback_id": RESOLVE_CALLBACK_ID, "private_metadata": incident_id,
            "title": {"type": "plain_text", "text": "Resolve incident"},
            "submit": {"type": "plain_text", "text": "Confirm & resolve"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def confirmation(values: Mapping[str, str], draft: Mapping[str, Mapping[str, str]], user: str) -> dict[str, Any]:
    """What the resolver confirmed, with who wrote or confirmed each statement."""
    out: dict[str, Any] = {"by": user, "attribution": {}}
    for name, _, _ in FIELDS:
        text = _bounded(str(values.get(name) or ""))
        drafted = (draft.get(name) or {})
        if not text:
            continue
        shown = str(drafted.get("text") or "").replace("<", "‹").replace(">", "›")
        same = " ".join(text.split()) == " ".join(shown.split())
        out[name] = text
        out["attribution"][name] = (f"drafted from {drafted.get('source') or 'opsloop'}, confirmed by <@{user}>"
                                    if same else f"written by <@{user}>")
    return out


DISMISS_CALLBACK_ID = "opsloop_not_an_incident"


MUTE_DAYS_MIN, MUTE_DAYS_MAX = 1, 90


def dismiss_view(incident_id: str, days: int) -> dict[str, Any]:
    """"Not an incident": why, and for how many days this error stays muted (a whole number, 1 to 90: Slack's
    number input enforces it as the person types, and the submission is checked again on our side)."""
    return {"type": "modal", "callback_id": DISMISS_CALLBACK_ID, "private_metadata": incident_id,
            "title": {"type": "plain_text", "text": "Not an incident"},
            "submit": {"type": "plain_text", "text": "Mute"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [
                {"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why is this not an incident?"},
                 "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 500}},
                {"type": "input", "block_id": "days",
                 "label": {"type": "plain_text", "text": f"Mute this error for (days, {MUTE_DAYS_MIN} to {MUTE_DAYS_MAX})"},
                 "element": {"type": "number_input", "action_id": "value", "is_decimal_allowed": False,
                             "initial_value": str(days), "min_value": str(MUTE_DAYS_MIN),
                             "max_value": str(MUTE_DAYS_MAX)}},
            ]}


__all__ = ["DISMISS_CALLBACK_ID", "MUTE_DAYS_MAX", "MUTE_DAYS_MIN", "dismiss_view", "RESOLVE_CALLBACK_ID", "confirmation", "draft_from", "resolve_view"]
