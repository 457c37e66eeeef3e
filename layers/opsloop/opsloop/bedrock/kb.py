"""Grounded analysis without an agent: Knowledge Base ``Retrieve`` + ``Converse``.

Two retrievals, because the most useful document for a recurring error is its own past report: first one
filtered to the incident's fingerprint (metadata written next to every stored report), then one over
everything for runbooks and similar incidents; both leave out unconfirmed drafts (``kind`` = ``draft``).
opsloop does not call ``RetrieveAndGenerate``: generation is its own Converse call over these passages. The merged passages go to the model as numbered sources inside a
``<knowledge>`` block; the answer counts as grounded only if it cites passages it was actually given.

:func:`converse_json` is the one Converse call both this analyst and the report summarizer use: strict
JSON schema output when the model and the installed botocore support it, the same request without it
otherwise (the schema is also spelled out in the prompt and re-validated on our side either way).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..models import Analysis, Budget, Classification, Incident
from .agent import NOT_DRAFT, CitedSource, build_analysis, source_from_reference
from .errors import call, error_code, map_error
from .prompts import (
    ANALYSIS_JSON_SCHEMA,
    Passage,
    PromptParts,
    analysis_prompt_parts,
    estimate_tokens,
    parse_analysis_json,
)

logger = logging.getLogger(__name__)

ENGINE = "bedrock-kb"
DEFAULT_MAX_INPUT_TOKENS = 8000
DEFAULT_MAX_OUTPUT_TOKENS = 1024
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_NUMBER_OF_RESULTS = 5
MAX_QUERY_CHARS = 1000  # Retrieve's limit on retrievalQuery.text


# --- Converse ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConverseResult:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str
    structured: bool  # the strict-schema output mode was used


def _structured_unsupported(exc: Exception) -> bool:
    """True when a failure may mean "this model/SDK cannot do schema output" rather than a real error.

    Only some models accept ``outputConfig``, and AWS does not document the wording of the refusal, so any
    ValidationException on a schema request earns one retry without it; a request that is invalid for
    another reason fails the same way on the retry and is reported then.
    """
    from botocore.exceptions import ParamValidationError

    if isinstance(exc, ParamValidationError):
        return "outputConfig" in str(exc)  # botocore older than the structured-output release
    return error_code(exc) == "ValidationException"


def converse_json(client: Any, model_id: str, parts: PromptParts, *, max_output_tokens: int,
                  schema: Mapping[str, Any] | None = None, schema_name: str = "answer") -> ConverseResult:
    """One Converse call at temperature 0 that should answer a JSON object; errors mapped for Step Functions."""
    request: dict[str, Any] = {
        "modelId": model_id,
        "system": [{"text": parts.system}],
        "messages": [{"role": "user", "content": [{"text": parts.user}]}],
        "inferenceConfig": {"maxTokens": int(max_output_tokens), "temperature": 0},
    }
    structured = schema is not None
    if structured:
        request["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": json.dumps(schema), "name": schema_name}}}}
    try:
        response = client.converse(**request)
    except Exception as exc:  # noqa: BLE001 - mapped below
        if not (structured and _structured_unsupported(exc)):
            raise map_error(exc, "converse", model_id=model_id) from exc
        logger.info("structured output not available for this model; asking for JSON in the prompt only",
                    extra={"model_id": model_id})
        request.pop("outputConfig")
        structured = False
        response = call("converse", client.converse, model_id=model_id, **request)
    content = ((response.get("output") or {}).get("message") or {}).get("content") or []
    text = "".join(block.get("text", "") for block in content if isinstance(block, Mapping))
    usage = response.get("usage") or {}
    return ConverseResult(
        text=text,
        input_tokens=int(usage.get("inputTokens") or estimate_tokens(parts.system + parts.user)),
        output_tokens=int(usage.get("outputTokens") or estimate_tokens(text)),
        stop_reason=str(response.get("stopReason") or ""),
        structured=structured,
    )


# --- the analyst ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Retrieved:
    cited: CitedSource
    text: str


def _default_query_builder(incident: Incident) -> Any:
    from ..retrieval.query import build_query  # lazy: only this analyst needs it

    return build_query(incident)


class BedrockKbAnalyst:
    """opsloop.ports.Analyst backed by ``bedrock-agent-runtime.retrieve`` and ``bedrock-runtime.converse``."""

    def __init__(self, agent_runtime_client: Any, runtime_client: Any, knowledge_base_id: str, model_id: str, *,
                 language: str = "en", max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
                 max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                 number_of_results: int = DEFAULT_NUMBER_OF_RESULTS, knowledge_prefix: str = "",
                 reports_prefix: str = "reports/", structured_output: bool = True,
                 query_builder: Callable[[Incident], Any] | None = None) -> None:
        self.agent_runtime = agent_runtime_client
        self.runtime = runtime_client
        self.knowledge_base_id = knowledge_base_id
        self.model_id = model_id
        self.language = language or "en"
        self.max_input_tokens = int(max_input_tokens)
        self.max_output_tokens = int(max_output_tokens)
        self.timeout_seconds = float(timeout_seconds)
        self.number_of_results = max(1, min(100, int(number_of_results)))
        self.knowledge_prefix = knowledge_prefix
        self.reports_prefix = reports_prefix
        self.structured_output = structured_output
        self.query_builder = query_builder or _default_query_builder

    def analyze(self, incident: Incident, classification: Classification) -> Analysis:
        started = time.monotonic()
        query = self.query_builder(incident)
        text = (getattr(query, "text", "") or incident.template or incident.message or "error")[:MAX_QUERY_CHARS]
        fingerprint = getattr(query, "fingerprint", "") or incident.fingerprint
        retrieved = self.retrieve(text, fingerprint)
        passages = [Passage(doc_id=r.cited.source.doc_id, text=r.text, title=r.cited.source.title,
                            kind=r.cited.source.kind) for r in retrieved]
        parts = analysis_prompt_parts(incident, classification, self.language, self.max_input_tokens,
                                      max_output_tokens=self.max_output_tokens, passages=passages)
        result = converse_json(self.runtime, self.model_id, parts, max_output_tokens=self.max_output_tokens,
                               schema=ANALYSIS_JSON_SCHEMA if self.structured_output else None,
                               schema_name="incident_analysis")
        cited = [r.cited for r in retrieved]
        fields = parse_analysis_json(result.text, [c.source for c in cited])
        budget = Budget(max_input_tokens=self.max_input_tokens, max_output_tokens=self.max_output_tokens,
                        timeout_seconds=self.timeout_seconds, input_tokens=result.input_tokens,
                        output_tokens=result.output_tokens, elapsed_ms=int((time.monotonic() - started) * 1000))
        return build_analysis(fields, cited, incident, engine=ENGINE, language=self.language, budget=budget,
                              sources=list(fields.sources))

    def retrieve(self, text: str, fingerprint: str) -> list[Retrieved]:
        """Past reports of this fingerprint first, then the best general matches; each document once.

        Both searches leave out unconfirmed drafts (metadata ``kind`` = ``draft``): a draft is never an
        answer. A vector store without metadata filtering rejects filters; then the plain search is used and
        drafts are dropped from its results instead."""
        history: list[Retrieved] = []
        filtered = True
        if fingerprint:
            try:
                history = self._retrieve(text, {"andAll": [
                    {"equals": {"key": "fingerprint", "value": fingerprint}}, dict(NOT_DRAFT)]})
            except Exception as exc:  # noqa: BLE001 - decided below
                mapped = map_error(exc, "retrieve")
                if error_code(exc) != "ValidationException":
                    raise mapped from exc
                filtered = False
                logger.warning("fingerprint-filtered retrieve rejected; using the unfiltered search only",
                               extra={"error": str(mapped)})
        try:
            try:
                general = self._retrieve(text, dict(NOT_DRAFT) if filtered else None)
            except Exception as exc:  # noqa: BLE001 - decided below
                if not filtered or error_code(exc) != "ValidationException":
                    raise
                logger.warning("draft-filtered retrieve rejected; using the unfiltered search only")
                general = self._retrieve(text, None)
        except Exception as exc:  # noqa: BLE001 - mapped for Step Functions
            raise map_error(exc, "retrieve") from exc
        seen: set[str] = set()
        merged: list[Retrieved] = []
        for item in history + general:
            key = item.cited.source.doc_id
            if key not in seen:
                seen.add(key)
                merged.append(item)
        return merged

    def _retrieve(self, text: str, metadata_filter: Mapping[str, Any] | None) -> list[Retrieved]:
        vector: dict[str, Any] = {"numberOfResults": self.number_of_results}
        if metadata_filter is not None:
            vector["filter"] = dict(metadata_filter)
        response = self.agent_runtime.retrieve(
            knowledgeBaseId=self.knowledge_base_id, retrievalQuery={"text": text},
            retrievalConfiguration={"vectorSearchConfiguration": vector})
        out: list[Retrieved] = []
        for result in response.get("retrievalResults") or []:
            cited = source_from_reference(result, knowledge_prefix=self.knowledge_prefix,
                                          reports_prefix=self.reports_prefix, score=result.get("score") or 0.0)
            if cited is not None and cited.source.kind != "draft":
                out.append(Retrieved(cited=cited, text=str((result.get("content") or {}).get("text") or "")))
        return out


__all__ = ["BedrockKbAnalyst", "ConverseResult", "Retrieved", "converse_json"]
