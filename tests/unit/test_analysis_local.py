"""The extractive analyst: quotes the team's knowledge, cites it, prefers history, admits ignorance."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.analysis_local import GENERIC_STEPS, NO_MATCH, ExtractiveAnalyst, list_items, quote_causes
from opsloop.models import Classification, Incident
from opsloop.ports import Analyst
from opsloop.retrieval import LocalRetriever

RDS = """---
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
1. **Lambda concurrency** times pool size exceeds `max_connections`. See [the docs](https://example.com/x).
2. Connection leaks on exception paths.
3. Slow queries hold connections longer.
## Fix
1. Put RDS Proxy in front of the database.
2. Lower the pool size per container.
   Continue on a second line.
   - a nested hint
3. Step three.
4. Step four.
5. Step five.
6. Step six.
7. Step seven.
8. Step eight.
9. Step nine is one too many.
```
1. not a step (code)
```
"""
DISK = """---
title: Disk full
error_patterns: ["No space left on device"]
---
# Disk full
## Symptoms
Writes fail.
## Likely causes
Logs are not rotated. Temporary files pile up. A third sentence.
## Fix
- Remove old logs.
"""
REPORT = """---
title: "Orders API: connection pool exhausted after deploy"
kind: report
fingerprint: fp-orders-pool
service: orders-api
error_patterns:
  - "SQLTransientConnectionException"
---
# Orders API: connection pool exhausted after deploy
## Symptoms
Checkout failed.
## Root cause
The 2.3 release opened a second pool per container.
## Resolution
1. Rolled back to 2.2.
2. Removed the second pool.
"""


@pytest.fixture()
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    (root / "runbooks").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "runbooks" / "rds.md").write_text(RDS, encoding="utf-8")
    (root / "runbooks" / "disk.md").write_text(DISK, encoding="utf-8")
    (root / "reports" / "orders-pool.md").write_text(REPORT, encoding="utf-8")
    return root


def _analyst(kb: Path, tmp_path: Path) -> ExtractiveAnalyst:
    return ExtractiveAnalyst(LocalRetriever([kb], index_dir=tmp_path / "index"))


def _incident(fingerprint: str = "fp-new", **kw: object) -> Incident:
    base = dict(incident_id="inc-1", fingerprint=fingerprint, source="/aws/lambda/orders", service="orders-api",
                template="HikariPool-1 - Connection is not available, request timed out after <*>ms",
                message="HikariPool-1 - Connection is not available, request timed out after 30000ms",
                exception="java.sql.SQLTransientConnectionException")
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


CLS = Classification(category="database", severity="high")


def test_quotes_causes_and_fix_from_the_best_runbook_and_cites_it(kb: Path, tmp_path: Path) -> None:
    analyst: Analyst = _analyst(kb, tmp_path)
    a = analyst.analyze(_incident(service="payments-api", exception=None,
                                  template="ERROR 1040 (HY000): Too many connections (database refuses new connections)",
                                  message="ERROR 1040 (HY000): Too many connections"), CLS)
    assert a.engine == "local-extractive" and a.grounded and not a.answered_from_history
    assert a.sources[0].doc_id == "runbooks/rds" and a.sources[0].kind == "runbook"
    assert a.sources[0].title == "RDS connection pool exhaustion" and a.sources[0].excerpt
    assert a.root_cause.startswith("Lambda concurrency times pool size exceeds `max_connections`. See the docs.")
    assert "https://" not in a.root_cause and "**" not in a.root_cause
    assert a.fix_steps[0] == "Put RDS Proxy in front of the database."
    assert a.fix_steps[1] == "Lower the pool size per container. Continue on a second line."
    assert len(a.fix_steps) == 8 and "not a step" not in " ".join(a.fix_steps)
    assert a.confidence in ("high", "medium")
    assert "1040" not in a.root_cause  # log text is never presented as knowledge


def test_same_fingerprint_report_is_cited_first_and_marks_history(kb: Path, tmp_path: Path) -> None:
    a = _analyst(kb, tmp_path).analyze(_incident(fingerprint="fp-orders-pool"), CLS)
    assert a.answered_from_history is True and a.confidence == "high"
    assert a.sources[0].doc_id == "reports/orders-pool" and a.sources[0].kind == "report"
    assert a.root_cause == "The 2.3 release opened a second pool per container."
    assert a.fix_steps == ["Rolled back to 2.2.", "Removed the second pool."]
    assert "runbooks/rds" in [s.doc_id for s in a.sources]


def test_report_of_same_fingerprint_is_used_even_when_the_text_does_not_match(kb: Path, tmp_path: Path) -> None:
    a = _analyst(kb, tmp_path).analyze(_incident(fingerprint="fp-orders-pool", template="zzz qqq", message="zzz",
                                                 exception=None), CLS)
    assert a.answered_from_history and a.sources[0].doc_id == "reports/orders-pool"


def test_other_fingerprint_report_is_history_but_not_seen_before(kb: Path, tmp_path: Path) -> None:
    # GIVEN a past report of the same service and error, but another fingerprint (reworded recurrence)
    a = _analyst(kb, tmp_path).analyze(_incident(fingerprint="fp-other"), CLS)
    # THEN when that report ranks first the answer comes from history, as a *similar* incident, not "seen before"
    assert a.sources[0].kind == "report" and a.sources[0].doc_id.endswith("orders-pool")
    assert a.answered_from_history is True and a.summary.startswith("A similar past incident")
    assert a.confidence != "high"


def test_nothing_relevant_says_so_plainly(kb: Path, tmp_path: Path) -> None:
    inc = _incident(template="Widget frobnication failed: quux overflow in <*>", message="Widget frobnication failed",
                    exception="FrobnicationError", service="widgets")
    a = _analyst(kb, tmp_path).analyze(inc, Classification(category="unknown", severity="low"))
    assert a.grounded is False and a.confidence == "none" and a.sources == []
    assert a.summary == NO_MATCH and NO_MATCH in a.root_cause
    assert "frobnication" not in a.root_cause.lower()
    assert a.fix_steps == list(GENERIC_STEPS)
    assert any("deploy" in s for s in a.fix_steps) and any("log group" in s for s in a.fix_steps)


def test_causes_prose_is_bounded_by_sentences() -> None:
    assert quote_causes("One. Two. Three.", limit=9) == "One. Two."
    long = quote_causes("- " + "x" * 2000)
    assert len(long) <= 600 and long.endswith("…")


def test_list_items_prefers_top_level() -> None:
    assert list_items("- a\n  - a1\n- b\n") == ["a", "b"]
    assert list_items("- only\n  - child\n") == ["only", "child"]


def test_a_draft_report_nobody_confirmed_is_not_an_answer_from_history(kb: Path, tmp_path: Path) -> None:
    (kb / "reports" / "orders-pool.md").write_text(REPORT.replace("kind: report", "kind: draft"), encoding="utf-8")
    a = _analyst(kb, tmp_path).analyze(_incident(fingerprint="fp-orders-pool"), CLS)
    assert a.answered_from_history is False
    assert a.root_cause != "The 2.3 release opened a second pool per container."
    assert all(s.kind != "report" for s in a.sources)


def test_bedrock_citations_of_a_draft_report_are_not_marked_as_reports() -> None:
    from opsloop.bedrock.agent import source_from_reference

    def ref(kind: str) -> dict:
        return {"location": {"s3Location": {"uri": "s3://kb/reports/incident-orders-fp.md"}},
                "metadata": {"kind": kind, "fingerprint": "fp"}, "content": {"text": "x"}}

    assert source_from_reference(ref("report")).source.kind == "report"
    assert source_from_reference(ref("draft")).source.kind != "report", "a draft is never answered_from_history"
