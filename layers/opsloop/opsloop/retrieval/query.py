"""Turn an incident into a search query for the team's knowledge.

The same query text feeds the local retriever and the Bedrock Knowledge Base ``Retrieve`` call, so it is
plain words, not a query language. It keeps what identifies the *kind* of failure (exception class, the
log template's constant words, an alarm's description, the service, the code location) and drops what
varies between occurrences (numbers, ids, hosts, timestamps): those only add noise to ranking and can carry
customer data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import Incident

#: Bedrock's Retrieve accepts at most 1,000 characters of query text; stay well inside it.
MAX_QUERY_CHARS = 900
MAX_FRAMES = 3

# Placeholders left by template mining: <*>, <NUM>, <IP>, {id}, {{var}}, ${x}
_PLACEHOLDER = re.compile(r"<[*A-Za-z_:0-9-]{1,24}>|\$?\{\{?[A-Za-z_*0-9.:-]{0,32}\}?\}")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]{1,10}://\S+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")
_IPV6 = re.compile(r"\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}\b", re.I)
_ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b")
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b")
_HEX = re.compile(r"\b(?:0x)?(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I)
_AWS_ID = re.compile(r"\b(?:arn:[\w:/.*-]+|(?:i|vol|sg|subnet|vpc|eni|ami|snap|r)-[0-9a-f]{6,})\b", re.I)
_TOKEN_WITH_DIGITS = re.compile(r"\b(?=(?:[\w-]*\d){3})(?=[\w-]*[A-Za-z])[\w-]{12,}\b")  # request ids, hashes, base64
_NUMBER = re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,]\d+)*(?:%|ms|s|m|h|kb|mb|gb|b)?(?![A-Za-z])", re.I)
_QUOTED = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"")
_PATHLIKE = re.compile(r"(?<![\w.])/(?:[\w.@-]+/)+[\w.@-]*")
_SPACES = re.compile(r"\s+")
_JAVA_FRAME = re.compile(r"(?:at\s+)?([\w$.]+)\.([\w$<>]+)\(([\w$.-]*?)(?::\d+)?\)")
_PY_FRAME = re.compile(r"File \"([^\"]+)\", line \d+, in ([\w<>.]+)")
_GENERIC_FRAME = re.compile(r"([A-Za-z_][\w$]*(?:[.:#/][A-Za-z_][\w$]*)+)")


@dataclass(frozen=True)
class Query:
    """What to search for, and the keys that find an exact past incident."""

    text: str
    fingerprint: str = ""
    service: str = ""
    exception: str | None = None


def strip_values(text: str) -> str:
    """Remove occurrence-specific values (ids, numbers, hosts, quoted literals) from log text.

    Quoted literals go too: in logs they are nearly always data (a table name, a user's input), and they are
    the most likely place for customer data to hide.
    """
    text = _PLACEHOLDER.sub(" ", text)
    for pattern in (_URL, _EMAIL, _UUID, _ISO_TIME, _IPV4, _IPV6, _AWS_ID, _CLOCK, _HEX, _QUOTED,
                    _PATHLIKE, _TOKEN_WITH_DIGITS, _NUMBER):
        text = pattern.sub(" ", text)
    text = re.sub(r"[=:]\s*(?=[,;)\]}\s]|$)", " ", text)  # "key=" left behind by a removed value
    text = re.sub(r"[\[\](){}<>|,;]+", " ", text)
    text = re.sub(r"(?<=\w)[-_./]+(?=\s|$)", "", text)  # "HikariPool-" once its number is gone
    text = re.sub(r"(?<=\s)[-=:.]+(?=\s|$)", " ", " " + text)
    return _SPACES.sub(" ", text).strip(" .:-=")


def frame_terms(frame: str) -> str:
    """The code location of one stack frame (class and method, or module and function), without line numbers."""
    m = _PY_FRAME.search(frame)
    if m:
        module = m.group(1).replace("\\", "/").rsplit("/", 1)[-1]
        module = module[:-3] if module.endswith(".py") else module
        return f"{module}.{m.group(2)}"
    m = _JAVA_FRAME.search(frame)
    if m:
        owner = m.group(1).rsplit(".", 1)[-1]
        return f"{owner}.{m.group(2)}"
    m = _GENERIC_FRAME.search(frame)
    if not m:
        return ""
    # "com.example.orders.OrderRepository.findById" → "OrderRepository.findById": the package adds only noise
    parts = re.split(r"[.:#/]", m.group(1))
    return ".".join(parts[-2:])[-120:]


def _short_exception(name: str) -> str:
    return re.split(r"[.$]", name.strip())[-1]


def build_query(incident: Incident) -> Query:
    """Build the knowledge query for an incident: exception, template words, service, top code frames."""
    parts: list[str] = []
    exception = (incident.exception or "").strip() or None
    template = strip_values(incident.template or "") or strip_values(incident.message or "")
    if exception:
        short = _short_exception(exception)
        parts.append(short)
        if short != exception and len(exception) <= 160 and exception not in template:
            parts.append(exception)
    if template:
        parts.append(template)
    if incident.description:
        # An alarm's template is only its name; its description says what it is about, and is what finds a
        # runbook that is not named after the alarm (benchmarks/README-retrieval.md, "as a CloudWatch alarm").
        parts.append(strip_values(incident.description))
    if incident.service and incident.service != incident.source.removeprefix("alarm/"):
        # The bare name: a literal word "service" would match every document that says "service".
        parts.append(strip_values(incident.service) or incident.service)
    frames = [t for t in (frame_terms(f) for f in incident.frames[:MAX_FRAMES * 2]) if t][:MAX_FRAMES]
    if frames:
        parts.append(" ".join(dict.fromkeys(frames)))
    text = _SPACES.sub(" ", " ".join(parts)).strip()
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    return Query(text=text, fingerprint=incident.fingerprint, service=incident.service, exception=exception)


__all__ = ["MAX_QUERY_CHARS", "Query", "build_query", "frame_terms", "strip_values"]
