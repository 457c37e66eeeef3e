"""The event publisher and task callbacks against botocore's Stubber (the request shapes botocore validates)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from opsloop.callbacks import StepFunctionsCallbacks
from opsloop.errors import CallbackRefused, TransientError
from opsloop.eventbus import EventBridgePublisher


def _client(service: str) -> object:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_an_opened_incident_is_announced_on_the_configured_bus() -> None:
    events = _client("events")
    with Stubber(events) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e1"}]},
                          {"Entries": [{"Source": "opsloop.intake", "DetailType": "Incident Opened",
                                        "EventBusName": "opsloop-bus", "Detail": json.dumps({"incident": {"id": 1}}),
                                        "Resources": []}]})
        EventBridgePublisher(events, "opsloop-bus").publish("opsloop.intake", "Incident Opened", {"incident": {"id": 1}})
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("failure", ["rejected", "throttled", "denied"])
def test_an_announcement_that_did_not_go_out_is_retried_later(failure: str) -> None:
    events = _client("events")
    with Stubber(events) as stub:
        if failure == "rejected":
            stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
                              {"Entries": ANY})
        else:
            stub.add_client_error("put_events", "ThrottlingException" if failure == "throttled" else "AccessDeniedException")
        with pytest.raises(TransientError, match="PutEvents"):
            EventBridgePublisher(events, "b").publish("s", "d", {})


def test_a_callback_on_a_token_that_no_longer_waits_is_refused_with_its_reason() -> None:
    sfn = _client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": "tok", "output": "{}"})
        stub.add_client_error("send_task_success", "TaskTimedOut")
        stub.add_client_error("send_task_success", "ThrottlingException")
        callbacks = StepFunctionsCallbacks(sfn)
        callbacks.succeed("tok", "{}")
        with pytest.raises(CallbackRefused) as ended:
            callbacks.succeed("tok", "{}")
        assert ended.value.wait_ended and ended.value.code == "TaskTimedOut"
        with pytest.raises(CallbackRefused) as refused:
            callbacks.succeed("tok", "{}")
        assert not refused.value.wait_ended
