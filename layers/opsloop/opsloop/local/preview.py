"""``preview.html``: what the offline run sent, shown the way people will see it.

Left, the Slack message as Slack lays it out (Block Kit header, sections with fields and accessories,
context, dividers, action buttons), as posted and as last updated, followed by its thread replies; right,
the Confluence page. Both are built from the very payloads that were sent: the out dir's
``slack/NNNN-<method>.json`` files (``chat.postMessage`` and ``chat.update``) and the latest
``confluence/pages/<id>.html`` storage body. Nothing of the content is rendered a second time from the
report: this module only lays out what the payloads say.

Everything in those payloads came from log lines and threads, so it is hostile text: Slack text is
HTML-escaped after its few mrkdwn marks (``*bold*``, ``_italic_``, `` `code` ``, fenced blocks, links)
are recognised; the Confluence body is re-emitted through an allowlist of elements (no attributes except
an http(s) ``href``), so the preview holds no markup, script or event handler from the log. People's
thread replies are redacted like everything opsloop stores, so a pasted secret does not reach the file. The page has
no scripts and no remote resources (a Content-Security-Policy says so to the browser too).
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..confluence.storage import safe_url

MAX_TEXT = 40_000  # Slack's own limit on a message's text; a recorded payload is never larger
_RECORD = re.compile(r"^(\d{4,})-([A-Za-z0-9_.]+)\.json$")

CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#1d1c1d}
header.top{padding:10px 20px;background:#1d1c1d;color:#fff;font-weight:600}
main{display:flex;gap:20px;padding:20px;align-items:flex-start}
section.pane{flex:1 1 0;min-width:0;background:#fff;border:1px solid #ddd;border-radius:8px;padding:16px}
h1.pane-title{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#616061;margin:0 0 12px}
.msg{display:flex;gap:8px;margin-bottom:12px}.avatar{width:36px;height:36px;border-radius:4px;background:#4a154b;
color:#fff;display:flex;align-items:center;justify-content:center;font-weight:700;flex:none}
.msg>div:last-child{min-width:0;flex:1}.who{font-weight:700}.bk-header{font-size:18px;font-weight:700;margin:4px 0}
.bk-section{margin:6px 0;white-space:pre-wrap;word-wrap:break-word}
.bk-fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px;margin:6px 0}
.bk-context{color:#616061;font-size:12px;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 12px}
.bk-divider{border:0;border-top:1px solid #ddd;margin:10px 0}.bk-actions{display:flex;gap:8px;margin:8px 0;flex-wrap:wrap}
.bk-button{border:1px solid #bbb;border-radius:4px;padding:4px 12px;background:#fff;font-weight:700;font-size:13px}
.bk-button.primary{background:#007a5a;border-color:#007a5a;color:#fff}.bk-button.danger{background:#e01e5a;border-color:#e01e5a;color:#fff}
pre{background:#f8f8f8;border:1px solid #e1e1e1;border-radius:4px;padding:6px;white-space:pre-wrap;word-wrap:break-word;margin:4px 0}
code{background:#f3f3f3;border-radius:3px;padding:0 3px;font-size:12px}.link{color:#1264a3}
.thread{border-left:3px solid #ddd;padding-left:10px;margin-top:14px}.thread-title{color:#616061;font-size:12px;margin-bottom:8px}
.conf h2{font-size:18px;border-bottom:1px solid #eee;padding-bottom:2px}.conf table{border-collapse:collapse;margin:6px 0}
.conf th,.conf td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.conf th{background:#f4f5f7}
.panel{border:1px solid #b3d4ff;background:#deebff;border-radius:4px;padding:8px 12px;margin:8px 0}
.panel-title{font-weight:700;margin-bottom:4px}.page-title{font-size:22px;font-weight:600;margin:0 0 8px}
.empty{color:#616061;font-style:italic}
"""


# --- Slack ---------------------------------------------------------------------------------------------

def _slack_entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_FENCE = re.compile(r"```(.*?)```", re.S)
_LINK = re.compile(r"<([^<>|\s]{1,2000})(?:\|([^<>]{0,500}))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]{1,2000}?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]{1,2000}?)(?<!\s)_(?![\w_])")
_CODE = re.compile(r"`([^`\n]{1,2000})`")


def _inline(text: str) -> str:
    """Slack mrkdwn outside code fences → escaped HTML with bold, italic, code and link spans."""
    out: list[str] = []
    last = 0
    for m in _LINK.finditer(text):
        out.append(_marks(_slack_entities(text[last:m.start()])))
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            out.append(f'<span class="link">@{html.escape(target[1:])}</span>')
        elif target.startswith("#"):
            out.append(f'<span class="link">#{html.escape(label or target[1:])}</span>')
        elif target.startswith("!"):
            out.append(f'<span class="link">@{html.escape(target[1:].split("^")[0])}</span>')
        else:
            url = _slack_entities(target)
            shown = html.escape(_slack_entities(label or target))
            href = safe_url(url)
            out.append(f'<a class="link" href="{html.escape(href)}" rel="noreferrer">{shown}</a>' if href
                       else f'<span class="link">{shown}</span>')
        last = m.end()
    out.append(_marks(_slack_entities(text[last:])))
    return "".join(out)


def _marks(plain: str) -> str:
    text = html.escape(plain, quote=True)
    text = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", text)
    text = _BOLD.sub(lambda m: f"<b>{m.group(1)}</b>", text)
    return _ITALIC.sub(lambda m: f"<i>{m.group(1)}</i>", text)


def mrkdwn(text: object, *, verbatim: bool = True) -> str:
    raw = str(text or "")[:MAX_TEXT]
    out: list[str] = []
    last = 0
    for m in _FENCE.finditer(raw):
        out.append(_inline(raw[last:m.start()]))
        out.append(f"<pre>{html.escape(_slack_entities(m.group(1).strip(chr(10))), quote=True)}</pre>")
        last = m.end()
    out.append(_inline(raw[last:]))
    return "".join(out)


# The shortcodes opsloop's messages use, shown as Slack shows them; any other stays as typed.
EMOJI = {"red_circle": "🔴", "large_orange_circle": "🟠", "large_yellow_circle": "🟡", "large_blue_circle": "🔵",
         "white_check_mark": "✅", "hourglass": "⌛", "hourglass_flowing_sand": "⏳", "warning": "⚠️",
         "rotating_light": "🚨", "x": "❌", "bell": "🔔", "mag": "🔍", "memo": "📝", "books": "📚"}
_SHORTCODE = re.compile(r":([a-z0-9_+-]{1,40}):")


def _emoji(rendered: str) -> str:
    return _SHORTCODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), rendered)


def as_typed(text: str) -> str:
    """A person's message as Slack stores it: ``& < >`` typed in the composer arrive as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(obj: Any) -> str:
    if not isinstance(obj, Mapping):
        return html.escape(str(obj or ""))
    if obj.get("type") == "mrkdwn":
        return _emoji(mrkdwn(obj.get("text")))
    return _emoji(html.escape(str(obj.get("text") or ""), quote=True))


def _element(el: Any) -> str:
    if not isinstance(el, Mapping):
        return ""
    kind = el.get("type")
    if kind == "button":
        style = el.get("style") if el.get("style") in ("primary", "danger") else ""
        return f'<span class="bk-button {style}" role="button">{_text(el.get("text"))}</span>'
    if kind == "image":
        return f'<span class="empty">[image: {html.escape(str(el.get("alt_text") or ""))}]</span>'
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{_text(el)}</span>"
    label = el.get("placeholder") or el.get("text") or {"text": kind or "element"}
    return f'<span class="bk-button">{_text(label)}</span>'


def render_blocks(blocks: Iterable[Any]) -> str:
    out: list[str] = []
    for b in blocks:
        if not isinstance(b, Mapping):
            continue
        kind = b.get("type")
        if kind == "header":
            out.append(f'<div class="bk-header">{_text(b.get("text"))}</div>')
        elif kind == "section":
            row = f'<div class="bk-section">{_text(b.get("text"))}</div>' if b.get("text") else ""
            if b.get("fields"):
                row += '<div class="bk-fields">' + "".join(f"<div>{_text(f)}</div>" for f in b["fields"]) + "</div>"
            if b.get("accessory"):
                row += f'<div class="bk-actions">{_element(b["accessory"])}</div>'
            out.append(row)
        elif kind == "context":
            out.append('<div class="bk-context">' + "".join(_element(e) for e in b.get("elements") or []) + "</div>")
        elif kind == "divider":
            out.append('<hr class="bk-divider">')
        elif kind == "actions":
            out.append('<div class="bk-actions">' + "".join(_element(e) for e in b.get("elements") or []) + "</div>")
        else:
            out.append(f'<div class="empty">[{html.escape(str(kind))} block]</div>')
    return "".join(out)


def _blocks(payload: Mapping[str, Any]) -> list[Any]:
    blocks = payload.get("blocks") or []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return []
    return blocks if isinstance(blocks, list) else []


def _message(who: str, payload: Mapping[str, Any]) -> str:
    blocks = _blocks(payload)
    body = render_blocks(blocks) if blocks else f'<div class="bk-section">{_emoji(mrkdwn(payload.get("text")))}</div>'
    initial = html.escape((who or "?")[:1].upper())
    return (f'<div class="msg"><div class="avatar">{initial}</div><div><div class="who">{html.escape(who)}</div>'
            f"{body}</div></div>")


def slack_records(out: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted((out / "slack").glob("*.json")):
        if not _RECORD.match(path.name):
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("payload"), dict):
            records.append(doc)
    return records


def render_slack(records: list[dict[str, Any]], replies: Iterable[Mapping[str, Any]] = ()) -> str:
    """The incident message (as last updated) and its thread, from the recorded Web API calls.

    ``replies`` are people's messages in the thread (they reach Slack from people, not as a call opsloop
    made): ``{"user", "text"}``, shown before opsloop's own replies, as they happened before Resolve. People
    paste tokens into threads: they are shown redacted, as opsloop itself reads them.
    """
    from ..redact import redact

    posts = [r["payload"] for r in records if r.get("method") == "chat.postMessage"]
    parent = next((p for p in posts if not p.get("thread_ts")), None)
    if parent is None:
        return '<p class="empty">No Slack message was sent.</p>'
    updates = [r["payload"] for r in records if r.get("method") == "chat.update"]
    top_level = [p for p in posts if not p.get("thread_ts")]
    # As posted (with its buttons), then as last updated (chat.update replaces it in Slack) when there is
    # one incident message; with several, the first as posted.
    parts = ['<div class="thread-title">As posted (chat.postMessage)</div>', _message("opsloop", parent)]
    if updates and len(top_level) == 1:
        parts += ['<div class="thread-title">As it reads now (last chat.update)</div>',
                  _message("opsloop", updates[-1])]
    thread = [_message(str(m.get("user") or "someone"), {"text": as_typed(redact(str(m.get("text") or "")).text)})
              for m in replies]
    thread += [_message("opsloop", p) for p in posts if p.get("thread_ts")]
    if thread:
        parts.append(f'<div class="thread"><div class="thread-title">{len(thread)} repl'
                     f'{"y" if len(thread) == 1 else "ies"}</div>{"".join(thread)}</div>')
    return "".join(parts)


# --- Confluence ---------------------------------------------------------------------------------------

_ALLOWED = {"h1", "h2", "h3", "h4", "p", "br", "table", "thead", "tbody", "tr", "th", "td", "ul", "ol", "li",
            "code", "pre", "em", "strong", "b", "i", "u", "a", "blockquote", "hr", "span", "div"}
_VOID = {"br", "hr"}
_MACRO = {"ac:structured-macro": "div", "ac:rich-text-body": "div", "ac:parameter": "div"}


class _Sanitizer(HTMLParser):
    """Storage format → HTML through an allowlist: known elements only, no attributes but a safe href."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.skip or tag in ("script", "style", "iframe", "object", "embed", "svg", "math"):
            self.skip += 1 if tag not in _VOID else 0
            return
        if tag in _MACRO:
            cls = {"ac:structured-macro": "panel", "ac:rich-text-body": "panel-body"}.get(tag)
            if tag == "ac:parameter":
                cls = "panel-title" if a.get("ac:name") == "title" else None
                if cls is None:
                    self.skip += 1
                    return
            self.out.append(f'<div class="{cls}">')
            self.stack.append("div")
            return
        if tag not in _ALLOWED:
            self.stack.append("")
            return
        if tag in _VOID:
            self.out.append(f"<{tag}>")
            return
        href = safe_url(a.get("href")) if tag == "a" else None
        self.out.append(f'<a class="link" href="{html.escape(href)}" rel="noreferrer">' if href
                        else ("<span>" if tag == "a" else f"<{tag}>"))
        self.stack.append("span" if tag == "a" and not href else tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skip and tag in _VOID:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag not in _VOID:
                self.skip -= 1
            return
        if tag in _VOID or not self.stack:
            return
        closing = self.stack.pop()
        if closing:
            self.out.append(f"</{closing}>")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(html.escape(data, quote=True))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.stack) if t)


def sanitize_storage(body: str) -> str:
    s = _Sanitizer()
    s.feed(body)
    return s.result()


def latest_page(out: Path) -> tuple[str, str] | None:
    pages = sorted((out / "confluence" / "pages").glob("*.html"), key=lambda p: (p.stat().st_mtime, p.name))
    if not pages:
        return None
    return pages[-1].stem, pages[-1].read_text(encoding="utf-8", errors="replace")


def render_confluence(page: tuple[str, str] | None, title: str = "") -> str:
    if page is None:
        return '<p class="empty">No Confluence page was published.</p>'
    page_id, body = page
    head = f'<div class="page-title">{html.escape(title)}</div>' if title else ""
    return (f'{head}<div class="empty">page {html.escape(page_id)}</div>'
            f'<div class="conf">{sanitize_storage(body)}</div>')


def build(out: Path, *, replies: Iterable[Mapping[str, Any]] = (), page_title: str = "") -> str:
    slack = render_slack(slack_records(out), replies)
    confluence = render_confluence(latest_page(out), page_title)
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<title>opsloop preview</title>"
        f"<style>{CSS}</style></head><body><header class=\"top\">opsloop preview: what was sent</header><main>"
        f'<section class="pane" id="slack"><h1 class="pane-title">Slack</h1>{slack}</section>'
        f'<section class="pane" id="confluence"><h1 class="pane-title">Confluence</h1>{confluence}</section>'
        "</main></body></html>\n"
    )


def write(out: Path, **kwargs: Any) -> Path:
    path = out / "preview.html"
    path.write_text(build(out, **kwargs), encoding="utf-8")
    return path


__all__ = ["build", "mrkdwn", "render_blocks", "sanitize_storage", "write"]
