"""`opsloop fingerprint`: one JSON object per input line, in input order, empty lines included."""

from __future__ import annotations

import io
import json

from opsloop.fingerprint import fingerprint, run_cli


def test_one_object_per_line_in_order_including_empty_lines() -> None:
    lines = ["payment 42 failed\n", "\n", "payment 7 failed\r\n", "disk full on /dev/sda1\n", ""]
    out = io.StringIO()
    assert run_cli(iter(lines), out) == 0
    rows = [json.loads(r) for r in out.getvalue().splitlines()]
    assert len(rows) == len(lines)
    assert all(set(r) == {"fingerprint", "template"} for r in rows)
    assert rows[0] == rows[2]  # same template, different values
    assert rows[0]["template"] == "payment <*> failed"
    assert rows[1] == rows[4] == {"fingerprint": fingerprint("").fingerprint, "template": ""}
    assert rows[3]["template"] == "disk full on <*>"


def test_output_is_valid_json_for_hostile_text() -> None:
    out = io.StringIO()
    run_cli(['quote " backslash \\ tab \t bell \x07 emoji 🔥 \udcff\n'], out)
    (row,) = [json.loads(r) for r in out.getvalue().splitlines()]
    assert "emoji 🔥" in row["template"]


def test_empty_input_prints_nothing() -> None:
    out = io.StringIO()
    assert run_cli([], out) == 0
    assert out.getvalue() == ""
