"""The sample events in events/ are valid for the handlers they are for (the same parsers and models)."""

from __future__ import annotations


import pytest

from opsloop.logparse import decode_subscription
from opsloop.models import Analysis, Classification, Incident, Report
from opsloop.slack.interactions import UrlVerification, parse_event, parse_interaction, verify_request

from .helpers import ROOT, load_event

EVENTS = ROOT / "events"
# Which sample event exercises which function directory (sam local invoke <Fn> -e events/<file>).
FOR_FUNCTION = {
    "intake": ["cloudwatch_logs_subscription.json", "cloudwatch_logs_control_message.json",
               "cloudwatch_alarm_state_change.json", "cloudwatch_logs_subscription_member_account.json",
               "kinesis_member_logs.json"],
    "classify": ["classify.json"], "analyze": ["analyze.json"], "notify_slack": ["notify_slack_open.json"],
    "summarize": ["summarize.json"], "publish_confluence": ["publish_confluence.json"],
    "store_report": ["store_report.json"], "ingest_knowledge": ["ingest_knowledge_start.json", "ingest_knowledge_status.json"],
    "report_failure": ["report_failure.json"],
    "slack_interactions": ["slack_interactions_resolve.json", "slack_events_url_verification.json"],
    "seed_knowledge": ["seed_knowledge_create.json"], "demo_errors": ["demo_errors_scheduled.json"],
}


def test_every_function_has_a_sample_event_and_every_event_is_used() -> None:
    functions = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    assert functions == set(FOR_FUNCTION)
    listed = {f for files in FOR_FUNCTION.values() for f in files}
    on_disk = {p.name for p in EVENTS.glob("*.json")} - {"state_machine_input.json", "slack_thread.json"}
    assert listed == on_disk


def test_subscription_samples_decode_like_lambda_receives_them() -> None:
    batch = decode_subscription(load_event("cloudwatch_logs_subscription.json")["awslogs"]["data"])
    assert batch.message_type == "DATA_MESSAGE" and len(batch.lines) == 3 and not batch.problems
    control = decode_subscription(load_event("cloudwatch_logs_control_message.json")["awslogs"]["data"])
    assert control.message_type == "CONTROL_MESSAGE" and control.lines == []


@pytest.mark.parametrize("name", [f for files in FOR_FUNCTION.values() for f in files if not f.startswith(
    ("cloudwatch", "kinesis_", "slack_", "seed_", "demo_"))] + ["state_machine_input.json"])
def test_step_events_parse_into_the_models_the_handlers_use(name: str) -> None:
    event = load_event(name)
    Incident.from_dict(event["incident"])
    for key, model in (("classification", Classification), ("analysis", Analysis), ("report", Report)):
        if key in event:
            model.from_dict(event[key])


def test_slack_samples_are_signed_requests_the_handler_accepts_at_their_time() -> None:
    resolve = load_event("slack_interactions_resolve.json")
    verify_request(resolve["headers"], resolve["body"], "replace-with-your-signing-secret", now=1795598100)
    click = parse_interaction(resolve["body"])
    assert click.action_id == "resolve_incident"
    assert click.incident_id == load_event("state_machine_input.json")["incident"]["incident_id"]
    events = load_event("slack_events_url_verification.json")
    verify_request(events["headers"], events["body"], "replace-with-your-signing-secret", now=1795598100)
    assert isinstance(parse_event(events["body"]), UrlVerification)


def test_thread_sample_is_a_list_of_messages() -> None:
    from opsloop.local.runner import load_thread

    assert len(load_thread(EVENTS / "slack_thread.json")) == 5
