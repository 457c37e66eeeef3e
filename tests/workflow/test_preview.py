"""preview.html: the Slack message and the Confluence page as sent, safe to open, checked in a real browser."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from opsloop.local.runner import RunOptions, run
from tests.browser import VISIBLE_JS, Browser, chromium_path

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = [
    {"user": "U0DBA00001", "text": "<b onmouseover=alert(1)>pool</b> <script>alert(2)</script> <img src=x onerror=alert(3)>"},
    {"user": "U0DBA00001", "text": "Root cause: the reporting job <i>exhausts</i> max_connections."},
    {"user": "U0ONCALL01", "text": "Fix: moved the job to the replica. <a href=\"javascript:alert(4)\">click</a>"},
    {"user": "U0ONCALL01", "text": "I used key AKIAZ3MPLE7EXAMPLE2Q to check it"},
]
ALLOWED_ATTRS = {"class", "href", "rel", "role", "lang", "charset", "http-equiv", "content", "id"}


@pytest.fixture(scope="module")
def previewed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("preview")
    thread = work / "thread.json"
    thread.write_text(json.dumps(HOSTILE), encoding="utf-8")
    out = work / "out"
    result = run(RunOptions(out=out, thread=thread, event=ROOT / "events" / "cloudwatch_logs_subscription.json"),
                 say=lambda _: None)
    assert result.status == "SUCCEEDED"
    execution = json.loads((out / "execution.json").read_text(encoding="utf-8"))
    return {"out": out, "execution": execution, "html": (out / "preview.html").read_text(encoding="utf-8")}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.extend(attrs)


def test_preview_shows_both_payloads_and_holds_no_markup_or_secret_from_them(previewed: dict) -> None:
    page, out = previewed["html"], previewed["out"]
    parsed = _Tags()
    parsed.feed(page)
    assert not parsed.tags & {"script", "img", "iframe", "object", "embed", "svg", "form", "input", "link"}
    assert {name for name, _ in parsed.attrs} <= ALLOWED_ATTRS  # no onmouseover/onerror/src from the log
    assert all(v.startswith(("http://", "https://")) for k, v in parsed.attrs if k == "href")
    assert "&lt;b onmouseover=alert(1)&gt;pool&lt;/b&gt;" in page  # shown as the text people wrote
    assert "javascript:" not in [v for k, v in parsed.attrs if k == "href"]
    analysis = previewed["execution"]["analysis"]
    assert analysis["root_cause"].split()[0] in page
    # The Confluence side is the stored page's own text, section by section.
    [stored] = sorted((out / "confluence" / "pages").glob("*.html"))
    for heading in ("Symptoms", "Root cause", "Resolution", "Timeline", "Sources"):
        assert f"<h2>{heading}</h2>" in stored.read_text(encoding="utf-8") and f"<h2>{heading}</h2>" in page
    # The run's credentials never reach a recorded payload, so never the preview.
    assert "xoxb-" not in page and "Authorization" not in page and "Basic " not in page
    assert "AKIAZ3MPLE7EXAMPLE2Q" not in page and "I used key" in page  # a pasted key is redacted, the reply shown


@pytest.mark.skipif(chromium_path() is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_a_real_browser_shows_the_root_cause_sources_and_resolve_button(previewed: dict) -> None:
    out = previewed["out"]
    analysis = previewed["execution"]["analysis"]
    root_cause = " ".join(analysis["root_cause"].split()[:6])
    source = str(analysis["sources"][0]["title"] or analysis["sources"][0]["doc_id"])
    browser = Browser(chromium_path())  # type: ignore[arg-type]
    try:
        session = browser.open((out / "preview.html").as_uri())
        needles = [root_cause, source, "Resolve", "Timeline", "pool</b>"]
        seen = {n: (ok, where) for n, ok, where in browser.evaluate(session, VISIBLE_JS % json.dumps(needles))}
        shot = out / "preview.png"
        browser.screenshot(session, shot)
        buttons = browser.evaluate(session, "[...document.querySelectorAll('.bk-button')].filter(b => "
                                            "b.getBoundingClientRect().width > 0).map(b => b.textContent)")
        scripts = browser.evaluate(session, "document.scripts.length + document.images.length")
    finally:
        browser.close()
    assert seen[root_cause] == (True, "slack")
    assert seen[source] == (True, "slack") and seen["Timeline"] == (True, "confluence")
    assert seen["Resolve"] == (True, "slack") and "Resolve" in buttons
    assert seen["pool</b>"][0]  # the hostile markup is on screen as text, not applied
    assert scripts == 0
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
