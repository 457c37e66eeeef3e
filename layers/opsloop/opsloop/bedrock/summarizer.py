"""The resolved incident's report, written by a model from the Slack thread (Converse, strict JSON schema).

The model writes only the narrative (title, symptoms, impact, timeline, root cause, resolution, prevention,
tags). Everything that is a fact about the incident (fingerprint, service, severity, dates, counts, the
incident ids, template, exception, who resolved it, the language) is copied from the incident record, so a
hallucination cannot misfile a report under another fingerprint or change its history. What the model
leaves empty is filled by the extractive summarizer, so a terse or failed answer still yields a full report.
"""

from __future__ import annotations

import logging
from typing import Any

from ..models import Analysis, Classification, Incident, Report, ThreadMessage, TimelineEntry
from ..report_rules import (
    MAX_TAGS,
    ExtractiveSummarizer,
    default_tags,
    merge_reports,
    merge_timeline,
    report_facts,
)
from .kb import converse_json
from .prompts import REPORT_JSON_SCHEMA, parse_report_json, summary_prompt_parts

logger = logging.getLogger(__name__)

DEFAULT_MAX_INPUT_TOKENS = 12000
DEFAULT_MAX_OUTPUT_TOKENS = 2048
DEFAULT_TIMEOUT_SECONDS = 90.0


class BedrockSummarizer:
    """opsloop.ports.Summarizer backed by ``bedrock-runtime.converse``."""

    def __init__(self, runtime_client: Any, model_id: str, *, language: str = "en",
                 max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
                 max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, structured_output: bool = True) -> None:
        self.runtime = runtime_client
        self.model_id = model_id
        self.language = language or "en"
        self.max_input_tokens = int(max_input_tokens)
        self.max_output_tokens = int(max_output_tokens)
        self.timeout_seconds = float(timeout_seconds)
        self.structured_output = structured_output
        self.last_usage: tuple[int, int] = (0, 0)  # (input, output) tokens of the latest call, for metrics

    def summarize(self, incident: Incident, classification: Classification, analysis: Analysis,
                  thread: list[ThreadMessage], resolved_by: str, previous: Report | None) -> Report:
        parts = summary_prompt_parts(incident, analysis, thread, self.language, self.max_input_tokens,
                                     classification=classification, max_output_tokens=self.max_output_tokens)
        result = converse_json(self.runtime, self.model_id, parts, max_output_tokens=self.max_output_tokens,
                               schema=REPORT_JSON_SCHEMA if self.structured_output else None,
                               schema_name="incident_report")
        self.last_usage = (result.input_tokens, result.output_tokens)
        fields = parse_report_json(result.text)
        if not fields.parsed:
            logger.warning("report answer was not a JSON object; using the extractive report",
                           extra={"stop_reason": result.stop_reason, "output_tokens": result.output_tokens})
        # The extractive report is the floor: every field the model left empty comes from it.
        fallback = ExtractiveSummarizer(self.language).summarize(incident, classification, analysis, thread,
                                                                 resolved_by, None)
        facts = report_facts(incident, classification, resolved_by, self.language)
        timeline = [TimelineEntry(at=at, text=text) for at, text in fields.timeline]
        tags = list(dict.fromkeys([*default_tags(incident, classification), *fields.tags]))[:MAX_TAGS]
        current = Report(
            title=fields.title or fallback.title,
            symptoms=fields.symptoms or fallback.symptoms,
            impact=fields.impact or fallback.impact,
            root_cause=fields.root_cause or fallback.root_cause,
            resolution=fields.resolution or fallback.resolution,
            prevention=fields.prevention or fallback.prevention,
            timeline=merge_timeline([], timeline) if timeline else fallback.timeline,
            links=[],
            tags=tags,
            **facts,  # type: ignore[arg-type]
        )
        return merge_reports(previous, current)


__all__ = ["BedrockSummarizer"]
