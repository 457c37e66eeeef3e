"""Test helpers for Bedrock adapters: fake credentials and a Stubber that can stub event streams.

``invoke_agent`` answers with an event stream (the ``completion`` member). botocore's Stubber validates a
stubbed response against the output shape and rejects anything in place of the stream, so
:class:`EventStreamStubber` validates every other member as usual and lets tests put an iterable of events
(``{"chunk": {"bytes": b"...", "attribution": {...}}}``) there, which is what the client code iterates.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Iterator

import boto3
from botocore.exceptions import EventStreamError
from botocore.stub import Stubber

REGION = "us-east-1"


def fake_aws_env(monkeypatch: Any) -> None:
    """Credentials that can sign but never authenticate, and no profile/config file lookups."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


class EventStreamStubber(Stubber):
    """A Stubber that accepts any iterable for event-stream output members and validates the rest."""

    def _validate_operation_response(self, operation_name: str, service_response: dict) -> None:
        output_shape = self.client.meta.service_model.operation_model(operation_name).output_shape
        response = copy.copy(service_response)
        response.pop("ResponseMetadata", None)
        if output_shape is not None:
            for name, member in output_shape.members.items():
                if member.serialization.get("eventstream") and name in response:
                    if not isinstance(response[name], Iterable):
                        raise TypeError(f"{operation_name}.{name} must be an iterable of events")
                    response[name] = {}  # an empty event structure: the member is required, not its events
        self._validate_response(output_shape, response)


def chunk(text: str = "", *, references: list[dict] | None = None) -> dict:
    """One ``completion`` event: answer bytes plus optional citations."""
    event: dict = {"chunk": {"bytes": text.encode("utf-8")}}
    if references is not None:
        event["chunk"]["attribution"] = {"citations": [
            {"generatedResponsePart": {"textResponsePart": {"text": text}}, "retrievedReferences": references}]}
    return event


def s3_reference(uri: str, text: str = "", metadata: dict | None = None) -> dict:
    return {"content": {"text": text}, "location": {"type": "S3", "s3Location": {"uri": uri}},
            "metadata": metadata or {}}


def failing_stream(events: list[dict], code: str, message: str = "") -> Iterator[dict]:
    """Events, then the error a real EventStream raises when the service sends an exception event."""
    yield from events
    raise EventStreamError({"Error": {"Code": code, "Message": message}}, "InvokeAgent")
