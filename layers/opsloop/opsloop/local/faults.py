"""Failures injected into the offline run at chosen steps: ``opsloop local run --faults SPEC``.

A spec is a comma-separated list of ``TARGET=KIND[xN][@K]``: the calls to TARGET numbered K, K+1, …
(K defaults to 1) fail with KIND, N of them (default 1; ``x*`` = every call from K on); other calls pass.

=============================  ===============================  ==============================================
target                         kinds                            what the caller sees
=============================  ===============================  ==============================================
``slack.<method>``             ``429``, ``500``, ``502``,       the Slack stand-in answers HTTP 429 with
(``chat.postMessage``, …)      ``503``, ``504``                 ``Retry-After: 1`` (``ratelimited``) or the 5xx
``confluence.<op>``            ``409``, ``429``, ``500``,       the Confluence stand-in answers that status;
(``create``, ``update``,       ``502``, ``503``, ``504``        the request is not applied
``search``, ``read``,
``label``)
``bedrock.analyze``,           ``throttle``                     Bedrock's ``ThrottlingException`` (HTTP 429),
``bedrock.summarize``                                           through the Bedrock adapters' error mapping
``ingestion.start``            ``conflict``, ``throttle``       ``ConflictException``: another ingestion job is
                                                                running (it completes a poll later), through
                                                                the Bedrock ingestion adapter
``ingestion.status``           ``throttle``
``lambda.<LogicalId>``         ``timeout``                      the handler runs, then the invocation answers
(a state machine task)                                          ``Sandbox.Timedout`` like a Lambda stopped at
                                                                its timeout after its calls went out
=============================  ===============================  ==============================================

``*`` as the method or op matches any. Every injected fault is appended to ``<out>/faults.jsonl`` and
listed in execution.json; requests that failed this way are not among the recorded Slack/Confluence calls
(they were refused before the service saw them).

The plan is handed to the stand-ins, the Lambda dispatcher and (for Bedrock and ingestion) wraps the
adapters :mod:`opsloop.wiring` builds, for the duration of a run: domain code is not aware of it.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HTTP_5XX = ("500", "502", "503", "504")
#: target family → the kinds it accepts
KINDS: dict[str, tuple[str, ...]] = {
    "slack": ("429", *HTTP_5XX),
    "confluence": ("409", "429", *HTTP_5XX),
    "bedrock": ("throttle",),
    "ingestion": ("conflict", "throttle"),
    "lambda": ("timeout",),
}
CONFLUENCE_OPS = ("create", "update", "search", "read", "label")
BEDROCK_OPS = ("analyze", "summarize")
INGESTION_OPS = {"start": ("conflict", "throttle"), "status": ("throttle",)}
#: the functions the state machine invokes (intake and the Slack endpoint are not steps)
LAMBDA_TARGETS = ("ClassifyFunction", "AnalyzeFunction", "NotifySlackFunction", "SummarizeFunction",
                  "PublishConfluenceFunction", "StoreReportFunction", "IngestKnowledgeFunction",
                  "ReportFailureFunction")
RETRY_AFTER_SECONDS = 1
LAMBDA_TIMEOUT_SECONDS = 30.0  # what the timed-out invocation says it ran for
MAX_TIMES = 100
SYNTAX = "TARGET=KIND[xN][@K], comma-separated (e.g. slack.chat.postMessage=429x2,lambda.SummarizeFunction=timeout)"

_ITEM = re.compile(r"^(?P<target>[A-Za-z]+\.[A-Za-z0-9_.*]+)=(?P<kind>[A-Za-z0-9]+?)"
                   r"(?:x(?P<times>\d+|\*))?(?:@(?P<first>\d+))?$")


class FaultSpecError(ValueError):
    """A ``--faults`` spec that cannot be understood (the message says which item and why)."""


@dataclass(frozen=True)
class FaultRule:
    target: str  # e.g. "slack.chat.postMessage"
    kind: str  # e.g. "429"
    times: int  # how many calls fail; 0 = every call from ``first`` on
    first: int = 1  # the first failing call (1-based)
    seconds: float = LAMBDA_TIMEOUT_SECONDS

    def fails(self, call_no: int) -> bool:
        if call_no < self.first:
            return False
        return self.times == 0 or call_no < self.first + self.times

    def __str__(self) -> str:
        times = "*" if self.times == 0 else str(self.times)
        return f"{self.target}={self.kind}x{times}" + (f"@{self.first}" if self.first != 1 else "")


def _slack_methods() -> set[str]:
    from .slack_server import _METHODS

    return set(_METHODS)


def parse_rule(item: str) -> FaultRule:
    m = _ITEM.match(item.strip())
    if not m:
        raise FaultSpecError(f"{item!r} is not TARGET=KIND[xN][@K]")
    target, kind = m.group("target"), m.group("kind").lower()
    family, _, name = target.partition(".")
    family = family.lower()
    if family not in KINDS:
        raise FaultSpecError(f"{item!r}: unknown target {family!r}; use one of {', '.join(sorted(KINDS))}")
    allowed: tuple[str, ...] = KINDS[family]
    if family == "slack":
        methods = _slack_methods()
        if name != "*" and name not in methods:
            raise FaultSpecError(f"{item!r}: the Slack stand-in has no method {name!r}; use one of "
                                 f"{', '.join(sorted(methods))} or *")
    elif family == "confluence":
        if name != "*" and name not in CONFLUENCE_OPS:
            raise FaultSpecError(f"{item!r}: unknown Confluence operation {name!r}; use one of "
                                 f"{', '.join(CONFLUENCE_OPS)} or *")
    elif family == "bedrock":
        if name not in BEDROCK_OPS:
            raise FaultSpecError(f"{item!r}: unknown Bedrock call {name!r}; use one of {', '.join(BEDROCK_OPS)}")
    elif family == "ingestion":
        if name not in INGESTION_OPS:
            raise FaultSpecError(f"{item!r}: unknown ingestion call {name!r}; use one of {', '.join(INGESTION_OPS)}")
        allowed = INGESTION_OPS[name]
    elif family == "lambda" and name not in LAMBDA_TARGETS:
        raise FaultSpecError(f"{item!r}: {name!r} is not a function the state machine invokes; use one of "
                             f"{', '.join(LAMBDA_TARGETS)}")
    if kind not in allowed:
        raise FaultSpecError(f"{item!r}: {target} cannot fail with {kind!r}; use one of {', '.join(allowed)}")
    raw_times = m.group("times")
    times = 0 if raw_times == "*" else int(raw_times or 1)
    if raw_times != "*" and not 1 <= times <= MAX_TIMES:
        raise FaultSpecError(f"{item!r}: the count must be between 1 and {MAX_TIMES} (or *)")
    first = int(m.group("first") or 1)
    if first < 1:
        raise FaultSpecError(f"{item!r}: @K counts calls from 1")
    return FaultRule(f"{family}.{name}", kind, times, first)


class FaultPlan:
    """Which calls fail, and the record of the faults injected so far (thread-safe)."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self.rules = list(rules or [])
        self._calls: dict[str, int] = {}
        self._injected: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._restore: list[Callable[[], None]] = []

    @classmethod
    def parse(cls, spec: str) -> "FaultPlan":
        items = [i for i in (spec or "").split(",") if i.strip()]
        if not items:
            raise FaultSpecError(f"the fault spec is empty; expected {SYNTAX}")
        rules = [parse_rule(i) for i in items]
        seen: set[str] = set()
        for r in rules:
            if r.target in seen:
                raise FaultSpecError(f"{r.target} is named twice; give one rule per target")
            seen.add(r.target)
        return cls(rules)

    @property
    def spec(self) -> str:
        return ",".join(str(r) for r in self.rules)

    def attach(self, path: Path) -> None:
        """Append every injected fault to ``path`` (JSON lines)."""
        self._path = path

    def _rule_for(self, target: str) -> FaultRule | None:
        family = target.split(".", 1)[0]
        exact = next((r for r in self.rules if r.target == target), None)
        return exact or next((r for r in self.rules if r.target == f"{family}.*"), None)

    def take(self, target: str) -> FaultRule | None:
        """Count a call to ``target``; the rule that makes this call fail, or None."""
        rule = self._rule_for(target)
        if rule is None:
            return None
        with self._lock:
            n = self._calls[rule.target + "|" + target] = self._calls.get(rule.target + "|" + target, 0) + 1
            if not rule.fails(n):
                return None
            now = time.time()
            entry = {"target": target, "kind": rule.kind, "call": n, "rule": str(rule),
                     "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"}
            self._injected.append(entry)
            if self._path is not None:
                with self._path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")
        return rule

    def injected(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._injected]

    def has(self, family: str) -> bool:
        return any(r.target.startswith(family + ".") for r in self.rules)

    # -- the Bedrock and ingestion adapters ---------------------------------------------------------------
    def install(self) -> None:
        """Wrap the analyst, summariser and ingestion that :mod:`opsloop.wiring` builds (until uninstall)."""
        from .. import wiring

        wrappers: dict[str, Callable[[Any], Any]] = {}
        if self.has("bedrock"):
            wrappers["analyst"] = lambda port: _ThrottledAnalyst(port, self)
            wrappers["summarizer"] = lambda port: _ThrottledSummarizer(port, self)
        if self.has("ingestion"):
            wrappers["ingestion"] = self._ingestion
        for name, wrap in wrappers.items():
            original = getattr(wiring, name)
            setattr(wiring, name, _wrapped_builder(original, wrap))
            self._restore.append(functools.partial(setattr, wiring, name, original))
        wiring.reset()

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()
        from .. import wiring

        wiring.reset()

    def _ingestion(self, port: Any) -> Any:
        """The ingestion port behind the real Bedrock ingestion adapter, over a bedrock-agent API whose jobs
        are the local stand-in's: ConflictException and throttling reach the adapter as from AWS."""
        from ..bedrock.ingestion import BedrockIngestion

        return BedrockIngestion(_LocalBedrockAgent(port, self), "LOCALKB001", "LOCALDS001")


def _wrapped_builder(original: Any, wrap: Callable[[Any], Any]) -> Any:
    @functools.lru_cache(maxsize=1)
    def builder() -> Any:
        return wrap(original())

    clear = builder.cache_clear

    def cache_clear() -> None:
        clear()
        original.cache_clear()

    builder.cache_clear = cache_clear  # type: ignore[method-assign]
    return builder


def client_error(code: str, message: str, operation: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def throttling(operation: str) -> Exception:
    return client_error("ThrottlingException", "Too many requests, please wait before trying again.", operation, 429)


class _ThrottledAnalyst:
    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    def analyze(self, *args: Any, **kwargs: Any) -> Any:
        if self.plan.take("bedrock.analyze") is not None:
            from ..bedrock.errors import map_error

            raise map_error(throttling("InvokeAgent"), "invoke_agent")
        return self.inner.analyze(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _ThrottledSummarizer:
    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    def summarize(self, *args: Any, **kwargs: Any) -> Any:
        if self.plan.take("bedrock.summarize") is not None:
            from ..bedrock.errors import map_error

            raise map_error(throttling("Converse"), "converse")
        return self.inner.summarize(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


_other_jobs = itertools.count(1)


class _LocalBedrockAgent:
    """The three bedrock-agent ingestion calls, answered by the local ingestion stand-in, with faults."""

    def __init__(self, local: Any, plan: FaultPlan) -> None:
        self.local, self.plan = local, plan
        self._other: dict[str, int] = {}  # job started by "someone else" → status polls left before COMPLETE

    def start_ingestion_job(self, *, clientToken: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - AWS names
        rule = self.plan.take("ingestion.start")
        if rule is not None and rule.kind == "throttle":
            raise throttling("StartIngestionJob")
        if rule is not None:
            job_id = f"local-other-{next(_other_jobs)}"
            self._other[job_id] = 1
            raise client_error("ConflictException", "There is an ongoing ingestion job for this data source; "
                                                    "wait for it to finish before starting another.",
                               "StartIngestionJob", 409)
        st = self.local.start(clientToken)
        return {"ingestionJob": {"ingestionJobId": st.job_id, "status": st.status}}

    def list_ingestion_jobs(self, **_: Any) -> dict[str, Any]:
        running = [{"ingestionJobId": j, "status": "IN_PROGRESS", "startedAt": "2026-01-01T00:00:00Z"}
                   for j, left in self._other.items() if left > 0]
        return {"ingestionJobSummaries": running}

    def get_ingestion_job(self, *, ingestionJobId: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        if self.plan.take("ingestion.status") is not None:
            raise throttling("GetIngestionJob")
        if ingestionJobId in self._other:
            left = self._other[ingestionJobId]
            self._other[ingestionJobId] = left - 1
            return {"ingestionJob": {"ingestionJobId": ingestionJobId,
                                     "status": "IN_PROGRESS" if left > 0 else "COMPLETE"}}
        st = self.local.status(ingestionJobId)
        return {"ingestionJob": {"ingestionJobId": st.job_id, "status": st.status}}


def confluence_op(method: str, path: str) -> str:
    """The operation a Confluence REST v1 request performs, as named in fault specs."""
    parts = [p for p in path.split("/") if p]
    if parts[-1:] == ["label"]:
        return "label"
    if method == "POST" and parts[-1:] == ["content"]:
        return "create"
    if method == "PUT":
        return "update"
    if parts[-1:] == ["search"] or (method == "GET" and parts[-1:] == ["content"]):
        return "search"
    return "read"


__all__ = ["FaultPlan", "FaultRule", "FaultSpecError", "SYNTAX", "confluence_op", "parse_rule"]
