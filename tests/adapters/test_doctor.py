"""``opsloop doctor`` against the local Slack and Confluence stand-ins (real slack-sdk and
atlassian-python-api clients) and botocore Stubbers for Secrets Manager, Bedrock and CloudWatch Logs.

A healthy installation passes every check; then each failure a user can make is planted one at a time and
doctor must name the failing check, give the fix and exit non-zero.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from botocore.stub import Stubber

from opsloop import doctor
from opsloop.local.confluence_server import ConfluenceStandIn
from opsloop.local.slack_server import SlackStandIn
from tests.stubber import client

from .test_confluence_wiki import assert_request_in_contract, contract_request

TOKEN = "xoxb-1111-2222-doctor"
SIGNING = "8f742231b10e8888abcd99eeefff85a5"  # 32 hex characters, like a Slack signing secret
USER, API_TOKEN = "ops-bot@example.com", "ATATT3xFfGF0-doctor-token"
CHANNEL = "C0INCIDENTS"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonBedrock-opsloop-x-AbCdEf"
INTAKE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:opsloop-IntakeFunction-1"
MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
EMBED_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
KB, DS = "KB12345678", "DS12345678"
AGENT, ALIAS = "AGENT12345", "ALIAS12345"


def secret(**overrides: str) -> dict[str, Any]:
    value = {"slack_bot_token": TOKEN, "slack_signing_secret": SIGNING, "username": USER, "password": API_TOKEN}
    value.update(overrides)
    return {"ARN": SECRET_ARN, "Name": "AmazonBedrock-opsloop-x", "SecretString": json.dumps(value)}


AVAILABLE = {"authorizationStatus": "AUTHORIZED", "entitlementAvailability": "AVAILABLE",
             "regionAvailability": "AVAILABLE", "agreementAvailability": {"status": "AVAILABLE"}}
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


def healthy() -> dict[str, Any]:
    """Every AWS response of a healthy installation, by operation (the order doctor asks in)."""
    return {
        "get_secret_value": secret(),
        "availability_analysis": {"modelId": "anthropic.claude-3-5-haiku-20241022-v1:0", **AVAILABLE},
        "get_knowledge_base": {"knowledgeBase": {
            "knowledgeBaseId": KB, "name": "opsloop", "knowledgeBaseArn": f"arn:aws:bedrock:us-east-1:1:knowledge-base/{KB}",
            "roleArn": "arn:aws:iam::123456789012:role/kb", "status": "ACTIVE", "createdAt": NOW, "updatedAt": NOW,
            "knowledgeBaseConfiguration": {"type": "VECTOR",
                                           "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMBED_ARN}}}},
        "availability_embedding": {"modelId": "amazon.titan-embed-text-v2:0", **AVAILABLE},
        "get_data_source": {"dataSource": {
            "knowledgeBaseId": KB, "dataSourceId": DS, "name": "knowledge", "status": "AVAILABLE",
            "createdAt": NOW, "updatedAt": NOW,
            "dataSourceConfiguration": {"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::kb"}}}},
        "list_ingestion_jobs": {"ingestionJobSummaries": [{
            "knowledgeBaseId": KB, "dataSourceId": DS, "ingestionJobId": "JOB1", "status": "COMPLETE",
            "startedAt": NOW, "updatedAt": NOW, "statistics": {"numberOfDocumentsScanned": 12}}]},
        "get_agent_alias": {"agentAlias": {
            "agentId": AGENT, "agentAliasId": ALIAS, "agentAliasName": "live", "agentAliasStatus": "PREPARED",
            "agentAliasArn": f"arn:aws:bedrock:us-east-1:123456789012:agent-alias/{AGENT}/{ALIAS}",
            "routingConfiguration": [{"agentVersion": "1"}], "createdAt": NOW, "updatedAt": NOW}},
        "describe_account_policies": {"accountPolicies": [{
            "policyName": "opsloop-subscription", "policyType": "SUBSCRIPTION_FILTER_POLICY", "scope": "ALL",
            "policyDocument": json.dumps({"DestinationArn": INTAKE_ARN, "FilterPattern": "?ERROR"})}]},
        "describe_subscription_filters": {"subscriptionFilters": [{
            "filterName": "opsloop", "logGroupName": "/aws/lambda/orders-api", "destinationArn": INTAKE_ARN}]},
    }


def config(**overrides: Any) -> doctor.DoctorConfig:
    base: dict[str, Any] = dict(secret_arn=SECRET_ARN, slack_channel_id=CHANNEL, confluence_space_key="OPS",
                                analyst="bedrock-kb", model_id=MODEL, knowledge_base_id=KB, data_source_id=DS,
                                intake_function_arn=INTAKE_ARN)
    base.update(overrides)
    return doctor.DoctorConfig(**base)


class Env:
    """The stand-ins running, the Stubbers ready; ``run()`` answers with the planted AWS responses."""

    def __init__(self, tmp_path: Path, *, scopes: tuple[str, ...] | None = doctor.DEFAULT_SCOPES,
                 members: tuple[str, ...] = ("U0ALICE", "U0OPSLOOP"), can_update: bool = True) -> None:
        self.slack = SlackStandIn(tmp_path, TOKEN, CHANNEL, members=members, scopes=scopes)
        self.wiki = ConfluenceStandIn(tmp_path, USER, API_TOKEN, "OPS", can_update=can_update)
        self.exchanges: list[requests.Response] = []

    def __enter__(self) -> "Env":
        slack_url = self.slack.start()
        self.wiki_url = self.wiki.start()
        self.slack_url = slack_url
        # A parent page to publish under, created through the stand-in's API.
        created = requests.post(self.wiki_url + "/rest/api/content", auth=(USER, API_TOKEN), timeout=5, json={
            "type": "page", "title": "Incident reports", "space": {"key": "OPS"},
            "body": {"storage": {"value": "<p>Reports</p>", "representation": "storage"}}}).json()
        self.parent_id = created["id"]
        return self

    def __exit__(self, *exc: object) -> None:
        self.slack.stop()
        self.wiki.stop()

    def confluence_client(self, url: str, username: str, password: str) -> Any:
        from opsloop.confluence.wiki import make_client

        c = make_client(url, username, password, timeout=5)
        c._session.hooks["response"].append(lambda r, *a, **k: self.exchanges.append(r))
        return c

    def run(self, cfg: doctor.DoctorConfig, responses: dict[str, Any]) -> tuple[int, list[doctor.Result], str]:
        cfg = doctor.DoctorConfig(**{**cfg.__dict__, "slack_api_url": cfg.slack_api_url or self.slack_url,
                                     "confluence_url": cfg.confluence_url or self.wiki_url})
        clients = {s: client(s) for s in ("secretsmanager", "bedrock", "bedrock-agent", "logs")}
        stubs = {s: Stubber(c) for s, c in clients.items()}
        plan = _plan(cfg, responses)
        for service, op, answer, params in plan:
            if isinstance(answer, Exception):
                stubs[service].add_client_error(op, service_error_code=answer.args[0], service_message=answer.args[1],
                                                expected_params=params)
            elif answer is not None:
                stubs[service].add_response(op, answer, params)
        for s in stubs.values():
            s.activate()
        ctx = doctor.Context(cfg, clients.__getitem__, confluence_client=self.confluence_client,
                             required_scopes=doctor.required_scopes())
        results = doctor.run(ctx)
        out = io.StringIO()
        code = doctor.report(results, out)
        return code, results, out.getvalue()


def _plan(cfg: doctor.DoctorConfig, r: dict[str, Any]) -> list[tuple[str, str, Any, dict[str, Any] | None]]:
    plan: list[tuple[str, str, Any, dict[str, Any] | None]] = [
        ("secretsmanager", "get_secret_value", r["get_secret_value"], {"SecretId": SECRET_ARN}),
        ("bedrock", "get_foundation_model_availability", r["availability_analysis"],
         {"modelId": "anthropic.claude-3-5-haiku-20241022-v1:0"}),
        ("bedrock-agent", "get_knowledge_base", r["get_knowledge_base"], {"knowledgeBaseId": KB}),
        ("bedrock", "get_foundation_model_availability", r["availability_embedding"],
         {"modelId": "amazon.titan-embed-text-v2:0"}),
        ("bedrock-agent", "get_data_source", r["get_data_source"], {"knowledgeBaseId": KB, "dataSourceId": DS}),
        ("bedrock-agent", "list_ingestion_jobs", r["list_ingestion_jobs"],
         {"knowledgeBaseId": KB, "dataSourceId": DS, "sortBy": {"attribute": "STARTED_AT", "order": "DESCENDING"},
          "maxResults": 1}),
    ]
    if cfg.analyst == "bedrock-agent":
        plan.append(("bedrock-agent", "get_agent_alias", r["get_agent_alias"],
                     {"agentId": AGENT, "agentAliasId": ALIAS}))
    plan.append(("logs", "describe_account_policies", r["describe_account_policies"],
                 {"policyType": "SUBSCRIPTION_FILTER_POLICY"}))
    for group in cfg.log_group_names:
        plan.append(("logs", "describe_subscription_filters", r["describe_subscription_filters"],
                     {"logGroupName": group}))
    return plan


def by_name(results: list[doctor.Result]) -> dict[str, doctor.Result]:
    return {r.check: r for r in results}


def test_a_healthy_installation_passes_every_check_and_stays_in_the_confluence_contract(tmp_path: Path) -> None:
    with Env(tmp_path) as env:
        code, results, text = env.run(config(confluence_parent_page_id=env.parent_id), healthy())
        exchanges = list(env.exchanges)
    assert code == 0, text
    assert [r.check for r in results] == [c.name for c in doctor.CHECKS]
    assert all(r.status == "ok" for r in results if r.check != "bedrock.agent_alias"), text
    assert by_name(results)["bedrock.agent_alias"].status == "skip"  # the analyst is bedrock-kb
    lines = text.splitlines()
    assert lines[0].startswith("✓ secret.fields") and "15 passed, 0 failed, 1 skipped" in text
    # No secret value is printed, ever.
    for value in (TOKEN, SIGNING, API_TOKEN):
        assert value not in text
    # The Slack calls doctor made are the ones the manifest's scopes allow.
    calls = [json.loads(p.read_text())["method"] for p in sorted((tmp_path / "slack").glob("*.json"))]
    assert calls == ["auth.test", "conversations.members"]
    # Every Confluence request is one of Atlassian's published v1 operations, with a valid body.
    paths = [urlsplit_path(r.request.url) for r in exchanges]
    assert any(p.endswith(f"/content/{env.parent_id}/permission/check") for p in paths)
    for response in exchanges:
        prepared = response.request
        assert_request_in_contract(contract_request(prepared.method or "GET", prepared.url or "", prepared.body,
                                                    dict(prepared.headers)))


def urlsplit_path(url: str | None) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url or "").path


def test_the_agent_alias_is_checked_when_the_analyst_is_the_agent(tmp_path: Path) -> None:
    r = healthy()
    r["get_agent_alias"]["agentAlias"]["agentAliasStatus"] = "FAILED"
    r["get_agent_alias"]["agentAlias"]["failureReasons"] = ["agent not prepared"]
    with Env(tmp_path) as env:
        code, results, text = env.run(config(analyst="bedrock-agent", agent_id=AGENT, agent_alias_id=ALIAS,
                                             confluence_parent_page_id=env.parent_id), r)
    res = by_name(results)["bedrock.agent_alias"]
    assert code == 1 and res.status == "fail"
    assert "FAILED: agent not prepared" in res.detail and "prepare-agent" in res.fix
    assert "✗ bedrock.agent_alias" in text


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(r: dict[str, Any]) -> None:
        keys = path.split(".")
        node = r
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[keys[-1]] = value

    return apply


# (case id, change to the AWS answers, change to the config, Env options, failing check, text in the fix or detail)
AWS_FAILURES = [
    ("secret-placeholder", _set("get_secret_value", secret(password="replace-me")), {}, {},
     "secret.fields", "still a placeholder: password"),
    ("secret-empty-field", _set("get_secret_value", secret(username="")), {}, {}, "secret.fields", "empty: username"),
    ("secret-not-json", _set("get_secret_value", {"SecretString": "xoxb-only"}), {}, {}, "secret.fields",
     "not a JSON object"),
    ("secret-unreadable", _set("get_secret_value", Exception("AccessDeniedException", "no")), {}, {},
     "secret.fields", "lacks the permission"),
    ("user-token", _set("get_secret_value", secret(slack_bot_token="xoxp-123")), {}, {}, "secret.fields",
     "Bot User OAuth Token"),
    ("signing-secret-length", _set("get_secret_value", secret(slack_signing_secret="abc123")), {}, {},
     "slack.signing_secret", "6 characters"),
    ("signing-secret-placeholder", _set("get_secret_value", secret(slack_signing_secret="replace-me")), {}, {},
     "secret.fields", "still a placeholder: slack_signing_secret"),
    ("slack-token-rejected", _set("get_secret_value", secret(slack_bot_token="xoxb-wrong")), {}, {},
     "slack.auth", "invalid_auth"),
    ("scope-missing", None, {}, {"scopes": ("chat:write", "channels:history", "channels:read", "app_mentions:read")},
     "slack.scopes", "lacks groups:history, groups:read"),
    ("no-scope-header", None, {}, {"scopes": None}, "slack.scopes", "x-oauth-scopes"),
    ("bot-not-in-channel", None, {}, {"members": ("U0ALICE",)}, "slack.channel", "/invite @opsloop"),
    ("wrong-channel", None, {"slack_channel_id": "C0WRONG"}, {}, "slack.channel", "channel_not_found"),
    ("confluence-token-rejected", _set("get_secret_value", secret(password="ATATT-wrong")), {}, {},
     "confluence.auth", "API token"),
    ("space-missing", None, {"confluence_space_key": "NOPE"}, {}, "confluence.space", "space key 'NOPE'"),
    ("parent-missing", None, {"confluence_parent_page_id": "999999"}, {}, "confluence.parent",
     "ConfluenceParentPageId"),
    ("confluence-read-only", None, {}, {"can_update": False}, "confluence.write", "'Add pages' in space OPS"),
    ("model-not-enabled", _set("availability_analysis.authorizationStatus", "NOT_AUTHORIZED"), {}, {},
     "bedrock.analysis_model", "Model access"),
    ("model-agreement", _set("availability_analysis.agreementAvailability", {"status": "PENDING"}), {}, {},
     "bedrock.analysis_model", "agreement PENDING"),
    ("kb-not-active", _set("get_knowledge_base.knowledgeBase.status", "FAILED"), {}, {}, "bedrock.knowledge_base",
     "is FAILED"),
    ("kb-missing", _set("get_knowledge_base", Exception("ResourceNotFoundException", "no kb")), {}, {},
     "bedrock.knowledge_base", "ResourceNotFoundException"),
    ("embedding-not-enabled", _set("availability_embedding.entitlementAvailability", "NOT_AVAILABLE"), {}, {},
     "bedrock.embedding_model", "amazon.titan-embed-text-v2:0"),
    ("data-source-failed", _set("get_data_source.dataSource.status", "FAILED"), {}, {}, "bedrock.data_source",
     "is FAILED"),
    ("no-ingestion-yet", _set("list_ingestion_jobs", {"ingestionJobSummaries": []}), {}, {}, "bedrock.ingestion",
     "start-ingestion-job"),
    ("ingestion-failed", _set("list_ingestion_jobs.ingestionJobSummaries.0.status", "FAILED"), {}, {},
     "bedrock.ingestion", "is FAILED"),
    ("ingestion-docs-failed", _set("list_ingestion_jobs.ingestionJobSummaries.0.statistics",
                                   {"numberOfDocumentsFailed": 3}), {}, {}, "bedrock.ingestion", "3 document"),
    ("no-subscription", _set("describe_account_policies", {"accountPolicies": []}), {}, {}, "logs.subscription",
     "LogGroupNames"),
    ("policy-to-elsewhere", _set("describe_account_policies.accountPolicies.0.policyDocument",
                                 json.dumps({"DestinationArn": "arn:aws:lambda:us-east-1:1:function:other"})),
     {}, {}, "logs.subscription", "LogGroupNames"),
    ("filter-missing", lambda r: (_set("describe_account_policies", {"accountPolicies": []})(r),
                                  _set("describe_subscription_filters", {"subscriptionFilters": []})(r)),
     {"log_group_names": ("/aws/lambda/orders-api",)}, {}, "logs.subscription", "/aws/lambda/orders-api"),
    ("no-model-configured", None, {"model_id": ""}, {}, "bedrock.analysis_model", "ModelId"),
]


ALSO_FAILS = {"secret.fields:still a placeholder: password": ["confluence.auth"],
              "secret.fields:empty: username": ["confluence.auth"],
              "secret.fields:Bot User OAuth Token": ["slack.auth"],
              "secret.fields:still a placeholder: slack_signing_secret": ["slack.signing_secret"]}


@pytest.mark.parametrize("change,cfg,opts,check,text", [c[1:] for c in AWS_FAILURES], ids=[c[0] for c in AWS_FAILURES])
def test_each_failure_is_named_with_its_fix_and_fails_the_run(tmp_path: Path, change: Any, cfg: dict[str, Any],
                                                               opts: dict[str, Any], check: str, text: str) -> None:
    answers = healthy()
    if change is not None:
        change(answers)
    if cfg.get("model_id") == "":
        answers["availability_analysis"] = None  # no call is made without a model
    with Env(tmp_path, **opts) as env:
        code, results, out = env.run(config(**{"confluence_parent_page_id": env.parent_id, **cfg}), answers)
    failed = [r for r in results if r.status == "fail"]
    assert code == 1, out
    # A wrong value in the secret also fails the check that uses it; nothing else fails.
    assert [r.check for r in failed] == [check, *ALSO_FAILS.get(check + ":" + text, [])], out
    assert text in failed[0].detail + " " + failed[0].fix, out
    assert failed[0].fix, "every failure says what to do"
    assert f"✗ {check}: " in out and " — fix: " in out
    for value in (TOKEN, SIGNING, API_TOKEN):
        assert value not in out


def test_a_check_that_needs_an_earlier_one_is_skipped_not_failed_twice(tmp_path: Path) -> None:
    answers = healthy()
    answers["get_secret_value"] = Exception("ResourceNotFoundException", "gone")
    with Env(tmp_path) as env:
        code, results, out = env.run(config(confluence_parent_page_id=env.parent_id), answers)
    res = by_name(results)
    assert code == 1 and res["secret.fields"].status == "fail"
    for name in ("slack.signing_secret", "slack.auth", "slack.scopes", "slack.channel", "confluence.auth",
                 "confluence.space", "confluence.parent", "confluence.write"):
        assert res[name].status == "skip", name
    assert "needs secret.fields to pass first" in res["slack.auth"].detail
    assert res["bedrock.knowledge_base"].status == "ok"  # the AWS checks still run


def test_manifest_scopes_are_the_built_in_defaults() -> None:
    # The fallback used where slack/manifest.yaml is not installed must not drift from the manifest.
    assert doctor.required_scopes() == doctor.DEFAULT_SCOPES


def test_config_from_stack_reads_parameters_and_function_environments() -> None:
    cfn, lam = client("cloudformation"), client("lambda")
    with Stubber(cfn) as cs, Stubber(lam) as ls:
        cs.add_response("describe_stacks", {"Stacks": [{
            "StackName": "opsloop", "CreationTime": NOW, "StackStatus": "CREATE_COMPLETE",
            "Parameters": [{"ParameterKey": "LogGroupNames", "ParameterValue": "/aws/lambda/a,/ecs/b"}]}]},
            {"StackName": "opsloop"})
        cs.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": "IntakeFunction", "PhysicalResourceId": "opsloop-Intake-1",
             "ResourceType": "AWS::Lambda::Function", "LastUpdatedTimestamp": NOW, "ResourceStatus": "CREATE_COMPLETE"},
            {"LogicalResourceId": "AnalyzeFunction", "PhysicalResourceId": "opsloop-Analyze-1",
             "ResourceType": "AWS::Lambda::Function", "LastUpdatedTimestamp": NOW, "ResourceStatus": "CREATE_COMPLETE"},
            {"LogicalResourceId": "IncidentsTable", "PhysicalResourceId": "t",
             "ResourceType": "AWS::DynamoDB::Table", "LastUpdatedTimestamp": NOW, "ResourceStatus": "CREATE_COMPLETE"},
        ]}, {"StackName": "opsloop"})
        ls.add_response("get_function_configuration", {"FunctionArn": INTAKE_ARN, "Environment": {"Variables": {
            "OPSLOOP_SECRET_ARN": SECRET_ARN, "OPSLOOP_SLACK_CHANNEL_ID": CHANNEL}}},
            {"FunctionName": "opsloop-Intake-1"})
        ls.add_response("get_function_configuration", {"FunctionArn": "arn:aws:lambda:us-east-1:1:function:a",
                                                       "Environment": {"Variables": {
                                                           "OPSLOOP_MODEL_ID": MODEL, "OPSLOOP_KNOWLEDGE_BASE_ID": KB,
                                                           "OPSLOOP_ANALYST": "bedrock-kb", "OPSLOOP_AGENT_ID": ""}}},
                        {"FunctionName": "opsloop-Analyze-1"})
        cfg = doctor.config_from_stack("opsloop", cfn, lam)
    assert (cfg.secret_arn, cfg.slack_channel_id, cfg.model_id, cfg.knowledge_base_id) == (SECRET_ARN, CHANNEL, MODEL, KB)
    assert cfg.intake_function_arn == INTAKE_ARN and cfg.log_group_names == ("/aws/lambda/a", "/ecs/b")
    assert cfg.analyst == "bedrock-kb" and cfg.source == "stack opsloop"


def test_config_from_stack_says_which_stack_cannot_be_read() -> None:
    cfn, lam = client("cloudformation"), client("lambda")
    with Stubber(cfn) as cs:
        cs.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist")
        with pytest.raises(doctor.DoctorError, match="cannot read stack 'nope'.*does not exist"):
            doctor.config_from_stack("nope", cfn, lam)


def test_cli_reports_a_missing_configuration_with_a_non_zero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    from opsloop.cli import main

    # No OPSLOOP_* variables at all: the secret check fails first, AWS is never called for it.
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 1
    assert "✗ secret.fields: no secret configured — fix: set OPSLOOP_SECRET_ARN (or use --stack NAME)" in out


@pytest.mark.parametrize("model,base", [(MODEL, "anthropic.claude-3-5-haiku-20241022-v1:0"),
                                        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
                                        (EMBED_ARN, "amazon.titan-embed-text-v2:0")])
def test_inference_profiles_and_arns_are_checked_as_their_base_model(model: str, base: str) -> None:
    assert doctor.base_model_id(model) == base
