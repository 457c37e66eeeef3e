"""Typed records that cross function boundaries (and so the state machine's JSON).

Every model is a frozen dataclass with ``to_dict`` / ``from_dict``. ``from_dict`` ignores unknown keys
(the state machine adds its own) and raises :class:`opsloop.errors.InputError` naming what is missing,
so a malformed event fails at the edge with a clear message instead of deep inside domain code.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import InputError

T = TypeVar("T", bound="Model")


class Model:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: Any) -> T:
        if not isinstance(data, dict):
            raise InputError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        missing = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data and data[f.name] is not None:
                kwargs[f.name] = _coerce(hints[f.name], data[f.name], f"{cls.__name__}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                missing.append(f.name)
        if missing:
            raise InputError(f"{cls.__name__}: missing required field(s): {', '.join(missing)}")
        return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        non_none = [a for a in args if a is not type(None)]
        return _coerce(non_none[0], value, where) if len(non_none) == 1 else value
    if isinstance(tp, type) and issubclass(tp, Model):
        return tp.from_dict(value)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise InputError(f"{where}: expected a list")
        return [_coerce(args[0], v, where) for v in value] if args else list(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InputError(f"{where}: expected an integer")
        try:
            return int(value)
        except ValueError as exc:
            raise InputError(f"{where}: expected an integer") from exc
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: expected a number") from exc
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise InputError(f"{where}: expected a string")
        return str(value)
    if tp is bool:
        return bool(value)
    return value


@dataclass(frozen=True)
class Incident(Model):
    """One open incident: what intake knows about an error (already redacted and bounded)."""

    incident_id: str
    fingerprint: str
    template: str
    message: str  # redacted, truncated sample of the first occurrence
    source: str  # log group, or alarm name
    service: str
    kind: str = "log"  # "log" | "alarm"
    level: str = "ERROR"
    exception: str | None = None
    frames: list[str] = field(default_factory=list)
    first_seen: str = ""  # ISO 8601 UTC
    last_seen: str = ""
    occurrences: int = 1
    previous_incident_id: str | None = None
    log_stream: str | None = None
    account: str | None = None
    region: str | None = None
    # The same error's incident opened shortly before in another account / region / log group.
    related_incident_id: str | None = None
    related_account: str | None = None
    related_region: str | None = None
    # An alarm's own words, redacted: its description (CloudWatch AlarmDescription); empty for log
    # incidents. The knowledge query uses it: an alarm's template is only its name.
    description: str = ""

    def where(self) -> str:
        """'<account id> (<region>)', or '' when the incident names neither."""
        if not (self.account or self.region):
            return ""
        return f"{self.account or 'unknown account'} ({self.region or 'unknown region'})"

    def related(self) -> str:
        """'<incident id> in <account> (<region>)' for the same error opened elsewhere, or ''."""
        if not self.related_incident_id:
            return ""
        where = " ".join(p for p in (self.related_account, f"({self.related_region})" if self.related_region else "") if p)
        return f"{self.related_incident_id} in {where}" if where else self.related_incident_id


@dataclass(frozen=True)
class Classification(Model):
    category: str  # database | timeout | memory | permission | network | tls | disk | throttling | code | availability | unknown
    severity: str  # critical | high | medium | low
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Source(Model):
    """A cited document: a runbook, a past incident report or a Confluence page."""

    doc_id: str  # path relative to the knowledge root without extension, e.g. "runbooks/rds-connection-exhaustion"
    title: str = ""
    uri: str = ""  # s3://…, https://… (Confluence), or a local path
    excerpt: str = ""
    score: float = 0.0
    kind: str = "runbook"  # runbook | report | page


@dataclass(frozen=True)
class Budget(Model):
    """What one model call was allowed and what it used; printed in the execution output."""

    max_input_tokens: int = 0
    max_output_tokens: int = 0
    timeout_seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    elapsed_ms: int = 0


@dataclass(frozen=True)
class Analysis(Model):
    summary: str
    root_cause: str
    fix_steps: list[str] = field(default_factory=list)
    confidence: str = "low"  # high | medium | low | none
    sources: list[Source] = field(default_factory=list)
    answered_from_history: bool = False  # a past incident report of this fingerprint was cited
    grounded: bool = True  # False when nothing relevant was found; the text then says so
    engine: str = ""  # bedrock-agent | bedrock-kb | local-extractive
    budget: Budget = field(default_factory=Budget)


@dataclass(frozen=True)
class ThreadMessage(Model):
    user: str
    text: str
    ts: str


@dataclass(frozen=True)
class TimelineEntry(Model):
    at: str
    text: str


@dataclass(frozen=True)
class Report(Model):
    """A resolved incident's structured report: stored as Markdown + KB metadata, published to Confluence."""

    title: str
    fingerprint: str
    service: str
    severity: str
    first_seen: str
    last_seen: str
    occurrences: int  # the fingerprint's total across every incident the report covers
    symptoms: str
    impact: str
    root_cause: str
    resolution: list[str] = field(default_factory=list)
    prevention: list[str] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)  # every incident id this report covers, oldest first
    template: str = ""
    exception: str | None = None
    resolved_by: str = ""
    language: str = "en"
    incident_occurrences: int = 0  # the latest incident's own count (0 in reports stored before it existed)
    # Who confirmed the root cause / fix / prevention in the Resolve modal. Empty with ``draft`` set: nobody
    # confirmed within the wait, and the knowledge base must not treat the report as an answer.
    confirmed_by: str = ""
    draft: bool = False
    attribution: dict[str, str] = field(default_factory=dict)  # field → "written by <@U…>" / "… confirmed by"
    accounts: list[str] = field(default_factory=list)  # where it happened: "<account id> (<region>)"
    related_incidents: list[str] = field(default_factory=list)  # the same error elsewhere: "<id> (<account> <region>)"
