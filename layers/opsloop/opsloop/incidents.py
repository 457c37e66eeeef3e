"""The incidents table: storm control per fingerprint and the state of each incident.

One table, one string key ``pk``:

* ``FP#<scope>#<fingerprint>`` — the fingerprint's current incident in one scope: ``<account>#<region>#<log
  group or alarm>`` (see :func:`storm_scope`), so the same error in prod and in staging is two incidents. Every intake container that sees the
  same error races on this item with conditional writes: the first writer opens the incident, all others
  add their occurrences to its counter (``ADD`` is atomic, so counts are exact).
* ``INC#<incident_id>`` — one incident: its redacted sample, the Slack message, the task token of the
  current wait (never sent to Slack), who resolved it.

States of a fingerprint item: ``PENDING`` (fewer than the minimum occurrences inside the window),
``OPEN`` (an incident exists; every occurrence counts towards it until it is closed), ``CLOSED``
(resolved, failed or escalated; the next occurrence opens a new incident linked to this one).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .aws_errors import error_code, is_conditional_check_failed, map_aws_error
from .errors import TransientError

PENDING, OPEN, CLOSED = "PENDING", "OPEN", "CLOSED"
INCIDENT_TTL_SECONDS = 400 * 24 * 3600
ANNOUNCE_GRACE_SECONDS = 60
THROTTLE_RETRIES = 4
LINK_SECONDS = 24 * 3600  # the same error opened elsewhere within a day is named as related


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
    status: str  # PENDING | OPEN
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
                return Occurrence(a["incident_id"], int(a["count"]), False, OPEN, a.get("previous_incident_id"),
                                  stale, float(a.get("last_notified_at", 0)))
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
                        return Occurrence(a["incident_id"], int(a["count"]), False, PENDING, a.get("previous_incident_id"))
                    opened = self._promote(key, a["incident_id"])  # exactly one caller wins
                    return Occurrence(a["incident_id"], int(a["count"]), opened, OPEN, a.get("previous_incident_id"),
                                      opened)
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
                return Occurrence(new_incident_id, n, status == OPEN, status, prev, status == OPEN)
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
                      "status": _s("OPENED"), "created_at": _n(now),
                      "expires_at": _n(int(now) + INCIDENT_TTL_SECONDS)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:  # noqa: BLE001
            if not self._conditional_failed(exc):
                raise

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        r = self._call("get_item", Key={"pk": _s(inc_key(incident_id))}, ConsistentRead=True)
        if "Item" not in r:
            return None
        item = _plain(r["Item"])
        for k in ("incident", "classification", "analysis", "slack", "resolution", "resolve_draft"):
            if isinstance(item.get(k), str):
                item[k] = json.loads(item[k])
        return item

    def update_incident(self, incident_id: str, **fields: Any) -> None:
        """Set fields on an incident (dicts and lists are stored as JSON)."""
        if not fields:
            return
        names, values, sets = {}, {}, []
        for i, (k, v) in enumerate(fields.items()):
            names[f"#f{i}"] = k
            if isinstance(v, (dict, list)):
                values[f":v{i}"] = _s(json.dumps(v))
            elif isinstance(v, bool):
                values[f":v{i}"] = {"BOOL": v}
            elif isinstance(v, (int, float)):
                values[f":v{i}"] = _n(v)
            else:
                values[f":v{i}"] = _s(str(v))
            sets.append(f"#f{i} = :v{i}")
        self._call("update_item", Key={"pk": _s(inc_key(incident_id))}, UpdateExpression="SET " + ", ".join(sets),
                   ExpressionAttributeNames=names, ExpressionAttributeValues=values)

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
            {":u": _s(user), ":now": _n(now), ":waiting": _s("WAITING")}) is not None

    def snooze(self, incident_id: str, user: str, *, until: float) -> bool:
        """Silence the reminder until ``until`` (a later snooze extends it; an earlier one changes nothing)."""
        return self._conditional_update(
            inc_key(incident_id), "SET snoozed_until = :until, snoozed_by = :u",
            "#st = :waiting AND (attribute_not_exists(snoozed_until) OR snoozed_until < :until)",
            {":u": _s(user), ":until": _n(until), ":waiting": _s("WAITING")}) is not None

    def begin_transition(self, incident_id: str, user: str, status: str, *, now: float) -> dict[str, Any] | None:
        """Atomically move WAITING → ``status`` (ESCALATING | DISMISSING): the one winning click gets the item."""
        item = self._conditional_update(
            inc_key(incident_id), "SET #st = :to, action_by = :u, action_at = :now",
            "#st = :waiting AND attribute_exists(task_token)",
            {":to": _s(status), ":u": _s(user), ":now": _n(now), ":waiting": _s("WAITING")})
        if item is not None:
            for k in ("incident", "slack"):
                if isinstance(item.get(k), str):
                    item[k] = json.loads(item[k])
        return item

    def undo_transition(self, incident_id: str, status: str) -> None:
        self._conditional_update(inc_key(incident_id), "SET #st = :waiting REMOVE action_by, action_at",
                                 "#st = :from", {":waiting": _s("WAITING"), ":from": _s(status)})

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
                          False, "MUTED")

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
        self.update_incident(incident_id, task_token=token, wait_action=action, waiting_since=now, status="WAITING")

    def begin_resolve(self, incident_id: str, user: str, *, now: float) -> dict[str, Any] | None:
        """Atomically move WAITING → RESOLVING. Returns the item (with its token) for the one winning click,
        None when the incident is not waiting (already resolved, or not yet posted)."""
        try:
            r = self._call(
                "update_item", Key={"pk": _s(inc_key(incident_id))},
                UpdateExpression="SET #st = :resolving, resolved_by = :u, resolved_at = :now",
                ConditionExpression="#st = :waiting AND attribute_exists(task_token)",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":resolving": _s("RESOLVING"), ":waiting": _s("WAITING"),
                                           ":u": _s(user), ":now": _n(now)},
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:  # noqa: BLE001
            if self._conditional_failed(exc):
                return None
            raise
        item = _plain(r["Attributes"])
        for k in ("incident", "slack"):
            if isinstance(item.get(k), str):
                item[k] = json.loads(item[k])
        return item

    def undo_resolve(self, incident_id: str) -> None:
        """SendTaskSuccess failed for a reason worth another click: back to WAITING."""
        self._call("update_item", Key={"pk": _s(inc_key(incident_id))},
                   UpdateExpression="SET #st = :waiting REMOVE resolved_by, resolved_at",
                   ConditionExpression="#st = :resolving",
                   ExpressionAttributeNames={"#st": "status"},
                   ExpressionAttributeValues={":waiting": _s("WAITING"), ":resolving": _s("RESOLVING")})


def now() -> float:
    return time.time()
