"""Intake: CloudWatch Logs subscription batches and CloudWatch Alarm state changes → incidents.

Per batch: decode (base64 + gzip), redact secrets, drop ignored lines, fingerprint, group, then one
conditional write per fingerprint in DynamoDB. The write that opens an incident announces it on the
EventBridge bus ("Incident Opened"); every other occurrence only increments the open incident's counter,
and at most one Slack update per incident per interval shows the new count.

A bad line never costs the batch: it is counted and skipped. A batch that cannot be decoded at all is
rejected with InputError (Lambda's async retries then the DLQ keep it visible).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable

from .config import Settings
from .errors import ConfigError, InputError
from .incidents import OPEN, IncidentStore, Occurrence, iso, storm_scope
from .models import Analysis, Incident
from .ports import EventPublisher

EVENT_SOURCE = "opsloop.intake"
MAX_PARALLEL_GROUPS = 8
_TRUNCATION_MARKER = re.compile(r"…\[truncated \d+ bytes\]$")
DETAIL_TYPE = "Incident Opened"


@dataclass
class IntakeResult:
    lines: int = 0
    ignored: int = 0
    bad_lines: int = 0
    groups: int = 0
    opened: list[str] = field(default_factory=list)
    counted: dict[str, int] = field(default_factory=dict)  # incident id -> total occurrences now
    control: bool = False
    # Why the whole batch was set aside without an incident: "own-log-group" (the loop guard),
    # "account-not-allowed", "empty"; None for a batch that was processed.
    dropped: str | None = None
    account: str | None = None

    def add(self, occ: Occurrence) -> None:
        self.counted[occ.incident_id] = occ.count
        if occ.opened:
            self.opened.append(occ.incident_id)

    def to_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "ignored": self.ignored, "bad_lines": self.bad_lines, "groups": self.groups,
                "opened": self.opened, "counted": self.counted, "control": self.control, "dropped": self.dropped,
                "account": self.account}

    def metrics(self) -> dict[str, int]:
        """The business metrics this batch contributes (name → count; zero counts are left out)."""
        out = {"LinesReceived": self.lines, "LinesIgnored": self.ignored, "LinesMalformed": self.bad_lines,
               "IncidentsOpened": len(self.opened), "ControlMessages": int(self.control),
               "BatchesFromOwnLogGroups": int(self.dropped == "own-log-group"),
               "BatchesFromUnknownAccount": int(self.dropped == "account-not-allowed"),
               "EmptyBatches": int(self.dropped == "empty"),
               # lines counted against an incident already open (storm control), not announced again
               "LinesDeduplicated": max(0, self.lines - self.ignored - self.bad_lines - len(self.opened))}
        return {k: v for k, v in out.items() if v}


def service_of(log_group: str) -> str:
    """'/aws/lambda/orders-api' → 'orders-api'; '/ecs/orders-api' → 'orders-api'."""
    parts = [p for p in log_group.split("/") if p and p not in ("aws", "lambda", "ecs", "eks", "containerinsights",
                                                                    "application", "vendedlogs")]
    return (parts[-1] if parts else log_group or "unknown")[:100]


def new_incident_id(fingerprint: str, ts: float, scope: str = "") -> str:
    """Time, fingerprint and (when the scope names an account) a short hash of the storm scope, so the same
    error opened in two accounts in the same second gets two ids."""
    stamp = f"{datetime.fromtimestamp(ts, tz=timezone.utc):%Y%m%dT%H%M%S}-{fingerprint[:12]}"
    if not scope or "#" not in scope:
        return stamp
    import hashlib

    return f"{stamp}-{hashlib.sha256(scope.encode()).hexdigest()[:6]}"


class _Ignore:
    def __init__(self, patterns: dict[str, list[str]]) -> None:
        self._by_group: dict[str, list[re.Pattern[str]]] = {}
        for group, pats in patterns.items():
            compiled = []
            for p in pats:
                try:
                    compiled.append(re.compile(p))
                except re.error as exc:
                    raise ConfigError(f"OPSLOOP_IGNORE_PATTERNS[{group!r}]: bad regular expression {p!r}: {exc}") from exc
            self._by_group[group] = compiled

    def active(self, group: str) -> bool:
        """Whether any pattern applies to this log group."""
        return group in self._by_group or "*" in self._by_group

    def __call__(self, group: str, message: str) -> bool:
        pats = self._by_group.get(group, []) + self._by_group.get("*", [])
        return any(p.search(message) for p in pats)


class Intake:
    def __init__(self, settings: Settings, store: IncidentStore, events: EventPublisher,
                 notifier: Callable[[], Any] | None = None, clock: Callable[[], float] | None = None,
                 templates: Any = None) -> None:
        from .redact import compile_extra

        self.s = settings
        self.store = store
        self.events = events
        self.notifier = notifier
        self.clock = clock or time.time
        self._ignore = _Ignore(dict(settings.ignore_patterns))
        self._extra = compile_extra(settings.redact_patterns)
        self.parallel_groups = MAX_PARALLEL_GROUPS
        self.templates = templates  # a templates.TemplateLearner, or None for masked fingerprints only
        self._own_groups = frozenset(settings.own_log_groups)
        self._allowed_accounts = frozenset(settings.allowed_accounts)

    # -- the one entry point ---------------------------------------------------------------------
    def handle(self, event: Any, *, region: str | None = None) -> dict[str, Any]:
        """Any event intake is wired to: a subscription batch delivered to Lambda directly
        (``awslogs.data``), a Kinesis batch from a CloudWatch Logs destination (``Records[].kinesis.data``,
        the same gzip+base64 payload), or a CloudWatch Alarm State Change (from this or a member account)."""
        if isinstance(event, dict) and isinstance(event.get("awslogs"), dict):
            result = self.handle_subscription(str(event["awslogs"].get("data", "")), region=region)
            return {**result.to_dict(), "metrics": result.metrics()}
        if isinstance(event, dict) and isinstance(event.get("Records"), list):
            return self.handle_kinesis(event["Records"], region=region)
        if isinstance(event, dict) and event.get("detail-type") == "CloudWatch Alarm State Change":
            result = self.handle_alarm(event)
            return {**result.to_dict(), "metrics": result.metrics()}
        raise InputError("not a CloudWatch Logs subscription event, a Kinesis batch or a CloudWatch Alarm "
                         "State Change")

    def handle_kinesis(self, records: list[Any], *, region: str | None = None) -> dict[str, Any]:
        """Each Kinesis record carries one subscription payload. A record that can never be decoded is
        counted and skipped (retrying cannot fix it, and it must not block the shard); a transient failure
        reports that record and every later one as failed, so Lambda retries from there in order."""
        totals: dict[str, int] = {}
        failures: list[dict[str, str]] = []
        opened: list[str] = []
        for i, rec in enumerate(records):
            kin = rec.get("kinesis") if isinstance(rec, dict) else None
            seq = str((kin or {}).get("sequenceNumber", ""))
            if not isinstance(kin, dict) or not isinstance(kin.get("data"), str):
                totals["RecordsRejected"] = totals.get("RecordsRejected", 0) + 1
                continue
            rec_region = region or _region_of(str(rec.get("awsRegion") or "")) or None
            try:
                result = self.handle_subscription(kin["data"], region=rec_region)
            except InputError:
                totals["RecordsRejected"] = totals.get("RecordsRejected", 0) + 1
                continue
            except Exception:  # noqa: BLE001 - this record and the rest are retried by Lambda
                failures = [{"itemIdentifier": str(((r or {}).get("kinesis") or {}).get("sequenceNumber", ""))}
                            for r in records[i:] if isinstance(r, dict)]
                failures = [f for f in failures if f["itemIdentifier"]] or [{"itemIdentifier": seq}]
                break
            opened += result.opened
            for k, v in result.metrics().items():
                totals[k] = totals.get(k, 0) + v
        return {"records": len(records), "opened": opened, "metrics": totals, "batchItemFailures": failures}

    # -- CloudWatch Logs ------------------------------------------------------------------------
    def handle_subscription(self, data_b64: str, account: str | None = None, region: str | None = None) -> IntakeResult:
        from .fingerprint import fingerprint_rows
        from .logparse import decode_subscription
        from .redact import redact_texts

        batch = decode_subscription(data_b64, max_message_bytes=self.s.max_message_bytes)
        result = IntakeResult(control=batch.message_type == "CONTROL_MESSAGE", account=account or batch.owner or None)
        if result.control:
            return result
        if batch.log_group in self._own_groups:
            # The loop guard: opsloop's own errors must never open incidents about themselves.
            result.dropped = "own-log-group"
            return result
        if self._allowed_accounts and result.account not in self._allowed_accounts:
            result.dropped = "account-not-allowed"
            return result
        result.bad_lines = len(batch.problems)
        result.lines = len(batch.lines)
        if not batch.lines:
            result.dropped = "empty"
            return result
        lines = [line for line in batch.lines if line.message.strip()]
        result.bad_lines += result.lines - len(lines)
        # Redaction and fingerprints are computed for the whole batch at once (equal to line by line).
        cleaned = redact_texts([line.message for line in lines], self._extra)
        if self._ignore.active(batch.log_group):
            kept = [(line, clean) for line, clean in zip(lines, cleaned) if not self._ignore(batch.log_group, clean)]
            result.ignored = len(lines) - len(kept)
        else:
            kept = list(zip(lines, cleaned))
        # The truncation marker says how much was cut, which varies: it is not part of the error's identity.
        rows = fingerprint_rows([_TRUNCATION_MARKER.sub("", clean) if line.truncated else clean for line, clean in kept])
        if self.templates is not None:  # positions learned to vary in this log group: their aliases' roots
            rows = self.templates.resolve_rows(batch.log_group, rows)
        groups: dict[str, dict[str, Any]] = {}
        for (line, clean), row in zip(kept, rows):
            g = groups.get(row[0])
            if g is None:
                groups[row[0]] = g = {"fp": row, "sample": clean, "level": line.level, "n": 0,
                                      "first": line.timestamp_ms, "last": line.timestamp_ms, "stream": batch.log_stream}
            g["n"] += 1
            g["first"] = min(g["first"], line.timestamp_ms)
            g["last"] = max(g["last"], line.timestamp_ms)
        result.groups = len(groups)
        incidents = []
        for g in groups.values():
            fingerprint, template, exception, frames = g["fp"]  # a fingerprint_rows row
            incidents.append(Incident(
                incident_id="", fingerprint=fingerprint, template=template, message=g["sample"],
                source=batch.log_group, service=service_of(batch.log_group), kind="log",
                level=(g["level"] or "ERROR").upper(), exception=exception, frames=list(frames),
                first_seen=iso(g["first"] / 1000), last_seen=iso(g["last"] / 1000), occurrences=g["n"],
                log_stream=g["stream"], account=account or batch.owner, region=region,
            ))
        self._record_all(incidents, result)
        return result

    def _record_all(self, incidents: list[Incident], result: IntakeResult) -> None:
        """One DynamoDB round trip (or a few) per fingerprint is the batch's cost, so distinct fingerprints are
        recorded concurrently. Every group is attempted even when one fails; then the first error is raised
        so Lambda retries the batch (a retry may count the groups that succeeded twice: counts err high,
        incidents are never lost)."""
        def one(incident: Incident) -> Occurrence | Exception:
            try:
                return self._record(incident, incident.occurrences)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the other groups
                return exc

        if len(incidents) > 1 and self.parallel_groups > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(self.parallel_groups, len(incidents))) as pool:
                outcomes = list(pool.map(one, incidents))
        else:
            outcomes = [one(i) for i in incidents]
        for outcome in outcomes:
            if isinstance(outcome, Occurrence):
                result.add(outcome)
        errors = [o for o in outcomes if isinstance(o, Exception)]
        if errors:
            raise errors[0]

    # -- CloudWatch Alarms ------------------------------------------------------------------------
    def handle_alarm(self, event: dict[str, Any]) -> IntakeResult:
        detail = event.get("detail")
        if not isinstance(detail, dict) or not isinstance(detail.get("state"), dict):
            raise InputError("CloudWatch Alarm State Change event without detail.state")
        result = IntakeResult(account=str(event.get("account") or "") or None)
        if self._allowed_accounts and result.account not in self._allowed_accounts:
            result.dropped = "account-not-allowed"
            return result
        if detail["state"].get("value") != "ALARM":
            result.ignored = 1
            return result
        incident = alarm_incident(event, self._extra, self.s.max_message_bytes, self.clock())
        result.lines = result.groups = 1
        result.add(self._record(incident, 1))
        return result

    # -- shared ------------------------------------------------------------------------------------
    def _record(self, incident: Incident, n: int) -> Occurrence:
        now = self.clock()
        scope = storm_scope(incident)
        muted = self.store.count_if_muted(scope, incident.fingerprint, n, now=now)
        if muted is not None:  # "not an incident": counted, nothing opened
            return muted
        occ: Occurrence = self.store.record(
            scope, incident.fingerprint, n, now=now,
            new_incident_id=new_incident_id(incident.fingerprint, now, scope),
            window_seconds=self.s.storm_window_seconds, min_occurrences=self.s.min_occurrences,
        )
        incident = replace(incident, incident_id=occ.incident_id, occurrences=occ.count,
                           previous_incident_id=occ.previous_incident_id)
        if occ.opened or occ.event_pending:
            if occ.opened:
                other = self.store.link_fingerprint(incident.fingerprint, scope, incident.incident_id,
                                                    account=incident.account, region=incident.region, now=now)
                if other:
                    incident = replace(incident, related_incident_id=other.get("incident_id"),
                                       related_account=other.get("account") or None,
                                       related_region=other.get("region") or None)
            self.store.create_incident(incident.to_dict(), now=now)
            self._announce(incident)
            self.store.announced(scope, incident.fingerprint, incident.incident_id)
        elif (occ.status == OPEN and self.notifier is not None
              and now - occ.last_notified_at >= self.s.slack_update_seconds):
            # record() already returned when Slack was last refreshed: inside the interval there is nothing
            # to claim, which saves a conditional write per fingerprint on every batch of a storm.
            self._refresh_slack(incident, now)
        return occ

    def _announce(self, incident: Incident) -> None:
        self.events.publish(EVENT_SOURCE, DETAIL_TYPE, {"incident": incident.to_dict()})

    def _refresh_slack(self, incident: Incident, now: float) -> None:
        """Keep the Slack message's occurrence count current, at most once per interval per incident."""
        if not self.store.claim_notification(storm_scope(incident), incident.fingerprint, incident.incident_id,
                                             now=now, interval=self.s.slack_update_seconds):
            return
        item = self.store.get_incident(incident.incident_id)
        if item is None or item.slack is None or item.classification is None or item.incident is None:
            return  # not posted yet: the first post will carry the count
        current = replace(item.incident, occurrences=incident.occurrences, last_seen=incident.last_seen)
        try:
            self.notifier().update_occurrences(item.slack, current, item.classification,
                                               item.analysis or Analysis(summary="", root_cause=""))
        except Exception as exc:  # noqa: BLE001 - a missed count refresh must not cost the batch
            from .observability import count, logger

            logger().warning("occurrence update in Slack failed", extra={"incident_id": incident.incident_id,
                                                                         "error": type(exc).__name__})
            count("SlackUpdateFailed")


def alarm_incident(event: dict[str, Any], extra: Any = (), max_message_bytes: int = 8192,
                   now: float | None = None) -> Incident:
    """The incident for a CloudWatch Alarm State Change event in ALARM (no I/O; the benchmark calls it too).

    The template is the alarm's name; the description (AlarmDescription) is kept, redacted, because it is the
    only text that says what the alarm is about, and the knowledge query uses it.
    """
    from .fingerprint import fingerprint
    from .redact import redact

    detail = event["detail"]
    name = str(detail.get("alarmName") or "unnamed-alarm")[:255]
    reason = redact(str(detail["state"].get("reason") or ""), extra).text[:max_message_bytes]
    configuration = detail.get("configuration") or {}
    description = redact(str(configuration.get("description") or ""), extra).text[:1000]
    dims: dict[str, str] = {}
    for m in configuration.get("metrics") or []:
        stat = (m.get("metricStat") or {}).get("metric") or {}
        dims.update({str(k): str(v) for k, v in (stat.get("dimensions") or {}).items()})
        dims.setdefault("namespace", str(stat.get("namespace", "")))
        dims.setdefault("metric", str(stat.get("name", "")))
    service = next((dims[k] for k in ("FunctionName", "ServiceName", "DBInstanceIdentifier", "ApiName",
                                      "QueueName", "TableName", "LoadBalancer") if dims.get(k)), name)
    fp = fingerprint(f"CloudWatch alarm {name} is in ALARM")
    ts = _parse_time(str(event.get("time") or "")) or (now if now is not None else time.time())
    return Incident(
        incident_id="", fingerprint=fp.fingerprint, template=fp.template,
        message=f"CloudWatch alarm {name} is in ALARM: {reason}", source=f"alarm/{name}", service=service[:100],
        kind="alarm", level="ALARM", exception=None, frames=[], first_seen=iso(ts), last_seen=iso(ts),
        occurrences=1, account=str(event.get("account") or "") or None,
        region=str(event.get("region") or "") or None, description=description,
    )


def _region_of(value: str) -> str:
    return value if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", value) else ""


def _parse_time(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
