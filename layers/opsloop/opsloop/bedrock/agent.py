"""Grounded analysis through a Bedrock Agent that has the team's Knowledge Base attached.

The agent does the retrieval; we send the prompt (instructions first, the incident as quoted data) and read
the streamed answer. What makes the answer trustworthy is the agent's *citations*, not its prose: sources
come only from ``chunk.attribution.citations``, an answer without any is reported as ungrounded with text
that says no knowledge matched, and "answered from history" is set only when a cited past report carries
this incident's fingerprint in its metadata.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlparse

from ..errors import TransientError
from ..models import Analysis, Budget, Classification, Incident, Source
from ..report_rules import bound_text, clean_list
from .errors import call, map_error
from .prompts import AnalysisFields, analysis_prompt, estimate_tokens, parse_analysis_json

ENGINE = "bedrock-agent"
DEFAULT_MAX_INPUT_TOKENS = 4000  # the agent adds its own orchestration prompt and retrieved passages
DEFAULT_MAX_OUTPUT_TOKENS = 1024
DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_EXCERPT = 300
MAX_CITED = 10

_SESSION_DISALLOWED = re.compile(r"[^0-9a-zA-Z._:-]")


def session_id_for(incident_id: str) -> str:
    """The agent session for an incident: its id in the allowed alphabet ``[0-9a-zA-Z._:-]``, 2–100 chars.

    One session per incident lets later questions in the Slack thread reuse the conversation. An id that
    has to be shortened keeps a hash of the original, so two long ids never share a session.
    """
    session = _SESSION_DISALLOWED.sub("-", incident_id or "")
    if len(session) > 100:
        digest = hashlib.sha256((incident_id or "").encode()).hexdigest()[:12]
        session = f"{session[:87]}.{digest}"
    if len(session) < 2:
        session = f"{session}-incident"
    return session


# --- citations → sources -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CitedSource:
    """A source plus the metadata fingerprint that tells whether it is this incident's own history."""

    source: Source
    fingerprint: str = ""


def _metadata_str(metadata: Mapping[str, Any], key: str) -> str:
    value = metadata.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def doc_id_for_key(key: str, knowledge_prefix: str = "") -> str:
    """``knowledge/runbooks/rds-connection-exhaustion.md`` with prefix ``knowledge/`` →
    ``runbooks/rds-connection-exhaustion``: the same ids the local retriever uses for the same files."""
    key = unquote(key).lstrip("/")
    prefix = knowledge_prefix.strip("/")
    if prefix and key.startswith(prefix + "/"):
        key = key[len(prefix) + 1:]
    return key[:-3] if key.lower().endswith(".md") else key


def source_from_reference(reference: Mapping[str, Any], *, knowledge_prefix: str = "",
                          reports_prefix: str = "reports/", score: float = 0.0) -> CitedSource | None:
    """A Source from a Bedrock retrieved reference (an agent citation or a Retrieve result); None if it has
    no usable location."""
    location = reference.get("location") or {}
    metadata = reference.get("metadata") or {}
    metadata = metadata if isinstance(metadata, Mapping) else {}
    content = reference.get("content") or {}
    text = content.get("text", "") if isinstance(content, Mapping) else ""
    uri = ""
    doc_id = ""
    kind = "runbook"
    if isinstance(location, Mapping) and location.get("s3Location"):
        uri = str((location.get("s3Location") or {}).get("uri") or "")
        parsed = urlparse(uri)
        if parsed.scheme == "s3" and parsed.path.strip("/"):
            doc_id = doc_id_for_key(parsed.path, knowledge_prefix)
    elif isinstance(location, Mapping):
        for name in ("confluenceLocation", "webLocation", "sharePointLocation", "salesforceLocation"):
            url = (location.get(name) or {}).get("url") if isinstance(location.get(name), Mapping) else None
            if url:
                uri, doc_id, kind = str(url), str(url), "page"
                break
    if not doc_id:
        source_uri = _metadata_str(metadata, "x-amz-bedrock-kb-source-uri")
        if source_uri.startswith("s3://"):
            uri = source_uri
            doc_id = doc_id_for_key(urlparse(source_uri).path, knowledge_prefix)
    if not doc_id:
        return None
    declared = _metadata_str(metadata, "kind")  # stored reports carry kind=report in their KB metadata
    under_reports = bool(reports_prefix) and doc_id.startswith(reports_prefix.strip("/") + "/")
    if declared == "draft":
        kind = "draft"  # nobody confirmed it: never an answer (see not_drafts)
    elif kind != "page" and (declared == "report" or under_reports):
        kind = "report"
    title = _metadata_str(metadata, "title") or doc_id.rstrip("/").rsplit("/", 1)[-1]
    source = Source(doc_id=bound_text(doc_id, 300), title=bound_text(title, 200), uri=bound_text(uri, 1000),
                    excerpt=bound_text(text, MAX_EXCERPT), score=float(score or 0.0), kind=kind)
    return CitedSource(source=source, fingerprint=_metadata_str(metadata, "fingerprint"))


# Knowledge Base metadata filter: everything but unconfirmed drafts (reports/ and runbooks/ alike). Bedrock's
# notEquals also returns documents without the key, so runbooks without a ``kind`` attribute still match.
NOT_DRAFT: dict[str, Any] = {"notEquals": {"key": "kind", "value": "draft"}}


def not_drafts(cited: Iterable[CitedSource]) -> list[CitedSource]:
    """Drop drafts that reached us anyway (a vector store without metadata filtering, an agent whose
    knowledge base opsloop cannot name): a draft is never a source of an answer."""
    return [c for c in cited if c.source.kind != "draft"]


def dedupe_cited(cited: Iterable[CitedSource]) -> list[CitedSource]:
    """First occurrence of each document wins (its excerpt is the most relevant one)."""
    seen: set[str] = set()
    out: list[CitedSource] = []
    for item in cited:
        if item.source.doc_id not in seen:
            seen.add(item.source.doc_id)
            out.append(item)
    return out


# --- the answer when nothing matched --------------------------------------------------------------------

_NO_KNOWLEDGE = {
    "en": ("No runbook or past incident report in the knowledge base matched this error, so there is no "
           "grounded explanation yet.",
           "Unknown: nothing in the knowledge base explains this error yet.",
           ["Check recent deployments and configuration changes of {service}.",
            "Check the health and limits of the dependency named in the error.",
            "When resolved, write the root cause in this thread so the report teaches the next occurrence."]),
    "ko": ("지식 베이스에서 이 오류와 일치하는 런북이나 과거 인시던트 보고서를 찾지 못해, 근거 있는 설명이 아직 없습니다.",
           "알 수 없음: 지식 베이스에 이 오류를 설명하는 문서가 아직 없습니다.",
           ["{service}의 최근 배포와 설정 변경을 확인하세요.",
            "오류에 나온 의존 서비스의 상태와 한도를 확인하세요.",
            "해결되면 이 스레드에 원인을 적어 주세요. 보고서가 다음 발생 때 도움이 됩니다."]),
}


def ungrounded_fields(fields: AnalysisFields, language: str, service: str) -> AnalysisFields:
    """Replace an uncited answer's claims with a plain "no knowledge matched", keeping only its suggestions
    of what to check (clearly not a diagnosis)."""
    summary, root_cause, checks = _NO_KNOWLEDGE.get((language or "en").split("-")[0].lower(), _NO_KNOWLEDGE["en"])
    steps = fields.fix_steps or [c.format(service=service or "the service") for c in checks]
    return AnalysisFields(summary=summary, root_cause=root_cause, fix_steps=clean_list(steps), confidence="none",
                          sources=[], parsed=fields.parsed)


def build_analysis(fields: AnalysisFields, cited: list[CitedSource], incident: Incident, *, engine: str,
                   language: str, budget: Budget, sources: list[Source] | None = None) -> Analysis:
    """Assemble the Analysis; grounded only with at least one cited source and a confidence above none."""
    chosen = sources if sources is not None else [c.source for c in cited]
    grounded = bool(chosen) and fields.confidence != "none"
    if not grounded:
        fields = ungrounded_fields(fields, language, incident.service)
        chosen = []
    chosen_ids = {s.doc_id for s in chosen}
    from_history = any(c.source.kind == "report" and c.fingerprint and c.fingerprint == incident.fingerprint
                       and c.source.doc_id in chosen_ids for c in cited)
    return Analysis(summary=fields.summary, root_cause=fields.root_cause, fix_steps=list(fields.fix_steps),
                    confidence=fields.confidence, sources=chosen[:MAX_CITED], answered_from_history=from_history,
                    grounded=grounded, engine=engine, budget=budget)


# --- the agent -----------------------------------------------------------------------------------------

class BedrockAgentAnalyst:
    """opsloop.ports.Analyst backed by ``bedrock-agent-runtime.invoke_agent``."""

    def __init__(self, client: Any, agent_id: str, agent_alias_id: str, *, language: str = "en",
                 max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
                 max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                 knowledge_prefix: str = "", reports_prefix: str = "reports/",
                 knowledge_base_id: str = "") -> None:
        self.client = client
        # With the agent's knowledge base id, its retrieval is filtered (sessionState) so drafts are never
        # retrieved; without it, drafts the agent cites are dropped from the sources.
        self.knowledge_base_id = knowledge_base_id
        self.agent_id = agent_id
        self.agent_alias_id = agent_alias_id
        self.language = language or "en"
        self.max_input_tokens = int(max_input_tokens)
        self.max_output_tokens = int(max_output_tokens)
        self.timeout_seconds = float(timeout_seconds)
        self.knowledge_prefix = knowledge_prefix
        self.reports_prefix = reports_prefix

    def analyze(self, incident: Incident, classification: Classification) -> Analysis:
        from ..retrieval.query import build_query  # lazy: only this analyst needs it

        # The agent runs its own knowledge base search; give it the query the Retrieve path sends.
        prompt = analysis_prompt(incident, classification, self.language, self.max_input_tokens,
                                 max_output_tokens=self.max_output_tokens,
                                 search_query=build_query(incident).text)
        started = time.monotonic()
        request: dict[str, Any] = {"agentId": self.agent_id, "agentAliasId": self.agent_alias_id,
                                   "sessionId": session_id_for(incident.incident_id), "inputText": prompt,
                                   "enableTrace": False}
        if self.knowledge_base_id:
            request["sessionState"] = {"knowledgeBaseConfigurations": [{
                "knowledgeBaseId": self.knowledge_base_id,
                "retrievalConfiguration": {"vectorSearchConfiguration": {"filter": dict(NOT_DRAFT)}}}]}
        try:
            response = self.client.invoke_agent(**request)
        except Exception as exc:  # noqa: BLE001 - mapped below
            from .errors import error_code

            if "sessionState" not in request or error_code(exc) != "ValidationException":
                raise map_error(exc, "invoke_agent") from exc
            # An agent without that knowledge base (or a store without filtering) refuses the filter: ask
            # again without it; drafts it cites are still dropped below.
            request.pop("sessionState")
            response = call("invoke_agent", self.client.invoke_agent, **request)
        text, cited = self._read_completion(response.get("completion") or [], started)
        cited = not_drafts(dedupe_cited(cited))
        citations = [c.source for c in cited]
        fields = parse_analysis_json(text, citations)
        # The model's own list orders the sources; every citation the service attributed stays.
        ordered = list(fields.sources) + [s for s in citations if s not in fields.sources]
        budget = Budget(max_input_tokens=self.max_input_tokens, max_output_tokens=self.max_output_tokens,
                        timeout_seconds=self.timeout_seconds, input_tokens=estimate_tokens(prompt),
                        output_tokens=estimate_tokens(text), elapsed_ms=int((time.monotonic() - started) * 1000))
        return build_analysis(fields, cited, incident, engine=ENGINE, language=self.language, budget=budget,
                              sources=ordered)

    def _read_completion(self, stream: Iterable[Mapping[str, Any]], started: float) -> tuple[str, list[CitedSource]]:
        """Collect the streamed text and citations, within the time budget and an output size cap."""
        max_chars = self.max_output_tokens * 8  # generous: the cap guards memory, the prompt asks for less
        parts: list[str] = []
        size = 0
        cited: list[CitedSource] = []
        try:
            for event in stream:
                if time.monotonic() - started > self.timeout_seconds:
                    raise TransientError(f"bedrock invoke_agent: no complete answer within "
                                         f"{self.timeout_seconds:g} s")
                if not isinstance(event, Mapping):
                    continue
                _raise_stream_error(event)
                chunk = event.get("chunk")
                if not isinstance(chunk, Mapping):
                    continue  # trace, returnControl, files: not part of the answer
                data = chunk.get("bytes") or b""
                piece = data.decode("utf-8", errors="replace") if isinstance(data, (bytes, bytearray)) else str(data)
                if size < max_chars:
                    parts.append(piece[: max_chars - size])
                    size += len(piece)
                for citation in ((chunk.get("attribution") or {}).get("citations") or []):
                    for reference in (citation.get("retrievedReferences") or []):
                        item = source_from_reference(reference, knowledge_prefix=self.knowledge_prefix,
                                                     reports_prefix=self.reports_prefix)
                        if item is not None:
                            cited.append(item)
        except TransientError:
            _close(stream)
            raise
        except Exception as exc:  # noqa: BLE001 - EventStreamError and transport errors mid-stream
            _close(stream)
            raise map_error(exc, "invoke_agent") from exc
        return "".join(parts), cited


def _raise_stream_error(event: Mapping[str, Any]) -> None:
    """An exception delivered as a stream event (``{"throttlingException": {"message": …}}``)."""
    for key, value in event.items():
        if key.endswith("Exception"):
            from botocore.exceptions import ClientError

            message = value.get("message", "") if isinstance(value, Mapping) else ""
            raise ClientError({"Error": {"Code": key, "Message": str(message)}}, "InvokeAgent")


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


__all__ = ["NOT_DRAFT", "BedrockAgentAnalyst", "CitedSource", "build_analysis", "dedupe_cited", "doc_id_for_key",
           "not_drafts",
           "session_id_for", "source_from_reference", "ungrounded_fields"]
