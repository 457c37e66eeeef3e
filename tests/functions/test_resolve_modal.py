"""Resolve asks for confirmation: the click opens a pre-filled modal, the submission resolves once, and only
confirmed text becomes the report's root cause, fix and prevention."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opsloop.callbacks import StepFunctionsCallbacks
from opsloop.incidents import IncidentStore
from opsloop.local.slack_server import SlackStandIn
from opsloop.models import Analysis, ThreadMessage
from opsloop.report import metadata, to_markdown
from opsloop.slack.interactions import (
    interaction_body,
    view_submission_body,
)
from opsloop.slack.notifier import SlackNotifier, make_client
from opsloop.slack.router import SlackPorts, route

from .helpers import RecordingSfn, create_table, load_event, signed_event

INCIDENT = load_event("state_machine_input.json")["incident"]
IID = INCIDENT["incident_id"]
SECRET = "8f14e45fceea167a5a36dedd4bea2543"
TOKEN = "xoxb-1111-2222-notarealtoken"
ONCALL = "U0ONCALL01"


def _event(body: str) -> dict[str, Any]:
    return signed_event(body, SECRET)


@pytest.fixture()
def room() -> Any:
    out = Path(tempfile.mkdtemp())
    with mock_aws(), SlackStandIn(out, TOKEN, "C0OPS", members=(ONCALL,)) as slack:
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        store = IncidentStore(ddb, create_table(ddb))
        notifier = SlackNotifier(make_client(TOKEN, base_url=slack.base_url), "C0OPS")
        store.create_incident(INCIDENT, now=time.time())
        analysis = Analysis(summary="Pool exhausted", root_cause="A batch job holds connections.",
                            fix_steps=["Stop the batch job.", "Raise the pool size."], sources=[])
        from opsloop.models import Classification, Incident

        posted = notifier.post_incident(Incident.from_dict(INCIDENT), Classification("database", "high"), analysis)
        slack.seed_thread("C0OPS", posted.ts, [{"user": "U0DBA00001", "text": "root cause: reporting job on the writer"}])
        store.update_incident(IID, slack={"channel": posted.channel, "ts": posted.ts, "permalink": ""},
                              analysis=analysis.to_dict())
        store.set_wait_token(IID, "token-1", "open", now=time.time())
        sfn = RecordingSfn()
        ports = SlackPorts(signing_secret=lambda: SECRET, store=lambda: store, callbacks=lambda: StepFunctionsCallbacks(sfn),
                           notifier=lambda: notifier, analyst=lambda: None, allowed_resolvers=lambda: [ONCALL])
        yield store, slack, sfn, ports, posted


def _click(ports: SlackPorts, posted: Any, user: str = ONCALL) -> Any:
    return route(_event(interaction_body(incident_id=IID, user_id=user, channel_id="C0OPS", message_ts=posted.ts)), ports)


def test_resolve_opens_a_modal_prefilled_from_thread_and_analysis_and_resolves_nothing_yet(room: Any) -> None:
    store, slack, sfn, ports, posted = room
    response = _click(ports, posted)
    assert response.status == 200 and response.body["outcome"] == "confirming"
    assert len(slack.views) == 1 and not sfn.calls and store.get_incident(IID).status == "WAITING"
    inputs = {b["block_id"]: b["element"].get("initial_value", "") for b in slack.views[0]["blocks"] if b["type"] == "input"}
    assert inputs["root_cause"] == "reporting job on the writer"
    assert inputs["resolution"] == "Stop the batch job.\nRaise the pool size."
    assert slack.views[0]["private_metadata"] == IID


def test_the_submitted_modal_resolves_once_with_the_confirmed_text(room: Any) -> None:
    store, slack, sfn, ports, posted = room
    _click(ports, posted)
    edited = {"root_cause": "The nightly report ran on the writer and used every connection."}
    body = view_submission_body(slack.views[0], ONCALL, values=edited)
    first, second = route(_event(body), ports), route(_event(body), ports)
    assert first.status == 200 and first.body == {}, "an empty 200 closes the modal"
    assert second.body["response_action"] == "errors" and "already resolved" in second.body["errors"]["root_cause"]
    assert len(sfn.calls) == 1
    confirmed = json.loads(sfn.calls[0]["output"])["confirmed"]
    assert confirmed["root_cause"] == edited["root_cause"] and confirmed["by"] == ONCALL
    assert confirmed["attribution"]["root_cause"] == f"written by <@{ONCALL}>"
    assert confirmed["attribution"]["resolution"] == f"drafted from opsloop's analysis, confirmed by <@{ONCALL}>"


def test_a_submission_by_someone_not_allowed_changes_nothing(room: Any) -> None:
    store, slack, sfn, ports, posted = room
    _click(ports, posted)
    response = route(_event(view_submission_body(slack.views[0], "U0INTRUDER")), ports)
    assert response.body["response_action"] == "errors" and "not allowed" in response.body["errors"]["root_cause"]
    assert not sfn.calls and store.get_incident(IID).status == "WAITING"


def test_an_unauthorised_click_opens_no_modal(room: Any) -> None:
    store, slack, sfn, ports, posted = room
    assert _click(ports, posted, user="U0INTRUDER").body["outcome"] == "forbidden"
    assert slack.views == []


def _report(resolution: dict[str, Any]) -> Any:
    from opsloop.lifecycle import apply_confirmation
    from opsloop.models import Classification, Incident
    from opsloop.report_rules import ExtractiveSummarizer

    analysis = Analysis(summary="s", root_cause="A batch job holds connections.", fix_steps=["Stop it."],
                        sources=[], grounded=True)
    thread = [ThreadMessage(user="U0ANYONE01", text="root cause: the intern did it", ts="1790000001.000100")]
    report = ExtractiveSummarizer().summarize(Incident.from_dict(INCIDENT), Classification("database", "high"),
                                              analysis, thread, ONCALL, None)
    return apply_confirmation(report, analysis, resolution)


def test_a_thread_line_is_not_the_root_cause_until_someone_confirms_it() -> None:
    draft = _report({"resolved_by": ONCALL})
    assert draft.draft and "the intern did it" not in draft.root_cause
    assert metadata(draft)["metadataAttributes"]["kind"] == "draft" and "kind: draft" in to_markdown(draft)

    confirmed = _report({"resolved_by": ONCALL, "confirmed": {
        "by": ONCALL, "root_cause": "Reporting job on the writer.", "resolution": "Moved it to the replica.",
        "prevention": "", "attribution": {"root_cause": f"written by <@{ONCALL}>"}}})
    assert not confirmed.draft and confirmed.root_cause == "Reporting job on the writer."
    assert confirmed.resolution == ["Moved it to the replica."] and confirmed.prevention == []
    md = to_markdown(replace(confirmed))
    assert f"confirmed by <@{ONCALL}>" in md and metadata(confirmed)["metadataAttributes"]["kind"] == "report"


def test_twenty_concurrent_submissions_of_the_same_signed_modal_resolve_exactly_once(room: Any) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    store, slack, sfn, ports, posted = room
    _click(ports, posted)

    class AtomicCalls:  # DynamoDB applies each request atomically; moto's memory backend does not lock
        def __init__(self, client: Any) -> None:
            self._client, self._lock = client, threading.Lock()

        def __getattr__(self, name: str) -> Any:
            fn = getattr(self._client, name)

            def call(**kwargs: Any) -> Any:
                with self._lock:
                    return fn(**kwargs)
            return call

    store._db = AtomicCalls(store._db)
    event = _event(view_submission_body(slack.views[0], ONCALL))  # one signed request, replayed 20 times
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: route(event, ports), range(20)))
    assert all(a.status == 200 for a in answers)
    assert (sum(1 for a in answers if a.body == {}), len(sfn.calls)) == (1, 1)
    assert store.get_incident(IID).status == "RESOLVING"
