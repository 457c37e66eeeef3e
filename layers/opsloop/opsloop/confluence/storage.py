"""Render an incident :class:`~opsloop.models.Report` as a Confluence storage-format (XHTML) page body.

Every string in a report comes, one way or another, from logs, Slack threads or a model that read them,
so all of it is treated as untrusted: characters XML 1.0 forbids are dropped, each field is cut to a
bound, and the rest is escaped for XML (``& < > " '``). The only markup in the output is the markup this
module writes, so ``<b onmouseover=...>`` in a log line reaches the page as visible text, never as an
element. The body is well-formed XML once wrapped in a root element that declares the ``ac:``/``ri:``
namespaces, which is what Confluence requires of storage format. Pure functions, standard library only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from ..errors import InputError
from ..models import Report, Source
from ..report import occurrence_counts

# Bounds. They keep one page far below Confluence's body limit, whatever a summary produced.
MAX_TITLE = 255
MAX_PARAGRAPH = 4000  # symptoms, impact, root cause
MAX_ITEM = 1000  # one resolution / prevention step, one timeline entry
MAX_ITEMS = 50  # steps per list, timeline rows
MAX_LINKS = 30
MAX_URL = 2000
MAX_TAGS = 30
MAX_TAG = 60
MAX_SOURCES = 20
MAX_EXCERPT = 500
MAX_SHORT = 200  # ids, service, severity, dates, titles

FP_LABEL_PREFIX = "opsloop-fp-"
FP_LABEL_HEX = 12  # "opsloop-fp-3fa2c1d09e1b"
FP_TITLE_HEX = 8  # "(fp 3fa2c1d0)"
ELLIPSIS = "\u2026"

# XML 1.0 Char production, minus the C1 controls and DEL that are legal but never meant in prose.
_ILLEGAL_XML = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n")
# Characters Confluence refuses or mangles in page titles, plus the ones that upset URLs and CQL.
_TITLE_REJECT = re.compile(r"[<>{}\[\]|\\^~#;@:/\"`]+")
_LABEL_REJECT = re.compile(r"[^a-z0-9_\-]+")

_SECTIONS = ("Symptoms", "Impact", "Root cause", "Resolution", "Prevention", "Timeline", "Links", "Sources", "Tags")


def clean_text(value: object, limit: int) -> str:
    """Return ``value`` as text without XML-illegal characters, cut to ``limit`` characters.

    Cutting happens after cleaning so the bound applies to what is shown; an ellipsis marks a cut. The
    raw text is pre-cut to a multiple of the bound so a megabyte log line costs no more than a short one.
    """
    raw = "" if value is None else str(value)
    text = _ILLEGAL_XML.sub("", raw[: limit * 2 + 64])
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return text


def esc(value: object, limit: int = MAX_SHORT) -> str:
    """Clean, bound and XML-escape one untrusted value for element text or a quoted attribute."""
    return html.escape(clean_text(value, limit), quote=True)


def _one_line(value: object, limit: int) -> str:
    """One line of text (newlines and runs of spaces collapse), cut to ``limit`` with an ellipsis."""
    text = _SPACES.sub(" ", clean_text(value, limit * 2).replace("\n", " ")).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + ELLIPSIS
    return text


def _paragraphs(value: object, limit: int = MAX_PARAGRAPH) -> str:
    """Blank lines separate paragraphs; single newlines become ``<br/>``. Empty text says so."""
    text = clean_text(value, limit).strip()
    if not text:
        return "<p><em>Not recorded.</em></p>"
    out = []
    for block in _BLANK_LINES.split(text):
        lines = [html.escape(line.strip(), quote=True) for line in block.split("\n") if line.strip()]
        if lines:
            out.append("<p>" + "<br/>".join(lines) + "</p>")
    return "".join(out)


def _list(tag: str, items: Iterable[object]) -> str:
    rendered = [f"<li>{esc(_one_line(i, MAX_ITEM), MAX_ITEM)}</li>" for i in list(items)[:MAX_ITEMS] if _one_line(i, MAX_ITEM)]
    if not rendered:
        return "<p><em>Not recorded.</em></p>"
    return f"<{tag}>" + "".join(rendered) + f"</{tag}>"


def safe_url(url: object) -> str | None:
    """Return ``url`` when it is a plain absolute http(s) URL, else None.

    Anything else (``javascript:``, ``data:``, relative paths, URLs with spaces, quotes or control
    characters) could run script or break out of the attribute, so it is shown as text instead.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_URL or _ILLEGAL_XML.search(url) or re.search(r"[\s\"'<>`\\]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _link(url: object, text: object | None = None) -> str:
    href = safe_url(url)
    label = esc(_one_line(text if text else url, MAX_ITEM), MAX_ITEM)
    if href is None:
        return label
    return f'<a href="{html.escape(href, quote=True)}">{label}</a>'


def _info_panel(report: Report) -> str:
    rows = [
        ("Fingerprint", f"<code>{esc(report.fingerprint)}</code>"),
        ("Service", esc(report.service)),
        *([("Account", esc(", ".join(report.accounts[:MAX_ITEMS]), MAX_ITEM))] if report.accounts else []),
        *([("Same error in", esc(", ".join(report.related_incidents[:MAX_ITEMS]), MAX_ITEM))]
          if report.related_incidents else []),
        ("Severity", esc(report.severity)),
        ("Occurrences", esc(occurrence_counts(report))),
        ("First seen", esc(report.first_seen)),
        ("Last seen", esc(report.last_seen)),
        ("Incidents", ", ".join(f"<code>{esc(i)}</code>" for i in report.incidents[:MAX_ITEMS]) or "&#8212;"),
    ]
    if report.exception:
        rows.append(("Exception", f"<code>{esc(report.exception, MAX_ITEM)}</code>"))
    if report.template:
        rows.append(("Log template", f"<code>{esc(_one_line(report.template, MAX_ITEM), MAX_ITEM)}</code>"))
    if report.resolved_by:
        rows.append(("Resolved by", esc(report.resolved_by)))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        '<ac:structured-macro ac:name="info" ac:schema-version="1">'
        '<ac:parameter ac:name="title">Incident summary</ac:parameter>'
        f"<ac:rich-text-body><table><tbody>{table}</tbody></table></ac:rich-text-body>"
        "</ac:structured-macro>"
    )


def _timeline(report: Report) -> str:
    rows = [
        f"<tr><td>{esc(_one_line(e.at, MAX_SHORT))}</td><td>{esc(_one_line(e.text, MAX_ITEM), MAX_ITEM)}</td></tr>"
        for e in report.timeline[:MAX_ITEMS]
    ]
    if not rows:
        return "<p><em>Not recorded.</em></p>"
    return "<table><tbody><tr><th>When (UTC)</th><th>What</th></tr>" + "".join(rows) + "</tbody></table>"


def _links(links: Sequence[str]) -> str:
    items = [f"<li>{_link(u)}</li>" for u in links[:MAX_LINKS] if _one_line(u, MAX_URL)]
    return "<ul>" + "".join(items) + "</ul>" if items else "<p><em>None.</em></p>"


def _sources(sources: Sequence[Source]) -> str:
    items = []
    for s in list(sources)[:MAX_SOURCES]:
        name = _one_line(s.title or s.doc_id, MAX_SHORT) or "untitled"
        cite = _link(s.uri, name) if safe_url(s.uri) else esc(name)
        extra = f" <em>({esc(_one_line(s.kind, 40))}: <code>{esc(_one_line(s.doc_id, MAX_SHORT))}</code>)</em>"
        excerpt = _one_line(s.excerpt, MAX_EXCERPT)
        quote = f"<br/><em>{esc(excerpt, MAX_EXCERPT)}</em>" if excerpt else ""
        items.append(f"<li>{cite}{extra}{quote}</li>")
    return "<ul>" + "".join(items) + "</ul>" if items else "<p><em>No sources were cited.</em></p>"


def _tags(tags: Sequence[str]) -> str:
    shown = [esc(_one_line(t, MAX_TAG), MAX_TAG) for t in tags[:MAX_TAGS] if _one_line(t, MAX_TAG)]
    return "<p>" + ", ".join(f"<code>{t}</code>" for t in shown) + "</p>" if shown else "<p><em>None.</em></p>"


def render_report(report: Report, *, analysis_sources: Sequence[Source] = ()) -> str:
    """Return the storage-format body of the incident page for ``report``.

    Sections, in order: an info panel (fingerprint, service, severity, occurrences, first/last seen,
    incident ids), then Symptoms, Impact, Root cause, Resolution (numbered), Prevention, Timeline (table),
    Links (only http/https become links), Sources (the analysis' citations) and Tags.
    """
    parts = [
        _info_panel(report),
        "<h2>Symptoms</h2>", _paragraphs(report.symptoms),
        "<h2>Impact</h2>", _paragraphs(report.impact),
        "<h2>Root cause</h2>", _paragraphs(report.root_cause),
        "<h2>Resolution</h2>", _list("ol", report.resolution),
        "<h2>Prevention</h2>", _list("ul", report.prevention),
        "<h2>Timeline</h2>", _timeline(report),
        "<h2>Links</h2>", _links(report.links),
        "<h2>Sources</h2>", _sources(analysis_sources),
        "<h2>Tags</h2>", _tags(report.tags),
    ]
    return "".join(parts)


def _fp_hex(fp: str, size: int) -> str:
    cleaned = _LABEL_REJECT.sub("", clean_text(fp, 500).strip().lower())
    if not cleaned:
        raise InputError("a report needs a fingerprint to be published")
    return cleaned[:size]


def fingerprint_label(fp: str) -> str:
    """The Confluence label that marks the page of fingerprint ``fp`` (how a recurrence finds its page).

    Confluence labels are lowercase, have no spaces and avoid punctuation; this keeps ``[a-z0-9_-]``.
    """
    return FP_LABEL_PREFIX + _fp_hex(fp, FP_LABEL_HEX)


def sanitize_label(text: object, limit: int = MAX_TAG) -> str:
    """Turn free text (a service name, a tag) into a valid label, or "" when nothing usable is left."""
    label = _LABEL_REJECT.sub("-", clean_text(text, 500).strip().lower()).strip("-_")
    return label[:limit].strip("-_")


def page_title(report: Report) -> str:
    """The page title: ``[opsloop] <service>: <headline> (fp <8 hex>)``, at most 255 characters.

    Deterministic for a report, and the fingerprint suffix keeps titles of different errors apart, so a
    title lookup finds the same page again. Characters Confluence or URLs dislike are replaced by spaces.
    """
    fp = _fp_hex(report.fingerprint, FP_TITLE_HEX)
    service = _TITLE_REJECT.sub(" ", _one_line(report.service, 80))
    service = _SPACES.sub(" ", service).strip() or "unknown-service"
    headline = report.title or report.exception or report.template or "incident"
    headline = _SPACES.sub(" ", _TITLE_REJECT.sub(" ", _one_line(headline, MAX_TITLE))).strip() or "incident"
    prefix, suffix = f"[opsloop] {service}: ", f" (fp {fp})"
    room = MAX_TITLE - len(prefix) - len(suffix)
    if len(headline) > room:
        headline = headline[: room - 1].rstrip() + ELLIPSIS
    return prefix + headline + suffix


def report_labels(report: Report) -> list[str]:
    """Labels for the page: opsloop, incident, the fingerprint label, service, severity, then tags."""
    wanted = ["opsloop", "incident", fingerprint_label(report.fingerprint),
              sanitize_label(report.service), sanitize_label(report.severity)]
    wanted += [sanitize_label(t) for t in report.tags[:MAX_TAGS]]
    seen: list[str] = []
    for label in wanted:
        if label and label not in seen:
            seen.append(label)
    return seen[: 5 + 15]


__all__ = [
    "clean_text", "esc", "fingerprint_label", "page_title", "render_report", "report_labels", "safe_url",
    "sanitize_label",
]
