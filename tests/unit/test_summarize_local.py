"""The offline report writer: what people wrote in the thread becomes the report; facts come from the incident."""

from __future__ import annotations

from opsloop.models import Analysis, Classification, Incident, Report, ThreadMessage, TimelineEntry
from opsloop.report_rules import ExtractiveSummarizer, merge_reports, slack_to_plain, slack_ts_to_iso

INCIDENT = Incident(
    incident_id="inc-7", fingerprint="fp-disk", service="ingest-worker", source="/aws/ecs/ingest",
    template="No space left on device: <*>", message="OSError: [Errno 28] No space left on device: '/tmp/x'",
    exception="OSError", first_seen="2024-05-02T09:00:00Z", last_seen="2024-05-02T09:40:00Z", occurrences=5,
)
CLASSIFICATION = Classification(category="disk", severity="high")
ANALYSIS = Analysis(summary="Disk full.", root_cause="Temp files are never cleaned.",
                    fix_steps=["Clean /tmp on start"], sources=[], grounded=True)


def msg(text: str, ts: str = "1714640400.000100", user: str = "U01") -> ThreadMessage:
    return ThreadMessage(user=user, text=text, ts=ts)


def summarize(thread, previous=None, language="en", analysis=ANALYSIS) -> Report:
    return ExtractiveSummarizer(language).summarize(INCIDENT, CLASSIFICATION, analysis, thread, "U02", previous)


def test_thread_statements_become_root_cause_resolution_and_prevention():
    report = summarize([
        msg("looking into it <!here>"),
        msg("Root cause: the batch job writes 2 GB of temp files and never deletes them", "1714640700.0"),
        msg("Fixed by adding a cleanup step to the job", "1714641000.0"),
        msg("Action item: alarm on free disk below 20%", "1714641300.0"),
    ])
    assert report.root_cause == "the batch job writes 2 GB of temp files and never deletes them"
    assert report.resolution == ["adding a cleanup step to the job"]
    assert report.prevention == ["alarm on free disk below 20%"]


def test_korean_cues_are_recognised():
    report = summarize([
        msg("원인은 배치 작업의 임시 파일 누적입니다"),
        msg("조치: 임시 파일 정리 단계 추가", "1714640700.0"),
        msg("재발 방지: 디스크 사용량 알람 추가", "1714641000.0"),
    ], language="ko")
    assert report.root_cause == "배치 작업의 임시 파일 누적입니다"
    assert report.resolution == ["임시 파일 정리 단계 추가"]
    assert report.prevention == ["디스크 사용량 알람 추가"]
    assert report.language == "ko"
    assert "회" in report.symptoms  # Korean wording for the generated sentences


def test_missing_pieces_come_from_a_grounded_analysis_and_are_marked():
    report = summarize([msg("on it")])
    assert report.root_cause == "(from the automated analysis) Temp files are never cleaned."
    assert report.resolution == ["(from the automated analysis) Clean /tmp on start"]


def test_ungrounded_analysis_is_not_presented_as_the_cause():
    report = summarize([msg("on it")], analysis=Analysis(summary="?", root_cause="guess", fix_steps=["guess"],
                                                         grounded=False))
    assert report.root_cause == "Not stated in the incident thread."
    assert report.resolution == []


def test_facts_timeline_and_tags_come_from_the_incident():
    report = summarize([msg("Root cause: temp files", "1714640700.5")])
    assert (report.fingerprint, report.service, report.severity, report.occurrences) == (
        "fp-disk", "ingest-worker", "high", 5)
    assert report.incidents == ["inc-7"] and report.resolved_by == "U02" and report.exception == "OSError"
    assert report.timeline[0] == TimelineEntry(at="2024-05-02T09:00:00Z", text="Error first seen")
    assert TimelineEntry(at="2024-05-02T09:05:00Z", text="U01: Root cause: temp files") in report.timeline
    assert [e.at for e in report.timeline] == sorted(e.at for e in report.timeline)
    assert report.tags == ["disk", "high", "ingest-worker", "oserror"]
    assert report.title.startswith("[ingest-worker] OSError")


def test_slack_markup_is_made_plain_and_fields_are_bounded():
    report = summarize([msg("Root cause: <!channel> see <https://wiki/x|the doc> by <@U123>" + " z" * 5000)])
    assert "<!channel>" not in report.root_cause and "@channel" in report.root_cause
    assert "the doc (https://wiki/x)" in report.root_cause
    assert len(report.root_cause) <= 2000
    assert all(len(e.text) <= 500 for e in report.timeline)


def test_merge_with_previous_adds_history_without_duplicates():
    previous = summarize([msg("Fixed by deleting temp files", "1714000000.0")])
    previous = Report(**{**previous.to_dict(), "incidents": ["inc-1"], "occurrences": 3,
                         "first_seen": "2024-04-20T00:00:00Z",
                         "timeline": [TimelineEntry(at="2024-04-20T00:00:00Z", text="Error first seen")]})
    report = summarize([msg("fixed by: deleting temp files"), msg("Fixed by resizing the volume", "1714641000.0")],
                       previous=previous)
    assert report.incidents == ["inc-1", "inc-7"]
    assert report.occurrences == 8
    assert report.first_seen == "2024-04-20T00:00:00Z"
    assert report.resolution == ["deleting temp files", "resizing the volume"]
    assert report.title == previous.title


def test_merge_ignores_a_report_of_another_fingerprint():
    current = summarize([msg("x")])
    other = Report(**{**current.to_dict(), "fingerprint": "fp-other", "incidents": ["inc-0"]})
    assert merge_reports(other, current) == current


def test_slack_helpers():
    assert slack_ts_to_iso("1714640400.000100") == "2024-05-02T09:00:00Z"
    assert slack_ts_to_iso("not-a-ts") == "not-a-ts"
    assert slack_to_plain("<#C1|ops> <!subteam^S1|@oncall> &lt;b&gt;") == "#ops @oncall <b>"


def test_bot_posts_are_not_taken_as_the_teams_conclusion():
    # GIVEN the thread parent is opsloop's own post carrying the automated analysis
    report = summarize([msg("Root cause: something the model guessed", user="B0123ABCD"),
                        msg("thanks, looking", "1714640700.0")])
    assert "guessed" not in report.root_cause
    assert report.root_cause.startswith("(from the automated analysis)")
    assert any("guessed" in e.text for e in report.timeline)  # still part of the story


def test_a_long_recurring_history_keeps_its_report_bounded() -> None:
    from dataclasses import replace as _replace

    from opsloop.report_rules import MAX_INCIDENTS, merge_reports

    base = summarize([msg("Root cause: temp files")])
    previous = _replace(base, incidents=[f"inc-{i}" for i in range(500)])
    merged = merge_reports(previous, _replace(base, incidents=["inc-new"]))
    assert len(merged.incidents) == MAX_INCIDENTS
    assert merged.incidents[0] == "inc-0" and merged.incidents[-1] == "inc-new"


def test_the_title_names_the_exception_once() -> None:
    from dataclasses import replace as _replace

    incident = _replace(INCIDENT, exception="java.sql.SQLTransientConnectionException",
                        template="java.sql.SQLTransientConnectionException: <*> - Connection is not available")
    report = ExtractiveSummarizer().summarize(incident, CLASSIFICATION, ANALYSIS, [], "U02", None)
    assert report.title == "[ingest-worker] SQLTransientConnectionException: <*> - Connection is not available"


def test_terminal_lines_are_cut_at_a_word_with_an_ellipsis() -> None:
    from opsloop.report_rules import cut_at_word

    text = "the reporting job runs against the writer instance and exhausts max_connections"
    cut = cut_at_word(text, 40)
    assert len(cut) <= 40 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] == " "  # the cut falls on a space
    assert cut_at_word(text, 200) == text
    assert cut_at_word("x" * 50, 10) == "x" * 9 + "…"


def test_a_merged_timeline_keeps_one_last_seen_and_orders_by_time() -> None:
    from opsloop.models import TimelineEntry
    from opsloop.report_rules import merge_timeline

    first = [TimelineEntry("2026-09-21T14:00:00Z", "Error first seen"), TimelineEntry("2026-09-21T14:05:00Z", "U1: hi"),
             TimelineEntry("2026-09-21T14:02:00Z", "Error last seen")]
    second = [TimelineEntry("2026-09-22T10:00:00Z", "Error first seen"), TimelineEntry("2026-09-22T10:03:00Z", "Error last seen"),
              TimelineEntry("2026-09-21T14:05:00Z", "U1: hi")]
    merged = merge_timeline(first, second)
    assert [(e.at, e.text) for e in merged] == [
        ("2026-09-21T14:00:00Z", "Error first seen"), ("2026-09-21T14:05:00Z", "U1: hi"),
        ("2026-09-22T10:00:00Z", "Error first seen"), ("2026-09-22T10:03:00Z", "Error last seen")]
