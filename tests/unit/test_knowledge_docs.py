"""Front matter and section parsing of knowledge documents (runbooks and incident reports)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsloop.knowledge_docs import canonical_section, load_documents, parse_document
from opsloop.errors import InputError

RUNBOOK = """---
title: RDS connection pool exhaustion
service: rds
error_patterns:
  - "Too many connections"
  - 'SQLTransientConnectionException'
  - Connection is not available, request timed out
tags: [database, rds, "pool, hikari"]
severity: high        # optional
kind: runbook
---
# RDS connection pool exhaustion
## Symptoms
Requests fail with too many connections.
## Likely causes
- Lambda concurrency times pool size exceeds max_connections.
### Details
More detail.
## Diagnose
Check DatabaseConnections.
```
## not a heading inside code
```
## Fix
1. Put RDS Proxy in front.
2. Lower the pool size.
## Prevent
Alarm on DatabaseConnections.
## Appendix
Unrelated.
"""


def test_front_matter_scalars_quotes_inline_and_block_lists() -> None:
    doc = parse_document(RUNBOOK, "runbooks/rds")
    assert doc.title == "RDS connection pool exhaustion"
    assert doc.service == "rds"
    assert doc.error_patterns == ("Too many connections", "SQLTransientConnectionException",
                                  "Connection is not available, request timed out")
    assert doc.tags == ("database", "rds", "pool, hikari")
    assert doc.severity == "high"  # the trailing comment is not part of the value
    assert doc.kind == "runbook"


def test_sections_are_keyed_canonically_and_code_is_not_a_heading() -> None:
    doc = parse_document(RUNBOOK, "runbooks/rds")
    assert set(doc.sections) == {"symptoms", "causes", "diagnose", "fix", "prevent"}
    assert "More detail." in doc.sections["causes"]  # a sub-heading stays inside its section
    assert "## not a heading inside code" in doc.sections["diagnose"]
    assert doc.sections["fix"].startswith("1. Put RDS Proxy")
    assert "Unrelated" not in doc.sections["prevent"]
    assert "not a heading inside code" not in doc.headings


def test_korean_headings_map_to_canonical_keys() -> None:
    text = "---\ntitle: 디스크 가득 참\ntags: [disk, 디스크]\n---\n# 디스크\n## 증상\n쓰기 실패\n## 원인\n로그 로테이션 누락\n" \
           "## 진단\ndf -h\n## 조치 / 해결\n1. 로그 정리\n## 예방\n경보 설정\n"
    doc = parse_document(text, "runbooks/ko/disk")
    assert doc.title == "디스크 가득 참"
    assert doc.tags == ("disk", "디스크")
    assert doc.sections == {"symptoms": "쓰기 실패", "causes": "로그 로테이션 누락", "diagnose": "df -h",
                            "fix": "1. 로그 정리", "prevent": "경보 설정"}


@pytest.mark.parametrize("heading,key", [
    ("Root cause", "causes"), ("Resolution", "fix"), ("Timeline", "timeline"), ("Prevention", "prevent"),
    ("2. Mitigation", "fix"), ("조치 방법", "fix"), ("Root cause analysis", "causes"), ("Appendix", None),
])
def test_heading_synonyms(heading: str, key: str | None) -> None:
    assert canonical_section(heading) == key


def test_report_headings_and_escaped_quotes() -> None:
    text = ('---\ntitle: "Pool \\"exhausted\\" # again"\nkind: report\nfingerprint: 3fa2b9\n---\n'
            "# x\n## Symptoms\ns\n## Root cause\nA leak.\n## Resolution\n1. Fixed the leak.\n## Timeline\n- 10:00 seen\n")
    doc = parse_document(text, "reports/x")
    assert doc.title == 'Pool "exhausted" # again'
    assert doc.kind == "report" and doc.fingerprint == "3fa2b9"
    assert doc.sections["causes"] == "A leak."
    assert doc.sections["fix"] == "1. Fixed the leak."
    assert "timeline" in doc.sections


def test_no_front_matter_uses_first_heading_then_file_name() -> None:
    doc = parse_document("# Disk full\n\n## Fix\nClean up.\n", "runbooks/disk-full")
    assert doc.title == "Disk full" and doc.kind == "runbook" and doc.metadata == {}
    assert parse_document("just text", "runbooks/KubePodCrashLooping").title == "KubePodCrashLooping"


@pytest.mark.parametrize("front", [
    "title: [unclosed",
    "title: 'unterminated",
    "  indented: value",
    "no colon here",
    "- item without key",
    "title: a\ntitle: b",
    "owner: {team: x}",
])
def test_malformed_front_matter_names_the_file(front: str) -> None:
    with pytest.raises(InputError, match="broken.md"):
        parse_document(f"---\n{front}\n---\nbody\n", "broken", "runbooks/broken.md")


def test_unclosed_front_matter_is_an_error() -> None:
    with pytest.raises(InputError, match="not closed"):
        parse_document("---\ntitle: x\n# body\n", "x", "x.md")


def test_load_documents_reads_tree_metadata_sidecars_and_skips_root_readme(tmp_path: Path) -> None:
    (tmp_path / "runbooks" / "ko").mkdir(parents=True)
    (tmp_path / "README.md").write_text("# How to write runbooks\n", encoding="utf-8")
    (tmp_path / "runbooks" / "disk.md").write_text("---\ntitle: Disk full\n---\n# Disk\n", encoding="utf-8")
    (tmp_path / "runbooks" / "ko" / "disk-ko.md").write_text("# 디스크\n", encoding="utf-8")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "r1.md").write_text("# Report\n## Root cause\nx\n", encoding="utf-8")
    (tmp_path / "reports" / "r1.md.metadata.json").write_text(json.dumps({"metadataAttributes": {
        "kind": "report", "fingerprint": "abc123", "occurrences": 3,
        "service": {"value": {"type": "STRING", "stringValue": "orders"}}}}), encoding="utf-8")
    docs = {d.doc_id: d for d in load_documents(tmp_path)}
    assert sorted(docs) == ["reports/r1", "runbooks/disk", "runbooks/ko/disk-ko"]
    r1 = docs["reports/r1"]
    assert (r1.kind, r1.fingerprint, r1.service, r1.metadata["occurrences"]) == ("report", "abc123", "orders", 3)


def test_bad_metadata_sidecar_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n", encoding="utf-8")
    (tmp_path / "a.md.metadata.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="a.md.metadata.json"):
        load_documents(tmp_path)
