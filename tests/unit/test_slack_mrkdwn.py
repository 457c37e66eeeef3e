"""Untrusted text cannot ping the channel, forge a link or restyle a message once escaped for Slack."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.slack.mrkdwn import code_block, escape, escape_plain, link, user_mention

CONTROL_SEQUENCES = ["<!channel>", "<!here>", "<@U024BE7LH>", "<http://evil.example|click>", "<#C024BE7LR>",
                     "<!subteam^S123>", "<b onmouseover=alert(1)>hi</b>"]
ENTITY_OR_PLAIN_AMP = re.compile(r"&(?!(amp|lt|gt);)")


@pytest.mark.parametrize("hostile", CONTROL_SEQUENCES)
def test_control_sequences_are_shown_as_text_not_interpreted(hostile: str) -> None:
    # GIVEN a log line carrying a Slack control sequence WHEN escaped for mrkdwn
    out = escape(f"ERROR boom {hostile} end", 500)
    # THEN Slack gets no angle bracket that could open a mention, broadcast or link
    assert "<" not in out and ">" not in out
    assert "&lt;" in out and "&gt;" in out


def test_ampersand_is_escaped_so_pre_escaped_text_stays_literal() -> None:
    assert escape("a & b", 50) == "a &amp; b"
    # an attacker writing "&lt;!here&gt;" must see that text, not have Slack decode it into <!here>
    assert escape("&lt;!here&gt;", 50) == "&amp;lt;!here&amp;gt;"


@pytest.mark.parametrize("marked", ["*bold*", "_italic_", "~strike~", "`code`", "```block```", "＊wide＊"])
def test_formatting_markers_at_word_boundaries_are_neutralised(marked: str) -> None:
    out = escape(f"say {marked} now", 100)
    assert not any(c in out for c in "*_~`＊")
    assert "say " in out and " now" in out


def test_markers_inside_words_are_kept_because_slack_does_not_format_them() -> None:
    assert escape("call do_the_thing(2*3) in my_module", 100) == "call do_the_thing(2*3) in my_module"


def test_a_line_starting_with_gt_cannot_open_a_quote() -> None:
    out = escape("first\n> quoted?", 100)
    assert out == "first\n\u00ad&gt; quoted?"


def test_control_and_bidi_characters_are_removed_and_newlines_normalised() -> None:
    out = escape("a\x00b\x07c\x1b[31md\u202ee\ufeff\r\nf\rg\th", 100)
    assert out == "abc[31mde\nf\ng\th"


def test_long_text_is_bounded_with_an_ellipsis_and_no_half_entity() -> None:
    out = escape("<&>" * 400_000, 100)  # 1.2 MB
    assert len(out) <= 100
    assert out.endswith("…")
    assert not ENTITY_OR_PLAIN_AMP.search(out)


def test_text_that_fits_is_not_marked_as_cut() -> None:
    assert escape("short", 5) == "short"
    assert escape("", 10) == ""


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(min_value=1, max_value=300))
def test_any_text_escapes_to_bounded_inert_mrkdwn(text: str, max_len: int) -> None:
    out = escape(text, max_len)
    assert len(out) <= max_len
    assert "<" not in out and ">" not in out
    assert not ENTITY_OR_PLAIN_AMP.search(out)
    assert "`" not in out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", out)


def test_code_block_cannot_be_closed_from_inside_and_fits_with_its_fences() -> None:
    out = code_block("```<!here>``` *x*", 40)
    assert out.startswith("```") and out.endswith("```")
    inner = out[3:-3]
    assert "`" not in inner and "<" not in inner
    assert "*x*" in inner  # formatting is inert inside a block: kept as typed
    big = code_block("y" * 1_000_000, 3000)
    assert len(big) <= 3000 and big.endswith("…```")


def test_code_block_of_empty_text_is_still_a_valid_block() -> None:
    assert code_block("", 10) == "``` ```"


def test_plain_text_is_escaped_and_folded_to_one_line() -> None:
    out = escape_plain("Title <!here>\n\n  with   spaces", 150, single_line=True)
    assert out == "Title &lt;!here&gt; with spaces"
    assert len(escape_plain("z" * 500, 150, single_line=True)) == 150


def test_links_only_for_safe_https_urls() -> None:
    assert link("https://wiki.example.com/p?a=1&b=2", "Runbook *x*", 300) == \
        "<https://wiki.example.com/p?a=1&amp;b=2|Runbook ∗x∗>"
    for url in ["http://wiki.example.com/p", "javascript:alert(1)", "https://x.example/a|<!here>",
                "https://x.example/a>b", "file:///etc/passwd", "https://user:pw@x.example/", "s3://bucket/k"]:
        out = link(url, "Runbook", 300)
        assert out == "Runbook", url


def test_user_mentions_only_for_well_formed_user_ids() -> None:
    assert user_mention("U024BE7LH") == "<@U024BE7LH>"
    assert user_mention("U1>|<!here>") == "U1&gt;|&lt;!here&gt;"
    assert user_mention("alice") == "alice"
