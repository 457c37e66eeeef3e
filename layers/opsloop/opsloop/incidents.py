"""The incidents table: storm control per fingerprint and the state of each incident.

One table, one string key ``pk``:

* ``FP#<scope>#<fingerprint>`` — the fingerprint's current incident in one scope: ``<account>#<region>#<log
  group or alarm>`` (see :func:`storm_scope`), so the same error in prod and in staging is two incidents. Every intake container that sees the
  same error races on this item with conditional writes: the first writer opens the incident, all others
  add their occurrences to its counter (``ADD`` is atomic, so counts are exact).
* ``INC#<incident_id>`` — one incident: its redacted sample, the Slack message, the task token of the
  current wait (never sent to Slack), who resolved it.

An incident's own states are :class:`IncidentStatus`; :class:`IncidentRecord` is the typed ``INC#`` item
every reader gets from :meth:`IncidentStore.get_incident`.

States of a fingerprint item: ``PENDING`` (fewer than the minimum occurrences inside the window),
``OPEN`` (an incident exists; every occurrence counts towards it until it is closed), ``CLOSED``
(resolved, failed or escalated; the next occurrence opens a new incident linked to this one).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping

from .aws_errors import error_code, is_conditional_check_failed, map_aws_error
from .errors import InputError, TransientError
from .models import Analysis, Classification, Incident
from .ports import PostedMessage

PENDING, OPEN, CLOSED, MUTED = "PENDING", "OPEN", "CLOSED", "MUTED"  # a fingerprint's states
INCIDENT_TTL_SECONDS = 400 * 24 * 3600
ANNOUNCE_GRACE_SECONDS = 60
THROTTLE_RETRIES = 4
LINK_SECONDS = 24 * 3600  # the same error opened elsewhere within a day is named as related


class IncidentStatus(str, Enum):
    """The states of one incident (the ``status`` of its ``INC#`` item), and the moves between them.

    The state machine sets ``ANALYZING`` itself (its first state, a DynamoDB task); every other move is
    made here, by a conditional write that names the states it may come from (:data:`TRANSITIONS`), so two
    writers racing (a click and a timeout, a retried step) cannot take an incident back out of a final
    state."""

    OPENED = "OPENED"  # intake created it and announced it
    ANALYZING = "ANALYZING"  # an execution claimed it (the ASL's "Record Execution")
    WAITING = "WAITING"  # posted in Slack; a task token waits for a person
    RESOLVING = "RESOLVING"  # one Resolve won; the callback is in flight
    ESCALATING = "ESCALATING"  # one "Escalate now" won
    DISMISSING = "DISMISSING"  # one "Not an incident" won
    CLOSED = "CLOSED"  # resolved: report written
    ESCALATED = "ESCALATED"  # nobody resolved it in time, or someone escalated it
    DISMISSED = "DISMISSED"  # not an incident; the fingerprint is muted
    FAILED = "FAILED"  # a step failed; said in Slack
    ABORTED = "ABORTED"  # the offline run was stopped before the end

    @property
    def final(self) -> bool:
        return self in _FINAL

    def can_become(self, other: IncidentStatus) -> bool:
        return other in TRANSITIONS[self]


_FINAL = frozenset({IncidentStatus.CLOSED, IncidentStatus.ESCALATED, IncidentStatus.DISMISSED,
                    IncidentStatus.FAILED, IncidentStatus.ABORTED})
_S = IncidentStatus
_ENDS = {_S.FAILED, _S.ABORTED}  # any incident still in flight can fail
#: status → the statuses it may move to. A final status may only be written again (a retried step).
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    _S.OPENED: frozenset({_S.ANALYZING, _S.WAITING, *_ENDS}),
    _S.ANALYZING: frozenset({_S.ANALYZING, _S.WAITING, *_ENDS}),
    _S.WAITING: frozenset({_S.WAITING, _S.RESOLVING, _S.ESCALATING, _S.DISMISSING, _S.ESCALATED, *_ENDS}),
    _S.RESOLVING: frozenset({_S.WAITING, _S.CLOSED, *_ENDS}),  # WAITING: the callback failed, click again
    _S.ESCALATING: frozenset({_S.WAITING, _S.ESCALATED, *_ENDS}),
    _S.DISMISSING: frozenset({_S.WAITING, _S.DISMISSED, *_ENDS}),
    **{s: frozenset({s}) for s in _FINAL},
}


_WAIT_FROM = (_S.OPENED, _S.ANALYZING, _S.WAITING)  # where a new wait may begin
_CLAIMS = (_S.RESOLVING, _S.ESCALATING, _S.DISMISSING)  # one click won; its callback may need the new token


def _from_states(to: IncidentStatus) -> list[IncidentStatus]:
    return [s for s, targets in TRANSITIONS.items() if to in targets]


_JSON_FIELDS = ("incident", "classification", "analysis", "slack", "resolution", "resolve_draft")  # stored as JSON


@dataclass(frozen=True)
class IncidentRecord:
    """One incident as stored (the ``INC#`` item), typed: what every step and Slack handler reads.

    ``slack`` is the posted message (None until it is posted); ``task_token`` is the current wait's, never
    sent anywhere. Fields the store does not know stay in ``extra``."""

    incident_id: str
    status: IncidentStatus
    incident: Incident | None = None
    classification: Classification | None = None
    analysis: Analysis | None = None
    slack: PostedMessage | None = None
    task_token: str = ""
    wait_action: str = ""  # open | remind: which wait the token belongs to
    acknowledged_by: str = ""
    snoozed_until: float = 0.0
    snoozed_by: str = ""
    action_by: str = ""  # who pressed Escalate now / Not an incident
    resolved_by: str = ""
    resolve_draft: dict[str, Any] = field(default_factory=dict)
    draft_key: str = ""  # where the unconfirmed draft report went, after an unresolved wait
    draft_announced: bool = False  # the thread was told where that draft went (said once)
    created_at: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def waiting(self) -> bool:
        return self.status is IncidentStatus.WAITING

    def snoozed(self, now: float) -> bool:
        return self.snoozed_until > now

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> IncidentRecord:
        """From a DynamoDB item already made plain (:func:`_plain`)."""
        data = {k: json.loads(v) if k in _JSON_FIELDS and isinstance(v, str) else v for k, v in item.items()}
        incident_id = str(data.get("pk", ""))[len("INC#"):] or str((data.get("incident") or {}).get("incident_id", ""))
        try:
            status = IncidentStatus(str(data.get("status") or "OPENED"))
        except ValueError:  # written by a newer version: treat as in flight, never as waiting
            status = IncidentStatus.ANALYZING
        slack = data.get("slack") if isinstance(data.get("slack"), dict) else {}
        known = {f for f in cls.__dataclass_fields__} | {"pk"}

        def model(kind: Any, key: str) -> Any:  # a part that does not parse reads as absent, not as a crash
            value = data.get(key)
            try:
                return kind.from_dict(value) if isinstance(value, dict) and value else None
            except InputError:
                return None

        return cls(
            incident_id=incident_id, status=status, incident=model(Incident, "incident"),
            classification=model(Classification, "classification"), analysis=model(Analysis, "analysis"),
            slack=(PostedMessage(channel=str(slack.get("channel", "")), ts=str(slack["ts"]),
                                 permalink=str(slack.get("permalink", ""))) if slack.get("ts") else None),
            task_token=str(data.get("task_token") or ""), wait_action=str(data.get("wait_action") or ""),
            acknowledged_by=str(data.get("acknowledged_by") or ""),
            snoozed_until=float(data.get("snoozed_until") or 0), snoozed_by=str(data.get("snoozed_by") or ""),
            action_by=str(data.get("action_by") or ""), resolved_by=str(data.get("resolved_by") or ""),
            resolve_draft=data.get("resolve_draft") if isinstance(data.get("resolve_draft"), dict) else {},
            draft_key=str(data.get("draft_key") or ""), draft_announced=bool(data.get("draft_announced")),
            created_at=float(data.get("created_at") or 0),
            extra={k: v for k, v in data.items() if k not in known})


def fp_key(scope: str, fingerprint: str) -> str:
    return f"FP#{scope}#{fingerprint}"


def storm_scope(incident: Any) -> str:
    """The storm-control scope of an incident (an Incident or its dict): (account, region, log group).

    An incident that names neither account nor region (older events, hand-made samples) keeps the plain
    log group as its scope, as before accounts were part of the key."""
    get = incident.get if isinstance(incident, dict) else (lambda k: getattr(incident, k, None))
    account, region, source = get("account") or "", get("region") or "", get("source") or ""
    return f"{account}#{region}#{source}" if (account or region) else source


def tpl_key(fingerprint: str) -> str:
    return f"TPL#{fingerprint}"


def inc_key(incident_id: str) -> str:
    return f"INC#{incident_id}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Occurrence:
    """What recording a batch of occurrences did."""

    incident_id: str
    count: int
    opened: bool  # this call opened the incident: the caller announces it
    status: str  # PENDING | OPEN | MUTED
    previous_incident_id: str | None = None
    event_pending: bool = False  # opened earlier but the announcement may not have gone out
    last_notified_at: float = 0.0


def _s(v: str) -> dict[str, str]:
    return {"S": v}


def _n(v: float) -> dict[str, str]:
    return {"N": repr(v) if isinstance(v, float) else str(v)}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        if "S" in v:
            out[k] = v["S"]
        elif "N" in v:
            n = v["N"]
            out[k] = float(n) if "." in n or "e" in n.lower() else int(n)
        elif "BOOL" in v:
            out[k] = v["BOOL"]
        elif "NULL" in v:
            out[k] = None
    return out


class IncidentStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name
        self.throttled = 0  # throttled calls retried by this store (for metrics and benchmarks)

    # -- low level -------------------------------------------------------------------------------
    def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        """One DynamoDB call; a failed condition stays a ClientError (callers read it as an answer).

        A throttled or failed-on-the-server call (an error code the service answered with) was not applied,
        so it is retried here a few times with backoff instead of failing the batch: Lambda's retry of a
        whole batch would count the fingerprints that had already succeeded a second time. A transport error
        (a timeout) may have been applied, so it is not retried here."""
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                return getattr(self._db, op)(TableName=self._table, **kwargs)
            except Exception as exc:  # noqa: BLE001 - mapped to opsloop's two classes, conditions excepted
                if is_conditional_check_failed(exc):
                    raise
                mapped = map_aws_error(exc, f"DynamoDB {op} on {self._table}")
                if isinstance(mapped, TransientError) and error_code(exc) and attempt < THROTTLE_RETRIES:
                    self.throttled += 1
                    time.sleep(min(1.0, 0.05 * 2 ** attempt))
                    continue
                raise mapped from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _conditional_failed(exc: Exception) -> bool:
        return is_conditional_check_failed(exc)

    # -- storm control ---------------------------------------------------------------------------
    def record(self, scope: str, fingerprint: str, n: int, *, now: float, new_incident_id: str,
               window_seconds: int, min_occurrences: int = 1) -> Occurrence:
        """Count ``n`` occurrences of a fingerprint; open an incident when this call is the one that should."""
        key = {"pk": _s(fp_key(scope, fingerprint))}
        for _ in range(8):
            # 1. An open incident absorbs every occurrence until it is closed.
            try:
                r = self._call(
                    "update_item", Key=key,
                    UpdateExpression="ADD #c :n SET last_seen = :now",
                    ConditionExpression="#st = :open",
                    ExpressionAttributeNames={"#c": "count", "#st": "status"},
                    ExpressionAttributeValues={":n": _n(n), ":now": _n(now), ":open": _s(OPEN)},
                    ReturnValues="ALL_NEW",
                )
                a = _plain(r["Attributes"])
                # The opener clears event_pending right after PutEvents. Still set long after opening means
                # the opener died in between: this caller re-announces (the state machine's first state
                # makes a duplicate harmless). Inside the grace period it is just a concurrent opener.
                stale = bool(a.get("event_pending")) and now - float(a.get("opened_at", now)) > ANNOUNCE_GRACE_SECONDS
                return Occurrence(a["incident_id"], int(a["count"]), opened=False, status=OPEN,
                                  previous_incident_id=a.get("previous_incident_id"), event_pending=stale,
                                  last_notified_at=float(a.get("last_notified_at", 0)))
            except Exception as exc:  # noqa: BLE001 - only a failed condition falls through
                if not self._conditional_failed(exc):
                    raise
            cutoff = now - window_seconds
            # 2. Below the minimum count, inside the window: accumulate; the call that reaches it opens.
            if min_occurrences > 1:
                try:
                    r = self._call(
                        "update_item", Key=key,
                        UpdateExpression="ADD #c :n SET last_seen = :now",
                        ConditionExpression="#st = :pending AND window_start > :cutoff",
                        ExpressionAttributeNames={"#c": "count", "#st": "status"},
                        ExpressionAttributeValues={":n": _n(n), ":now": _n(now), ":pending": _s(PENDING),
                                                   ":cutoff": _n(cutoff)},
                        ReturnValues="ALL_NEW",
                    )
                    a = _plain(r["Attributes"])
                    if int(a["count"]) < min_occurrences:
                        return Occurrence(a["incident_id"], int(a["count"]), opened=False, status=PENDING,
                                          previous_incident_id=a.get("previous_incident_id"))
                    opened = self._promote(key, a["incident_id"])  # exactly one caller wins
                    return Occurrence(a["incident_id"], int(a["count"]), opened=opened, status=OPEN,
                                      previous_incident_id=a.get("previous_incident_id"), event_pending=opened)
                except Exception as exc:  # noqa: BLE001
                    if not self._conditional_failed(exc):
                        raise
            # 3. No incident, a closed one, or a stale pending window: start a new one.
            status = OPEN if n >= min_occurrences else PENDING
            try:
                r = self._call(
                    "update_item", Key=key,
                    UpdateExpression=("SET #st = :status, incident_id = :id, #c = :n, window_start = :now, "
                                      "first_seen = :now, last_seen = :now, opened_at = :now, "
                                      "previous_incident_id = if_not_exists(last_incident_id, :none), "
                                      "last_incident_id = :id, event_pending = :pending_event, "
                                      "last_notified_at = :zero"),
                    ConditionExpression=("attribute_not_exists(pk) OR #st = :closed OR "
                                         "(#st = :pending AND window_start <= :cutoff)"),
                    ExpressionAttributeNames={"#c": "count", "#st": "status"},
                    ExpressionAttributeValues={
                        ":status": _s(status), ":id": _s(new_incident_id), ":n": _n(n), ":now": _n(now),
                        ":none": _s(""), ":closed": _s(CLOSED), ":pending": _s(PENDING), ":cutoff": _n(cutoff),
                        ":pending_event": {"BOOL": status == OPEN}, ":zero": _n(0),
                    },
                    ReturnValues="ALL_NEW",
                )
                a = _plain(r["Attributes"])
                prev = a.get("previous_incident_id") or None
                return Occurrence(new_incident_id, n, opened=status == OPEN, status=status, previous_incident_id=prev,
                                  event_pending=status == OPEN)
            except Exception as exc:  # noqa: BLE001
                if not self._conditional_failed(exc):
                    raise
            # Lost a race on every path: the item changed under us; read the new state and try again.
        raise TransientError(f"could not record occurrences of {fingerprint}: too much contention")

    def link_fingerprint(self, fingerprint: str, scope: str, incident_id: str, *, account: str | None,
                         region: str | None, now: float) -> dict[str, Any] | None:
        """Remember the latest incident opened for this fingerprint in any scope; return the previous one
        when it was opened in another scope (another account, region or log group) in the last
        :data:`LINK_SECONDS`, so the new incident can name it. One write per opened incident, none per line."""
        r = self._call(
            "update_item", Key={"pk": _s(tpl_key(fingerprint))},
            UpdateExpression="SET incident_id = :id, #sc = :scope, account = :acct, #rg = :region, opened_at = :now, "
                             "expires_at = :exp",
            ExpressionAttributeNames={"#sc": "scope", "#rg": "region"},
            ExpressionAttributeValues={":id": _s(incident_id), ":scope": _s(scope), ":acct": _s(account or ""),
                                       ":region": _s(region or ""), ":now": _n(now),
                                       ":exp": _n(int(now) + INCIDENT_TTL_SECONDS)},
            ReturnValues="ALL_OLD",
        )
        old = _plain(r.get("Attributes") or {})
        if not old or old.get("scope") == scope or now - float(old.get("opened_at", 0)) > LINK_SECONDS:
            return None
        return old

    def _promote(self, key: dict[str, Any], incident_id: str) -> bool:
        try:
            self._call(
                "update_item", Key=key,
                UpdateExpression="SET #st = :open, event_pending = :t, opened_at = last_seen",
                ConditionExpression="#st = :pending AND incident_id = :id",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":open": _s(OPEN), ":pending": _s(PENDING), ":id": _s(incident_id),
                                           ":t": {"BOOL": True}},
            )
            return True
        except Exception as exc:  # noqa: BLE001
            if self._conditional_failed(exc):
                return False
            raise

    def announced(self, scope: str, fingerprint: str, incident_id: str) -> None:
        """The 'Incident Opened' event went out: stop re-sending it."""
        try:
            self._call(
                "update_item", Key={"pk": _s(fp_key(scope, fingerprint))},
                UpdateExpression="REMOVE event_pending", ConditionExpression="incident_id = :id",
                ExpressionAttributeValues={":id": _s(incident_id)},
            )
        except Exception as exc:  # noqa: BLE001
            if not self._conditional_failed(exc):
                raise

    def claim_notification(self, scope: str, fingerprint: str, incident_id: str, *, now: float,
                           interval: int) -> bool:
        """True for exactly one caller per ``interval`` seconds: that caller updates the Slack count."""
        try:
            self._call(
                "update_item", Key={"pk": _s(fp_key(scope, fingerprint))},
                UpdateExpression="SET last_notified_at = :now",
                ConditionExpression="incident_id = :id AND #st = :open AND last_notified_at <= :cutoff",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":now": _n(now), ":id": _s(incident_id), ":open": _s(OPEN),
                                           ":cutoff": _n(now - interval)},
            )
            return True
        except Exception as exc:  # noqa: BLE001
            if self._conditional_failed(exc):
                return False
            raise

    def fingerprint_state(self, scope: str, fingerprint: str) -> dict[str, Any] | None:
        r = self._call("get_item", Key={"pk": _s(fp_key(scope, fingerprint))}, ConsistentRead=True)
        return _plain(r["Item"]) if "Item" in r else None

    def close_fingerprint(self, scope: str, fingerprint: str, incident_id: str, *, report_json: str | None = None,
                          report_key: str | None = None) -> None:
        """Close the fingerprint's incident so the next occurrence opens a new one linked to it."""
        names = {"#st": "status"}
        values: dict[str, Any] = {":closed": _s(CLOSED), ":id": _s(incident_id)}
        expr = "SET #st = :closed REMOVE event_pending"
        if report_json is not None:
            expr = "SET #st = :closed, last_report = :report, last_report_key = :rkey REMOVE event_pending"
            values[":report"] = _s(report_json)
            values[":rkey"] = _s(report_key or "")
        try:
            self._call("update_item", Key={"pk": _s(fp_key(scope, fingerprint))}, UpdateExpression=expr,
                       ConditionExpression="incident_id = :id", ExpressionAttributeNames=names,
                       ExpressionAttributeValues=values)
        except Exception as exc:  # noqa: BLE001
            if not self._conditional_failed(exc):
                raise

    def save_report(self, scope: str, fingerprint: str, report_json: str, report_key: str) -> None:
        self._call("update_item", Key={"pk": _s(fp_key(scope, fingerprint))},
                   UpdateExpression="SET last_report = :r, last_report_key = :k",
                   ExpressionAttributeValues={":r": _s(report_json), ":k": _s(report_key)})

    # -- incidents -------------------------------------------------------------------------------
    def create_incident(self, incident: dict[str, Any], *, now: float) -> None:
        try:
            self._call(
                "put_item",
                Item={"pk": _s(inc_key(incident["incident_id"])), "incident": _s(json.dumps(incident)),
                      "status": _s(IncidentStatus.OPENED.value), "created_at": _n(now),
                      "expires_at": _n(int(now) + INCIDENT_TTL_SECONDS)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:  # noqa: BLE001
            if not self._conditional_failed(exc):
                raise

    def get_incident(self, incident_id: str) -> IncidentRecord | None:
        r = self._call("get_item", Key={"pk": _s(inc_key(incident_id))}, ConsistentRead=True)
        return IncidentRecord.from_item(_plain(r["Item"])) if "Item" in r else None

    def update_incident(self, incident_id: str, **fields: Any) -> None:
        """Set fields on an incident (dicts and lists are stored as JSON). Not its status: see :meth:`move`."""
        if "status" in fields:
            raise ValueError("an incident's status changes through IncidentStore.move (its transitions)")
        self._set_fields(incident_id, fields)

    def _set_fields(self, incident_id: str, fields: dict[str, Any], *, condition: str = "",
                    condition_values: dict[str, Any] | None = None) -> None:
        if not fields:
            return
        names, values, sets = {}, dict(condition_values or {}), []
        for i, (k, v) in enumerate(fields.items()):
            names[f"#f{i}"] = k
            if isinstance(v, Enum):
                values[f":v{i}"] = _s(str(v.value))
            elif isinstance(v, (dict, list)):
                values[f":v{i}"] = _s(json.dumps(v))
            elif isinstance(v, bool):
                values[f":v{i}"] = {"BOOL": v}
            elif isinstance(v, (int, float)):
                values[f":v{i}"] = _n(v)
            else:
                values[f":v{i}"] = _s(str(v))
            sets.append(f"#f{i} = :v{i}")
        extra: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
        if condition:
            names["#st"] = "status"
        self._call("update_item", Key={"pk": _s(inc_key(incident_id))}, UpdateExpression="SET " + ", ".join(sets),
                   ExpressionAttributeNames=names, ExpressionAttributeValues=values, **extra)

    def move(self, incident_id: str, to: IncidentStatus, *, from_states: Any = None, **fields: Any) -> bool:
        """Move an incident to ``to`` (setting ``fields`` with it) if its current status may move there.

        One conditional write: the allowed predecessors are those of :data:`TRANSITIONS` (or the narrower
        ``from_states``), and an item without a status (created before any step) may take any. False, and
        nothing written, when the incident is in a state that may not: e.g. a failure reported after it
        was already closed keeps it closed."""
        sources = list(from_states) if from_states is not None else _from_states(to)
        values = {f":from{i}": _s(s.value) for i, s in enumerate(sources)}
        condition = f"attribute_not_exists(#st) OR #st IN ({', '.join(values)})"
        try:
            self._set_fields(incident_id, {"status": to, **fields}, condition=condition, condition_values=values)
            return True
        except Exception as exc:  # noqa: BLE001
            if self._conditional_failed(exc):
                return False
            raise

    def link_thread(self, channel: str, ts: str, incident_id: str, *, now: float) -> None:
        """Remember which incident a Slack thread belongs to (questions asked there are about it)."""
        self._call("put_item", Item={"pk": _s(f"THREAD#{channel}#{ts}"), "incident_id": _s(incident_id),
                                     "expires_at": _n(int(now) + INCIDENT_TTL_SECONDS)})

    def incident_for_thread(self, channel: str, ts: str) -> str | None:
        r = self._call("get_item", Key={"pk": _s(f"THREAD#{channel}#{ts}")})
        return r["Item"]["incident_id"]["S"] if "Item" in r else None

    # -- Slack event deliveries ----------------------------------------------------------------------
    def event_answered(self, event_id: str) -> bool:
        """True once a Slack event (by its ``event_id``) has been answered: a retry of it is only acked."""
        r = self._call("get_item", Key={"pk": _s(f"EVENT#{event_id}")}, ConsistentRead=True)
        return bool(r.get("Item", {}).get("answered", {}).get("BOOL"))

    def claim_event(self, event_id: str, *, now: float, lease_seconds: int = 90) -> bool:
        """True for the one delivery of a Slack event that answers it.

        A conditional write: the event is claimed when it was never seen, or when an earlier claim has
        neither answered it nor held it for ``lease_seconds`` (that delivery died): a Slack retry of a
        question whose first delivery was lost is answered, and answered once."""
        try:
            self._call(
                "put_item",
                Item={"pk": _s(f"EVENT#{event_id}"), "answered": {"BOOL": False}, "claimed_at": _n(now),
                      "expires_at": _n(int(now) + 86400)},
                ConditionExpression="attribute_not_exists(pk) OR (answered = :f AND claimed_at < :stale)",
                ExpressionAttributeValues={":f": {"BOOL": False}, ":stale": _n(now - lease_seconds)},
            )
            return True
        except Exception as exc:  # noqa: BLE001
            if self._conditional_failed(exc):
                return False
            raise

    def event_done(self, event_id: str, *, answered: bool = True) -> None:
        """Mark a claimed event answered, or (``answered=False``) release the claim for Slack's next retry."""
        if answered:
            self._call("update_item", Key={"pk": _s(f"EVENT#{event_id}")}, UpdateExpression="SET answered = :t",
                       ExpressionAttributeValues={":t": {"BOOL": True}})
        else:
            self._call("update_item", Key={"pk": _s(f"EVENT#{event_id}")}, UpdateExpression="SET claimed_at = :z",
                       ConditionExpression="answered = :f",
                       ExpressionAttributeValues={":z": _n(0), ":f": {"BOOL": False}})

    # -- the incident room: acknowledge, snooze, escalate, not an incident ----------------------------------
    def _conditional_update(self, key: str, expr: str, cond: str, values: dict[str, Any],
                            names: dict[str, str] | None = None) -> dict[str, Any] | None:
        extra: dict[str, Any] = {}
        names = {"#st": "status"} if names is None else names
        if names:
            extra["ExpressionAttributeNames"] = names
        if values:
            extra["ExpressionAttributeValues"] = values
        try:
            r = self._call("update_item", Key={"pk": _s(key)}, UpdateExpression=expr, ConditionExpression=cond,
                           ReturnValues="ALL_NEW", **extra)
        except Exception as exc:  # noqa: BLE001
            if self._conditional_failed(exc):
                return None
            raise
        return _plain(r["Attributes"])

    def acknowledge(self, incident_id: str, user: str, *, now: float) -> bool:
        """The first acknowledgement of a waiting incident names its owner; later ones change nothing."""
        return self._conditional_update(
            inc_key(incident_id), "SET acknowledged_by = :u, acknowledged_at = :now",
            "#st = :waiting AND attribute_not_exists(acknowledged_by)",
            {":u": _s(user), ":now": _n(now), ":waiting": _s(IncidentStatus.WAITING.value)}) is not None

    def snooze(self, incident_id: str, user: str, *, until: float) -> bool:
        """Silence the reminder until ``until`` (a later snooze extends it; an earlier one changes nothing)."""
        return self._conditional_update(
            inc_key(incident_id), "SET snoozed_until = :until, snoozed_by = :u",
            "#st = :waiting AND (attribute_not_exists(snoozed_until) OR snoozed_until < :until)",
            {":u": _s(user), ":until": _n(until), ":waiting": _s(IncidentStatus.WAITING.value)}) is not None

    def begin_transition(self, incident_id: str, user: str, status: IncidentStatus, *,
                         now: float) -> IncidentRecord | None:
        """Atomically move WAITING → ``status`` (ESCALATING | DISMISSING): the one winning click gets the item."""
        if status not in (IncidentStatus.ESCALATING, IncidentStatus.DISMISSING):
            raise ValueError(f"not a room transition: {status}")
        item = self._conditional_update(
            inc_key(incident_id), "SET #st = :to, action_by = :u, action_at = :now",
            "#st = :waiting AND attribute_exists(task_token)",
            {":to": _s(status.value), ":u": _s(user), ":now": _n(now), ":waiting": _s(IncidentStatus.WAITING.value)})
        return IncidentRecord.from_item(item) if item is not None else None

    def undo_transition(self, incident_id: str, status: IncidentStatus) -> None:
        self._conditional_update(inc_key(incident_id), "SET #st = :waiting REMOVE action_by, action_at",
                                 "#st = :from", {":waiting": _s(IncidentStatus.WAITING.value),
                                                 ":from": _s(status.value)})

    # -- muting a fingerprint ("not an incident") -------------------------------------------------------
    def mute(self, scope: str, fingerprint: str, *, until: float, by: str, reason: str, incident_id: str,
             now: float) -> None:
        """Occurrences of this fingerprint are counted, but open no incident, until ``until``."""
        self._call("update_item", Key={"pk": _s(fp_key(scope, fingerprint))},
                   UpdateExpression=("SET muted_until = :until, muted_by = :by, muted_reason = :why, "
                                     "muted_at = :now, muted_incident_id = :id, muted_count = :zero"),
                   ExpressionAttributeValues={":until": _n(until), ":by": _s(by), ":why": _s(reason[:500]),
                                              ":now": _n(now), ":id": _s(incident_id), ":zero": _n(0)})

    def unmute(self, scope: str, fingerprint: str) -> bool:
        return self._conditional_update(
            fp_key(scope, fingerprint), "REMOVE muted_until", "attribute_exists(muted_until)", {},
            names={}) is not None

    def count_if_muted(self, scope: str, fingerprint: str, n: int, *, now: float) -> Occurrence | None:
        """Intake's check: while the fingerprint is muted, add ``n`` to its muted count and open nothing."""
        a = self._conditional_update(
            fp_key(scope, fingerprint), "ADD muted_count :n SET last_seen = :now", "muted_until > :now",
            {":n": _n(n), ":now": _n(now)}, names={})
        if a is None:
            return None
        return Occurrence(str(a.get("muted_incident_id") or a.get("incident_id") or ""), int(a.get("muted_count", n)),
                          opened=False, status=MUTED)

    # -- open incidents, for /opsloop status (one item: no scan needed) -------------------------------
    def track_open(self, incident_id: str, summary: dict[str, Any]) -> None:
        key = {"pk": _s("OPEN_INCIDENTS")}
        self._call("update_item", Key=key, UpdateExpression="SET #m = if_not_exists(#m, :empty)",
                   ExpressionAttributeNames={"#m": "incidents"}, ExpressionAttributeValues={":empty": {"M": {}}})
        self._call("update_item", Key=key, UpdateExpression="SET #m.#id = :v",
                   ExpressionAttributeNames={"#m": "incidents", "#id": incident_id},
                   ExpressionAttributeValues={":v": _s(json.dumps(summary))})

    def _has_open_item(self) -> bool:
        r = self._call("get_item", Key={"pk": _s("OPEN_INCIDENTS")}, ConsistentRead=True)
        return "incidents" in r.get("Item", {})

    def untrack_open(self, incident_id: str) -> None:
        if self._has_open_item():
            self._call("update_item", Key={"pk": _s("OPEN_INCIDENTS")}, UpdateExpression="REMOVE #m.#id",
                       ExpressionAttributeNames={"#m": "incidents", "#id": incident_id})

    def open_incidents(self) -> dict[str, dict[str, Any]]:
        r = self._call("get_item", Key={"pk": _s("OPEN_INCIDENTS")}, ConsistentRead=True)
        raw = r.get("Item", {}).get("incidents", {}).get("M", {})
        return {k: json.loads(v["S"]) for k, v in raw.items() if "S" in v}

    def set_wait_token(self, incident_id: str, token: str, action: str, *, now: float) -> None:
        """A new wait began (``open`` or ``remind``): park its token and wait.

        When a click has just claimed the incident (RESOLVING, ESCALATING, DISMISSING) as the first wait
        timed out, the claim stays and only the token is replaced: the click's callback retries with it."""
        fields = {"task_token": token, "wait_action": action, "waiting_since": now}
        if not self.move(incident_id, IncidentStatus.WAITING, from_states=_WAIT_FROM, **fields):
            claims = {f":c{i}": _s(s.value) for i, s in enumerate(_CLAIMS)}
            try:
                self._set_fields(incident_id, fields, condition=f"#st IN ({', '.join(claims)})",
                                 condition_values=claims)
            except Exception as exc:  # noqa: BLE001 - a final state: the wait belongs to nobody
                if not self._conditional_failed(exc):
                    raise

    def begin_resolve(self, incident_id: str, user: str, *, now: float) -> IncidentRecord | None:
        """Atomically move WAITING → RESOLVING. Returns the item (with its token) for the one winning click,
        None when the incident is not waiting (already resolved, or not yet posted)."""
        try:
            r = self._call(
                "update_item", Key={"pk": _s(inc_key(incident_id))},
                UpdateExpression="SET #st = :resolving, resolved_by = :u, resolved_at = :now",
                ConditionExpression="#st = :waiting AND attribute_exists(task_token)",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":resolving": _s(IncidentStatus.RESOLVING.value),
                                           ":waiting": _s(IncidentStatus.WAITING.value), ":u": _s(user), ":now": _n(now)},
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:  # noqa: BLE001
            if self._conditional_failed(exc):
                return None
            raise
        return IncidentRecord.from_item(_plain(r["Attributes"]))

    def undo_resolve(self, incident_id: str) -> None:
        """SendTaskSuccess failed for a reason worth another click: back to WAITING."""
        self._call("update_item", Key={"pk": _s(inc_key(incident_id))},
                   UpdateExpression="SET #st = :waiting REMOVE resolved_by, resolved_at",
                   ConditionExpression="#st = :resolving",
                   ExpressionAttributeNames={"#st": "status"},
                   ExpressionAttributeValues={":waiting": _s(IncidentStatus.WAITING.value),
                                              ":resolving": _s(IncidentStatus.RESOLVING.value)})


def now() -> float:
    return time.time()
