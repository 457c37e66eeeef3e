"""The local retriever: ranking on a tiny corpus, the on-disk index, and the search CLI."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from opsloop.errors import InputError
from opsloop.ports import Retriever
from opsloop.retrieval import LocalRetriever, search_cli
from opsloop.retrieval.text import Analyzer, stem

DOCS = {
    "runbooks/rds-connection-exhaustion.md": """---
title: RDS connection pool exhaustion
service: rds
error_patterns:
  - "Too many connections"
  - "SQLTransientConnectionException"
tags: [database, connections, pool]
---
# RDS connection pool exhaustion
## Symptoms
Requests fail because the database refuses new connections.
## Likely causes
- Lambda concurrency times pool size exceeds max_connections.
## Fix
1. Put RDS Proxy in front of the database.
""",
    "runbooks/disk-full.md": """---
title: Disk full
service: ec2
error_patterns: ["No space left on device"]
tags: [disk, storage]
---
# Disk full
## Symptoms
Writes fail with no space left on device.
## Fix
1. Remove old logs.
""",
    "runbooks/lambda-timeout.md": """---
title: Lambda timeout
service: lambda
tags: [lambda, timeout]
---
# Lambda timeout
## Symptoms
The function runs until its configured timeout and is killed. Slow database connections, database
connections that hang, and database connections to a busy database are common: check database connections.
## Fix
1. Add client timeouts.
""",
    "runbooks/KubePodCrashLooping.md": """# KubePodCrashLooping
## Meaning
The container restarts again and again.
""",
    "runbooks/ko/disk-full-ko.md": """---
title: 디스크 가득 참
tags: [disk, 디스크]
---
# 디스크 가득 참
## 증상
디스크 용량이 가득 차서 파일 쓰기가 실패한다.
## 조치
1. 오래된 로그를 삭제한다.
""",
    "runbooks/ko/tls-ko.md": """---
title: TLS 인증서 만료
tags: [tls, 인증서]
---
# TLS 인증서 만료
## 증상
인증서가 만료되어 HTTPS 연결이 실패한다.
""",
}


@pytest.fixture()
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    for rel, text in DOCS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


@pytest.fixture()
def retriever(kb: Path, tmp_path: Path) -> LocalRetriever:
    return LocalRetriever([kb], index_dir=tmp_path / "index")


def test_implements_the_retriever_port(retriever: LocalRetriever) -> None:
    port: Retriever = retriever
    hits = port.search("too many connections", top_k=2)
    assert [h.doc_id for h in hits][0] == "runbooks/rds-connection-exhaustion"
    assert hits[0].title == "RDS connection pool exhaustion" and hits[0].path.endswith("rds-connection-exhaustion.md")
    assert hits[0].score > hits[1].score


def test_title_and_pattern_match_beats_many_body_mentions(retriever: LocalRetriever) -> None:
    # GIVEN the Lambda runbook says "database" five times in its body and the RDS runbook names it in its title
    # WHEN an error mentions database connections
    hits = retriever.search("database connections")
    # THEN the document about that problem ranks first
    assert hits[0].doc_id == "runbooks/rds-connection-exhaustion"


def test_camel_case_identifiers_match_words_both_ways(retriever: LocalRetriever) -> None:
    assert retriever.search("java.sql.SQLTransientConnectionException: pool timed out")[0].doc_id == \
        "runbooks/rds-connection-exhaustion"
    # the document's only name is an identifier; the alert text uses words
    assert retriever.search("pod is crash looping")[0].doc_id == "runbooks/KubePodCrashLooping"


def test_values_in_log_text_do_not_match_anything(retriever: LocalRetriever) -> None:
    assert retriever.search("10.0.3.17:5432 550e8400-e29b-41d4-a716-446655440000 3fa2b9c1d4e5f6a7 12345") == []


def test_korean_query_finds_korean_doc(retriever: LocalRetriever) -> None:
    # particles attached to the words ("디스크가", "인증서의") must not hide them
    assert retriever.search("디스크가 꽉 차서 저장 실패함")[0].doc_id == "runbooks/ko/disk-full-ko"
    assert retriever.search("인증서의 유효기간 만료됨")[0].doc_id == "runbooks/ko/tls-ko"


def test_get_returns_parsed_document_and_unknown_id_raises(retriever: LocalRetriever) -> None:
    doc = retriever.get("runbooks/disk-full")
    assert doc.sections["fix"] == "1. Remove old logs."
    with pytest.raises(KeyError):
        retriever.get("runbooks/nope")


def test_top_k_and_empty_query(retriever: LocalRetriever) -> None:
    assert len(retriever.search("disk", top_k=1)) == 1
    assert retriever.search("   ") == [] and retriever.search("disk", top_k=0) == []


def test_several_roots_keep_their_own_relative_ids(kb: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "incident-orders-abc.md").write_text(
        "---\ntitle: Orders quota storm\nkind: report\nfingerprint: abc\n---\n# Orders quota storm\n", encoding="utf-8")
    r = LocalRetriever([kb, reports], index_dir=tmp_path / "idx2")
    assert r.search("orders quota storm")[0].doc_id == "incident-orders-abc"
    assert [d.doc_id for d in r.find_by_fingerprint("abc")] == ["incident-orders-abc"]


def test_index_is_persisted_reused_and_rebuilt_on_change(kb: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    first = LocalRetriever([kb], index_dir=index_dir)
    first.refresh()
    assert first.status == "built" and (index_dir / "index.json").is_file()

    # unchanged files: a new process loads the index instead of re-reading every document
    second = LocalRetriever([kb], index_dir=index_dir)
    assert second.refresh() is False and second.status == "loaded"
    assert second.search("no space left")[0].doc_id == "runbooks/disk-full"

    # a changed file rebuilds, and the change is searchable
    p = kb / "runbooks" / "disk-full.md"
    p.write_text(p.read_text(encoding="utf-8") + "\nAlso seen as inode exhaustion.\n", encoding="utf-8")
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10_000_000))
    third = LocalRetriever([kb], index_dir=index_dir)
    assert third.refresh() is True and third.status == "built"
    assert third.search("inode exhaustion")[0].doc_id == "runbooks/disk-full"

    # an added file rebuilds too, and a running retriever picks it up on refresh
    (kb / "runbooks" / "dns.md").write_text("# DNS resolution failure\nNXDOMAIN\n", encoding="utf-8")
    assert third.refresh() is True
    assert third.search("NXDOMAIN")[0].doc_id == "runbooks/dns"
    assert LocalRetriever([kb], index_dir=index_dir).refresh() is False  # and the rebuilt index is reused


def test_corrupt_index_file_is_rebuilt(kb: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    LocalRetriever([kb], index_dir=index_dir).refresh()
    (index_dir / "index.json").write_text("{garbage", encoding="utf-8")
    r = LocalRetriever([kb], index_dir=index_dir)
    assert r.refresh() is True and r.search("disk")


def test_missing_knowledge_dir_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        LocalRetriever([tmp_path / "nope"], index_dir=tmp_path / "i").search("x")


def test_search_cli_prints_ranked_jsonl(kb: Path, tmp_path: Path) -> None:
    queries = io.StringIO('{"id": "q1", "text": "No space left on device"}\n\n{"id": 2, "text": "too many connections"}\n')
    out = io.StringIO()
    assert search_cli(kb, queries, out, 3, index_dir=tmp_path / "cli-index") == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["id"] for x in lines] == ["q1", 2]
    assert lines[0]["results"][0]["doc"] == "runbooks/disk-full"
    assert lines[1]["results"][0]["doc"] == "runbooks/rds-connection-exhaustion"
    scores = [r["score"] for r in lines[0]["results"]]
    assert len(scores) <= 3 and scores == sorted(scores, reverse=True)
    assert set(lines[0]["results"][0]) == {"doc", "score"}


@pytest.mark.parametrize("bad,match", [
    ("not json", "line 2: not valid JSON"),
    ('{"id": "x"}', "line 2: expected an object with a string 'text'"),
    ('{"text": "x"}', "line 2: expected an 'id'"),
])
def test_search_cli_rejects_a_bad_line_with_its_number_and_prints_nothing(
        kb: Path, tmp_path: Path, bad: str, match: str) -> None:
    out = io.StringIO()
    with pytest.raises(InputError, match=match):
        search_cli(kb, io.StringIO('{"id": 1, "text": "disk"}\n' + bad + "\n"), out, 5, index_dir=tmp_path / "i")
    assert out.getvalue() == ""


@pytest.mark.parametrize("a,b", [("filling", "fills"), ("failed", "failure"), ("configured", "configuration"),
                                 ("replicas", "replica"), ("readiness", "ready")])
def test_stemming_folds_forms_of_one_word(a: str, b: str) -> None:
    assert stem(a) == stem(b)


def test_analyzer_splits_identifiers_keeps_whole_and_marks_negation() -> None:
    toks = Analyzer().tokens("KubeNodeNotReady limits.memory unreachable")
    assert {"kube", "node", "not_readi", "kubenodenotready", "limit", "memori", "limitsmemory", "not_reach"} <= set(toks)
    assert Analyzer().tokens("is not ready") == Analyzer().tokens("isn't ready") == ["readi", "not_readi"]
