"""The opsloop command: clear errors and exit status 2 for bad input, JSONL out for the tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsloop.cli import main

from .helpers import ROOT


@pytest.mark.parametrize("content, message", [
    (None, "event file not found"),
    ('{"foo": 1}', "not a CloudWatch Logs subscription event"),
    ("not json", "is not JSON"),
    ('{"awslogs": {"data": "!!!"}}', "intake rejected the event: InputError"),
])
def test_local_run_rejects_bad_events_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           content: str | None, message: str) -> None:
    event = tmp_path / "event.json"
    if content is not None:
        event.write_text(content)
    assert main(["local", "run", "--event", str(event), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_fingerprint_prints_one_json_object_per_input_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "lines.txt"
    src.write_text("ERROR timeout after 3000ms for req 81\nERROR timeout after 12ms for req 9\n\n")
    assert main(["fingerprint", str(src)]) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and rows[0]["fingerprint"] == rows[1]["fingerprint"]
    assert set(rows[0]) == {"fingerprint", "template"}


def test_search_ranks_the_runbook_for_a_log_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLOOP_INDEX_DIR", str(tmp_path / "index"))
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "a", "text": "OSError: [Errno 28] No space left on device: '/tmp/x'"}) + "\n")
    assert main(["search", "--knowledge", str(ROOT / "knowledge"), "--queries", str(q), "--top", "3"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["id"] == "a" and row["results"][0]["doc"] == "runbooks/disk-full"
    assert len(row["results"]) <= 3


def test_search_names_the_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLOOP_INDEX_DIR", str(tmp_path / "index"))
    q = tmp_path / "q.jsonl"
    q.write_text('{"id": "a", "text": "x"}\n{oops\n')
    assert main(["search", "--knowledge", str(ROOT / "knowledge"), "--queries", str(q)]) == 2
    assert "line 2" in capsys.readouterr().err
