"""One AWS error mapping for every service: what Step Functions retries, what it gives up on, and what the
operator reads. The DynamoDB store, the report archive (S3) and the Bedrock adapters all go through it."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws

from opsloop.aws_errors import aws_call, map_aws_error
from opsloop.bedrock.errors import map_error as map_bedrock_error
from opsloop.errors import PermanentError, TransientError


def _client_error(code: str, status: int = 400, message: str = "something happened") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException", "SlowDown",
                                  "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
                                  "TransactionConflictException", "throttlingException"])
def test_throttles_and_server_trouble_are_retried(code: str) -> None:
    assert isinstance(map_aws_error(_client_error(code), "DynamoDB update_item"), TransientError)


def test_any_429_or_5xx_is_retried_whatever_its_code() -> None:
    assert isinstance(map_aws_error(_client_error("Weird", 503), "S3 PutObject"), TransientError)
    assert isinstance(map_aws_error(_client_error("Weird", 429), "S3 PutObject"), TransientError)


def test_transport_failures_are_retried_but_a_bad_request_built_by_the_code_is_not() -> None:
    assert isinstance(map_aws_error(EndpointConnectionError(endpoint_url="https://x"), "op"), TransientError)
    assert isinstance(map_aws_error(ReadTimeoutError(endpoint_url="https://x"), "op"), TransientError)
    assert isinstance(map_aws_error(ParamValidationError(report="Key is missing"), "op"), PermanentError)


def test_a_permanent_error_names_the_operation_and_code_and_hides_credentials() -> None:
    err = map_aws_error(_client_error("AccessDenied", 403, "User AKIAIOSFODNN7EXAMPLE is not authorized"),
                        "S3 PutObject to s3://bucket/reports/x.md")
    assert isinstance(err, PermanentError)
    assert str(err).startswith("S3 PutObject to s3://bucket/reports/x.md: AccessDenied: User [redacted]")
    assert "AKIA" not in str(err)


def test_bedrock_keeps_its_own_transient_code_and_its_hints() -> None:
    assert isinstance(map_bedrock_error(_client_error("ConflictException"), "invoke_agent"), TransientError)
    assert isinstance(map_aws_error(_client_error("ConflictException"), "DynamoDB put_item"), PermanentError)
    denied = map_bedrock_error(_client_error("AccessDeniedException", 403, "no access"), "converse",
                               model_id="amazon.nova-pro-v1:0")
    assert "Enable model access in the Bedrock console for amazon.nova-pro-v1:0" in str(denied)


def test_the_incident_store_maps_dynamodb_failures_and_leaves_failed_conditions_to_its_caller() -> None:
    from opsloop.incidents import THROTTLE_RETRIES, IncidentStore

    client = boto3.client("dynamodb", region_name="us-east-1")
    store = IncidentStore(client, "incidents")
    with Stubber(client) as stub:
        # a throttle is retried in place a few times (it was not applied), then left to Step Functions / Lambda
        for _ in range(THROTTLE_RETRIES + 1):
            stub.add_client_error("get_item", "ProvisionedThroughputExceededException", http_status_code=400)
        stub.add_client_error("get_item", "ResourceNotFoundException", "Requested resource not found")
        with pytest.raises(TransientError):
            store.get_incident("i-1")
        with pytest.raises(PermanentError, match="DynamoDB get_item on incidents: ResourceNotFoundException"):
            store.get_incident("i-1")
        stub.add_client_error("update_item", "ConditionalCheckFailedException")
        with pytest.raises(ClientError):
            store._call("update_item", Key={"pk": {"S": "x"}}, UpdateExpression="SET a = :a",
                        ExpressionAttributeValues={":a": {"S": "b"}}, ConditionExpression="attribute_exists(pk)")


def test_storing_a_report_in_a_missing_bucket_says_which_bucket_and_is_not_retried() -> None:
    from opsloop.archive import S3ReportArchive
    from opsloop.lifecycle import store_step
    from opsloop.models import Report

    report = Report(title="t", fingerprint="f" * 16, service="orders-api", severity="high", first_seen="",
                    last_seen="", occurrences=1, symptoms="s", impact="i", root_cause="r")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        incident = type("I", (), {"source": "/ecs/orders-api", "fingerprint": "f" * 16})()
        with pytest.raises(PermanentError, match=r"s3://no-such-bucket/reports/.*NoSuchBucket"):
            store_step(incident, report, {}, S3ReportArchive(s3, "no-such-bucket"), "reports/",
                       store=None)  # type: ignore[arg-type]


def test_aws_call_chains_the_vendor_error_as_the_cause() -> None:
    def boom(**_: object) -> None:
        raise _client_error("InternalError", 500)

    with pytest.raises(TransientError) as info:
        aws_call("S3 PutObject", boom)
    assert isinstance(info.value.__cause__, ClientError)
