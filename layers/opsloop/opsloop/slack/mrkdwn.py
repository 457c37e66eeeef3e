"""Make untrusted text safe for Slack: mrkdwn sections, plain_text objects, code blocks and links.

Everything opsloop shows in Slack comes, at least partly, from someone else: log lines, model output,
runbook titles, thread replies. Slack gives meaning to a few characters
(https://api.slack.com/reference/surfaces/formatting#escaping):

* ``&``, ``<`` and ``>`` open control sequences: ``<!here>``, ``<!channel>``, ``<@U024BE7LH>``,
  ``<http://evil|click>``. Slack asks for exactly these three to be HTML-escaped, and only these.
* ``*`` ``_`` ``~`` and backticks format text when they sit at a word boundary (``*bold*``); inside a word
  (``snake_case``) Slack leaves them alone. A ``>`` at the start of a line opens a quote.

Slack has no escape for the formatting characters, so at word boundaries they are replaced by look-alike
characters (the same choice jsx-slack makes), and a leading ``>`` gets an invisible soft hyphen in front.
Control and bidirectional-override characters are removed, and every function bounds its *output* length
(entities included) so the result always fits the Slack field it is meant for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

ELLIPSIS = "…"

# C0/C1 controls except tab and newline, bidi embeddings/overrides/isolates (text spoofing), lone surrogates
# (not encodable), the BOM and the interlinear annotation characters.
_UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_WHITESPACE_RUN = re.compile(r"\s+")

# Look-alikes for characters that make mrkdwn markup at word boundaries (fullwidth forms included: Slack
# formats those too).
_LOOKALIKE = {
    "*": "\u2217",  # ∗ asterisk operator
    "\uff0a": "\ufe61",  # ＊ → ﹡ small asterisk
    "_": "\u02cd",  # ˍ modifier letter low macron
    "\uff3f": "\u2e0f",  # ＿ → ⸏ paragraphos
    "~": "\u223c",  # ∼ tilde operator
    "\uff5e": "\u223c",
    "`": "\u02cb",  # ˋ modifier letter grave accent
    "\uff40": "\u02cb",
}
_ALWAYS_REPLACED = {"`", "\uff40"}  # a stray backtick can open a code span anywhere
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SOFT_HYPHEN = "\u00ad"

USER_ID = re.compile(r"^[UW][A-Z0-9]{1,31}$")
CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{1,31}$")
# What a Resolve button may carry: opsloop's own incident ids, nothing that could smuggle markup or a token.
INCIDENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def clean(text: object) -> str:
    """Return ``text`` as a str with newlines normalised and invisible/unsafe characters removed."""
    if text is None:
        return ""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE_CHARS.sub("", _NEWLINES.sub("\n", s))


def truncate(text: str, max_len: int) -> str:
    """Cut ``text`` to at most ``max_len`` characters, ending in "…" when something was cut."""
    if max_len <= 0:
        return ""
    if len(text) <= max_len:
        return text
    return text[: max_len - 1] + ELLIPSIS


def _join_bounded(pieces: Iterable[str], max_len: int) -> str:
    """Join escaped pieces without ever splitting one (an entity cut in half would show as garbage)."""
    items = list(pieces)
    if sum(len(p) for p in items) <= max_len:
        return "".join(items)
    out: list[str] = []
    used = 0
    budget = max_len - len(ELLIPSIS)
    for p in items:
        if used + len(p) > budget:
            break
        out.append(p)
        used += len(p)
    return "".join(out).rstrip() + ELLIPSIS


def _precut(s: str, max_len: int) -> str:
    # Each remaining input character yields at least one output character, so anything past max_len + 1
    # can never be shown: dropping it early keeps a 1 MB log line cheap.
    return s[: max_len + 1]


def escape(text: object, max_len: int) -> str:
    """Escape untrusted text for a mrkdwn field and bound it to ``max_len`` characters.

    ``&<>`` become entities (no mentions, broadcasts or links can be forged), formatting characters at word
    boundaries become look-alikes, a line-leading ``>`` cannot open a quote, controls are dropped.
    """
    if max_len <= 0:
        return ""
    s = _precut(clean(text), max_len)
    n = len(s)
    pieces: list[str] = []
    for i, ch in enumerate(s):
        if ch in _ENTITIES:
            piece = _ENTITIES[ch]
            if ch == ">" and (i == 0 or s[i - 1] == "\n"):
                piece = _SOFT_HYPHEN + piece
        elif ch in _LOOKALIKE:
            inside_word = 0 < i < n - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()
            piece = ch if inside_word and ch not in _ALWAYS_REPLACED else _LOOKALIKE[ch]
        else:
            piece = ch
        pieces.append(piece)
    return _join_bounded(pieces, max_len)


def escape_plain(text: object, max_len: int, *, single_line: bool = False) -> str:
    """Escape untrusted text for a ``plain_text`` object (headers, button labels, dialog titles).

    Slack does not format plain_text, but it still decodes entities there, so ``&<>`` are escaped like
    everywhere else. ``single_line`` folds all whitespace runs into one space (a header is one line).
    """
    if max_len <= 0:
        return ""
    s = clean(text)
    if single_line:
        s = _WHITESPACE_RUN.sub(" ", s[: 4 * max_len + 4]).strip()
    s = _precut(s, max_len)
    return _join_bounded((_ENTITIES.get(ch, ch) for ch in s), max_len)


def code_block(text: object, max_len: int) -> str:
    """Quote untrusted text as a preformatted block: the safest way to show a log line.

    Inside a block Slack does not apply ``*_~`` formatting, so only backticks (which could close the block)
    are replaced and ``&<>`` escaped. The fences count towards ``max_len``.
    """
    fence = "```"
    inner_max = max_len - 2 * len(fence)
    if inner_max <= 0:
        return ""
    s = _precut(clean(text).strip("\n"), inner_max)
    body = _join_bounded(
        (_ENTITIES.get(ch, _LOOKALIKE[ch] if ch in _ALWAYS_REPLACED else ch) for ch in s), inner_max
    )
    return f"{fence}{body or ' '}{fence}"


def is_safe_https_url(url: object, max_len: int = 2000) -> bool:
    """True for an absolute https URL that can sit inside ``<url|label>`` without breaking out of it."""
    if not isinstance(url, str) or not url or len(url) > max_len:
        return False
    if any(c in url for c in "<>|\"'` ") or clean(url) != url or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and parts.username is None and parts.password is None


def link(url: object, label: object, max_len: int) -> str:
    """A mrkdwn link ``<https://…|label>`` when ``url`` is a safe https URL, else just the escaped label.

    Only https links are rendered: a log or a model must not be able to make Slack show a clickable
    ``javascript:``, ``file:`` or plain-http target.
    """
    if not is_safe_https_url(url):
        return escape(label, max_len)
    target = str(url).replace("&", "&amp;")
    budget = max_len - len(target) - 3
    if budget < 8:
        return escape(label, max_len)
    text = escape(label, budget) or escape(target, budget)
    return f"<{target}|{text}>"


def user_mention(user_id: object, max_len: int = 80) -> str:
    """``<@U…>`` for a well-formed Slack user id; anything else is shown as escaped text, never as a mention."""
    if isinstance(user_id, str) and USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape(user_id, max_len)


# Slack's control sequences, read back into plain words (slack_to_plain)
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]{1,2000})(?:\|([^>]{0,500}))?>")
_SLACK_USER = re.compile(r"<@([A-Z0-9]{2,30})(?:\|([^>]{0,100}))?>")
_SLACK_CHANNEL = re.compile(r"<#([A-Z0-9]{2,30})(?:\|([^>]{0,100}))?>")
_SLACK_SPECIAL = re.compile(r"<!(channel|here|everyone)(?:\|[^>]{0,100})?>")
_SLACK_SUBTEAM = re.compile(r"<!subteam\^([A-Z0-9]{2,30})(?:\|([^>]{0,100}))?>")
_SLACK_DATE = re.compile(r"<!date\^\d+\^[^|>]{0,200}\|([^>]{0,200})>")


def slack_to_plain(text: str) -> str:
    """Turn Slack mrkdwn control sequences into plain words, so a stored report never pings anyone when
    it is later shown in Slack again, and reads naturally in Confluence and the knowledge base."""
    text = _SLACK_SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _SLACK_SUBTEAM.sub(lambda m: "@" + (m.group(2) or m.group(1)).lstrip("@"), text)
    text = _SLACK_USER.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = _SLACK_CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SLACK_DATE.sub(lambda m: m.group(1), text)
    text = _SLACK_LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


__all__ = [
    "CHANNEL_ID", "ELLIPSIS", "INCIDENT_ID", "USER_ID", "clean", "code_block", "escape", "escape_plain",
    "is_safe_https_url", "link", "slack_to_plain", "truncate", "user_mention",
]
