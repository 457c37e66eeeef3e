"""Category and severity of an incident from what intake saw. Pure and deterministic.

The category routes the analysis query and labels the report; the severity sets the Slack emoji and the
report's metadata. Rules are ordered: the first category whose pattern matches the exception class, the
template or the source wins. Severity starts from the log level / alarm state and rises with the storm size.
"""

from __future__ import annotations

import re

from .models import Classification, Incident

_CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("memory", re.compile(r"out ?of ?memory|outofmemory|memoryerror|heap space|metaspace|signal: killed|oomkilled|exit code 137|runtime\.outofmemory", re.I)),
    ("timeout", re.compile(r"timed? ?out|timeout|deadline exceeded|504", re.I)),
    ("throttling", re.compile(r"throttl|rate ?exceeded|too many requests|provisionedthroughputexceeded|\b429\b|slow ?down", re.I)),
    ("database", re.compile(r"sql|jdbc|hikari|database|dynamodb|rds|postgres|mysql|psycopg|too many connections|deadlock|connection pool", re.I)),
    ("permission", re.compile(r"access ?denied|accessdenied|forbidden|\b403\b|unauthori[sz]ed|\b401\b|not authorized|permission denied|kms", re.I)),
    ("tls", re.compile(r"certificate|\bssl|\btls|pkix|handshake", re.I)),
    ("network", re.compile(r"connection (refused|reset)|econnrefused|econnreset|enotfound|eai_again|unknownhost|name or service not known|getaddrinfo|dns|unreachable|broken pipe", re.I)),
    ("disk", re.compile(r"no space left|enospc|disk (is )?full|quota exceeded", re.I)),
    ("availability", re.compile(r"\b5\d\d\b|bad gateway|service unavailable|unhealthy|crash ?loop|exited|alarm", re.I)),
    ("code", re.compile(r"exception|error:|traceback|keyerror|typeerror|attributeerror|nullpointer|undefined is not|valueerror|indexerror", re.I)),
]

_LEVEL_SEVERITY = {"FATAL": "critical", "CRITICAL": "critical", "EMERG": "critical", "ALERT": "critical",
                   "ERROR": "high", "ERR": "high", "ALARM": "high", "WARN": "medium", "WARNING": "medium"}
_ORDER = ["low", "medium", "high", "critical"]


def _generic(exception: str) -> bool:
    """A bare Exception/RuntimeError says nothing: let the message decide."""
    return exception.rsplit(".", 1)[-1] in ("Exception", "RuntimeException", "Error", "RuntimeError", "Throwable")


def classify(incident: Incident, *, storm_threshold: int = 100) -> Classification:
    # The exception class names the failure most precisely (a pool *timeout* in a SQL exception is a
    # database problem), so it is matched on its own first; then the template and the source.
    category, reasons = "unknown", []
    for text in (incident.exception or "", " ".join(filter(None, [incident.template, incident.source]))):
        for name, pattern in _CATEGORIES:
            m = pattern.search(text) if text else None
            if m and not (name == "code" and text is incident.exception and _generic(text)):
                category = name
                reasons.append(f"category {name}: matched {m.group(0)!r}")
                break
        if category != "unknown":
            break
    severity = _LEVEL_SEVERITY.get((incident.level or "").upper(), "medium")
    reasons.append(f"level {incident.level or 'unknown'} → {severity}")
    if category in ("memory", "disk", "availability") and _ORDER.index(severity) < _ORDER.index("high"):
        severity = "high"
        reasons.append(f"{category} problems stop service → high")
    if incident.occurrences >= storm_threshold and severity != "critical":
        severity = _ORDER[min(_ORDER.index(severity) + 1, len(_ORDER) - 1)]
        reasons.append(f"{incident.occurrences} occurrences ≥ {storm_threshold} → {severity}")
    return Classification(category=category, severity=severity, reasons=reasons)
