"""Incident pages in Confluence storage format: structure, escaping of untrusted text, bounds, titles, labels."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.confluence.storage import (
    fingerprint_label,
    page_title,
    render_report,
    report_labels,
    safe_url,
)
from opsloop.errors import InputError
from opsloop.models import Report, Source, TimelineEntry

AC = "{urn:ac}"
# The only elements and attributes the renderer itself writes.
OUR_TAGS = {"r", "h2", "p", "br", "em", "code", "ol", "ul", "li", "table", "tbody", "tr", "th", "td", "a",
            f"{AC}structured-macro", f"{AC}parameter", f"{AC}rich-text-body"}
OUR_ATTRS = {"href", f"{AC}name", f"{AC}schema-version"}
HOSTILE = '<b onmouseover=alert(1)>hi</b> & "quoted" \'single\' <ac:structured-macro ac:name="html"/> ]]> &amp;'


def parse(body: str) -> ET.Element:
    """Wrap the body the way a reviewer checks storage format: a root declaring ac:/ri:."""
    return ET.fromstring(f'<r xmlns:ac="urn:ac" xmlns:ri="urn:ri">{body}</r>')


def text_of(root: ET.Element) -> str:
    return "".join(root.itertext())


def make_report(**overrides: object) -> Report:
    base = Report(
        title="Orders API cannot get database connections",
        fingerprint="3fa2c1d09e1b4d2a8c7f",
        service="orders-api",
        severity="high",
        first_seen="2026-10-01T12:01:33Z",
        last_seen="2026-10-01T12:44:02Z",
        occurrences=42,
        symptoms="HikariPool-1 - Connection is not available.\n\nCheckout returns HTTP 500.",
        impact="About 3% of checkouts failed for 40 minutes.",
        root_cause="A deploy halved the pool size while traffic doubled.",
        resolution=["Rolled back the deploy", "Raised maximumPoolSize to 20"],
        prevention=["Alarm on pool wait time"],
        timeline=[TimelineEntry(at="12:01", text="first error"), TimelineEntry(at="12:44", text="resolved")],
        links=["https://grafana.example.com/d/orders?from=now-1h&to=now"],
        tags=["database", "Connection Pool"],
        incidents=["inc-20261001-0001", "inc-20261001-0002"],
        template="java.sql.SQLTransientConnectionException: HikariPool-<*> - Connection is not available",
        exception="java.sql.SQLTransientConnectionException",
        resolved_by="U024BE7LH",
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def test_page_has_info_panel_then_sections_in_order() -> None:
    # GIVEN a complete report  WHEN it is rendered
    body = render_report(make_report(), analysis_sources=[Source(doc_id="runbooks/rds-pool", title="RDS pool runbook",
                                                                 uri="https://wiki.example.com/x/1")])
    root = parse(body)
    # THEN it opens with an info macro carrying the incident's facts
    macro = root[0]
    assert macro.tag == f"{AC}structured-macro" and macro.get(f"{AC}name") == "info"
    facts = text_of(macro)
    for expected in ("3fa2c1d09e1b4d2a8c7f", "orders-api", "high", "42", "2026-10-01T12:01:33Z",
                     "2026-10-01T12:44:02Z", "inc-20261001-0001", "inc-20261001-0002"):
        assert expected in facts
    # AND the sections follow in the order a reader expects
    assert [h.text for h in root.iter("h2")] == ["Symptoms", "Impact", "Root cause", "Resolution", "Prevention",
                                                 "Timeline", "Links", "Sources", "Tags"]
    assert [li.text for li in root.find("ol")] == ["Rolled back the deploy", "Raised maximumPoolSize to 20"]
    rows = [[c.text for c in tr] for tr in root.iter("tr") if tr.find("td") is not None and tr.find("td").text == "12:01"]
    assert rows == [["12:01", "first error"]]
    hrefs = [a.get("href") for a in root.iter("a")]
    assert "https://grafana.example.com/d/orders?from=now-1h&to=now" in hrefs
    assert "https://wiki.example.com/x/1" in hrefs
    assert "RDS pool runbook" in text_of(root)


def test_blank_lines_make_paragraphs_and_empty_sections_say_so() -> None:
    root = parse(render_report(make_report(impact="", resolution=[], timeline=[], links=[], tags=[])))
    paragraphs = [text_of(p) for p in root.iter("p")]
    assert "HikariPool-1 - Connection is not available." in paragraphs
    assert "Checkout returns HTTP 500." in paragraphs
    assert paragraphs.count("Not recorded.") >= 3  # impact, resolution, timeline


def test_hostile_text_everywhere_stays_text() -> None:
    # GIVEN log-derived text with markup, quotes, entities and a macro in every field
    report = make_report(
        title=HOSTILE, service=HOSTILE, severity=HOSTILE, symptoms=HOSTILE, impact=HOSTILE, root_cause=HOSTILE,
        resolution=[HOSTILE], prevention=[HOSTILE], timeline=[TimelineEntry(at=HOSTILE, text=HOSTILE)],
        tags=[HOSTILE], incidents=[HOSTILE], template=HOSTILE, exception=HOSTILE, resolved_by=HOSTILE,
        fingerprint=HOSTILE + "abc123",
    )
    body = render_report(report, analysis_sources=[Source(doc_id=HOSTILE, title=HOSTILE, uri=HOSTILE,
                                                          excerpt=HOSTILE, kind=HOSTILE)])
    # WHEN the page is parsed as XML THEN it is well-formed
    root = parse(body)
    # AND no element or attribute from the log became live markup
    assert {el.tag for el in root.iter()} <= OUR_TAGS
    assert not any(el.get("onmouseover") is not None for el in root.iter())
    macros = [el.get(f"{AC}name") for el in root.iter(f"{AC}structured-macro")]
    assert macros == ["info"]
    # AND the reader sees the original characters
    assert "<b onmouseover=alert(1)>hi</b>" in text_of(root)
    assert "&amp;" in text_of(root)  # a literal "&amp;" in the log is shown as typed
    assert "<b " not in body and "<ac:structured-macro ac:name=\"html\"" not in body


def test_control_characters_are_removed_and_page_still_parses() -> None:
    nasty = "a\x00b\x01c\x08d\x0be\x0cf\x1bg\x7fh\x85i\ud800j\ufffek\tl\nm"
    body = render_report(make_report(symptoms=nasty, resolution=[nasty], tags=[nasty]))
    root = parse(body)
    assert "abcdefghijk\tl" in text_of(root)  # tab survives; newline splits the line
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe]", body)


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:x",
    "//evil.example.com/x", "/relative/path", "https://ok.example.com/\" onclick=\"alert(1)",
    "https://ok.example.com/a b", "https://ok.example.com/\x00", "http:///no-host", "ftp://files.example.com/x",
])
def test_only_plain_http_links_become_hrefs(url: str) -> None:
    root = parse(render_report(make_report(links=[url])))
    hrefs = [a.get("href") for a in root.iter("a")]
    assert all(h is not None and h.startswith(("http://", "https://")) for h in hrefs)
    assert url not in hrefs
    assert safe_url(url) is None
    # the rejected link is still visible to the reader, as text
    visible = url.replace("\x00", "")
    assert visible.strip() in text_of(root)


def test_link_with_query_is_escaped_but_kept() -> None:
    body = render_report(make_report(links=["https://example.com/search?q=a&b=c"]))
    assert 'href="https://example.com/search?q=a&amp;b=c"' in body
    assert [a.get("href") for a in parse(body).iter("a")][0] == "https://example.com/search?q=a&b=c"


def test_sizes_are_bounded_whatever_the_summary_produced() -> None:
    # GIVEN a runaway report: megabyte fields and thousands of items
    big = "x" * 1_000_000
    report = make_report(symptoms=big, impact=big, root_cause=big, title=big, resolution=[big] * 5000,
                         prevention=[big] * 5000, timeline=[TimelineEntry(at=big, text=big)] * 5000,
                         links=["https://example.com/" + "a" * 5000] * 5000, tags=[big] * 5000,
                         incidents=[big] * 5000)
    body = render_report(report, analysis_sources=[Source(doc_id=big, title=big, excerpt=big)] * 5000)
    root = parse(body)
    # THEN the page stays small enough for Confluence and readable
    assert len(body.encode()) < 600_000
    assert len(root.find("ol")) == 50
    assert "\u2026" in text_of(root)  # cuts are marked


def test_page_title_is_deterministic_bounded_and_finds_the_same_page() -> None:
    report = make_report()
    title = page_title(report)
    assert title == "[opsloop] orders-api: Orders API cannot get database connections (fp 3fa2c1d0)"
    assert page_title(make_report(occurrences=99, symptoms="other")) == title  # a recurrence, same title
    assert page_title(make_report(fingerprint="99aa")) != title


@given(title=st.text(max_size=600), service=st.text(max_size=300), fp=st.text(alphabet="0123456789abcdef", min_size=1, max_size=64))
@settings(max_examples=150, deadline=None)
def test_page_title_never_exceeds_255_or_carries_rejected_characters(title: str, service: str, fp: str) -> None:
    result = page_title(make_report(title=title, service=service, fingerprint=fp))
    assert 0 < len(result) <= 255
    assert result.startswith("[opsloop] ") and result.endswith(f"(fp {fp[:8]})")
    user_part = result[len("[opsloop] "):-len(f" (fp {fp[:8]})")]
    assert not re.search(r"[<>{}\[\]|\\^~#;@/\"`\x00-\x1f\x7f-\x9f]", user_part.replace(": ", "", 1))
    assert result == result.strip() and "\n" not in result


def test_fingerprint_label_follows_confluence_label_rules() -> None:
    assert fingerprint_label("3fa2c1d09e1b4d2a8c7f") == "opsloop-fp-3fa2c1d09e1b"
    assert fingerprint_label("3FA2C1D09E1B4D2A") == "opsloop-fp-3fa2c1d09e1b"
    label = fingerprint_label("sha1: Ab Cd/Ef")
    assert re.fullmatch(r"[a-z0-9_\-]{1,255}", label)
    with pytest.raises(InputError):
        fingerprint_label("  ")


def test_report_labels_are_sanitised_and_unique() -> None:
    labels = report_labels(make_report(service="Orders API", severity="High", tags=["Database", "database", "a b;c", "", "!!!"]))
    assert labels[:5] == ["opsloop", "incident", "opsloop-fp-3fa2c1d09e1b", "orders-api", "high"]
    assert "database" in labels and "a-b-c" in labels
    assert len(labels) == len(set(labels))
    assert all(re.fullmatch(r"[a-z0-9_\-]{1,255}", label) for label in labels)


_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)


@given(symptoms=_TEXT, item=_TEXT, tag=_TEXT, link=_TEXT, at=_TEXT)
@settings(max_examples=200, deadline=None)
def test_any_text_renders_well_formed_with_only_our_markup(symptoms: str, item: str, tag: str, link: str, at: str) -> None:
    body = render_report(make_report(symptoms=symptoms, resolution=[item], prevention=[item], tags=[tag],
                                     links=[link], timeline=[TimelineEntry(at=at, text=item)], title=item),
                         analysis_sources=[Source(doc_id=item, title=tag, uri=link, excerpt=symptoms)])
    root = parse(body)
    assert {el.tag for el in root.iter()} <= OUR_TAGS
    assert {a for el in root.iter() for a in el.attrib} <= OUR_ATTRS
