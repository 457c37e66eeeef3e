"""template.yaml: it lints clean, it wires what the code reads, and it grants no more than each part needs."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from . import ROOT, TEMPLATE, functions, resources, template, tool, tool_env, transformed

# Environment variables each function's code reads (beyond the ones every function gets from Globals).
GLOBAL_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL",
              "OPSLOOP_TABLE_NAME", "OPSLOOP_SECRET_ARN", "OPSLOOP_SLACK_CHANNEL_ID", "OPSLOOP_REPORT_LANGUAGE"}
ANALYST_ENV = {"OPSLOOP_ANALYST", "OPSLOOP_AGENT_ID", "OPSLOOP_AGENT_ALIAS_ID", "OPSLOOP_KNOWLEDGE_BASE_ID",
               "OPSLOOP_MODEL_ID"}
KB_ENV = {"OPSLOOP_KNOWLEDGE_BASE_ID", "OPSLOOP_DATA_SOURCE_ID", "OPSLOOP_KNOWLEDGE_BUCKET"}
FUNCTION_ENV = {
    "IntakeFunction": {"OPSLOOP_EVENT_BUS_NAME", "OPSLOOP_STORM_WINDOW_SECONDS", "OPSLOOP_MIN_OCCURRENCES",
                       "OPSLOOP_IGNORE_PATTERNS", "OPSLOOP_REDACT_PATTERNS", "OPSLOOP_SLACK_UPDATE_SECONDS"},
    "ClassifyFunction": set(),
    "AnalyzeFunction": ANALYST_ENV,
    "NotifySlackFunction": {"OPSLOOP_ALLOWED_RESOLVERS"},
    "SlackInteractionsFunction": ANALYST_ENV | {"OPSLOOP_ALLOWED_RESOLVERS"},
    "SummarizeFunction": {"OPSLOOP_SUMMARIZER", "OPSLOOP_MODEL_ID"},
    "PublishConfluenceFunction": {"OPSLOOP_CONFLUENCE_URL", "OPSLOOP_CONFLUENCE_SPACE_KEY",
                                  "OPSLOOP_CONFLUENCE_PARENT_PAGE_ID"},
    "StoreReportFunction": {"OPSLOOP_KNOWLEDGE_BUCKET", "OPSLOOP_REPORTS_PREFIX"},
    "IngestKnowledgeFunction": KB_ENV,
    "ReportFailureFunction": set(),
    "SeedKnowledgeFunction": KB_ENV,
    "DemoErrorsFunction": set(),
}

# APIs that take no resource ARN, so "*" is the only Resource IAM accepts for them.
RESOURCELESS_ACTIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}
AWS_MANAGED_POLICIES_ALLOWED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",  # SAM's default: own log streams
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # Tracing: X-Ray APIs take no resource ARN
}


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=180)


# -- Linters ---------------------------------------------------------------------------------------------

def test_cfn_lint_reports_nothing() -> None:
    result = _run([tool("cfn-lint"), str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes_offline() -> None:
    result = _run([tool("sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_transform_succeeds_and_keeps_every_function() -> None:
    out = transformed()["Resources"]
    lambdas = {k for k, v in out.items() if v["Type"] == "AWS::Lambda::Function"}
    assert set(functions()) <= lambdas


# -- Build: runtime, architecture, Docker-free makefile builds ----------------------------------------

def test_every_function_runs_python313_on_arm64_from_a_makefile_build() -> None:
    glob = template()["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13" and glob["Architectures"] == ["arm64"]
    assert glob["Handler"] == "app.handler"
    for name, fn in functions().items():
        props = fn["Properties"]
        assert props.get("Runtime", glob["Runtime"]) == "python3.13", name
        assert props.get("Architectures", glob["Architectures"]) == ["arm64"], name
        assert fn.get("Metadata", {}).get("BuildMethod") == "makefile", f"{name} would need Docker or python3.13"


def test_every_function_dir_has_a_handler_and_a_makefile_target_for_it() -> None:
    for name, fn in functions().items():
        code = ROOT / fn["Properties"]["CodeUri"]
        assert (code / "app.py").is_file(), f"{name}: {code.relative_to(ROOT)}/app.py is missing"
        makefile = (code / "Makefile").read_text()
        assert re.search(rf"^build-(%|{name}):", makefile, re.M), f"{name}: no build target in its Makefile"


def test_layer_builds_for_python313_arm64_from_its_makefile() -> None:
    (name, layer), = resources("AWS::Serverless::LayerVersion").items()
    props = layer["Properties"]
    assert props["CompatibleRuntimes"] == ["python3.13"] and props["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / props["ContentUri"] / "Makefile").read_text()
    assert f"build-{name}:" in makefile
    for flag in ("PLATFORM ?= manylinux2014_aarch64", "PY_VERSION ?= 3.13", "--platform $(PLATFORM)",
                 "--python-version $(PY_VERSION)", "--only-binary=:all:", "--no-compile", "--implementation cp"):
        assert flag in makefile, flag
    assert all(fn["Properties"].get("Layers", template()["Globals"]["Function"]["Layers"]) == [{"Ref": name}]
               for fn in functions().values())


@pytest.mark.parametrize("copy,original", [("requirements.txt", "runtime.txt"), ("constraints.txt", "lock.txt")])
def test_layer_pins_are_the_tested_pins(copy: str, original: str) -> None:
    """The layer builds from its own copies (SAM builds in a scratch copy of layers/opsloop): keep them equal."""
    assert (ROOT / "layers" / "opsloop" / copy).read_text() == (ROOT / "requirements" / original).read_text(), \
        f"run: cp requirements/{original} layers/opsloop/{copy}"


# -- What the code reads --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FUNCTION_ENV))
def test_function_gets_the_settings_its_code_reads(name: str) -> None:
    glob = set(template()["Globals"]["Function"]["Environment"]["Variables"])
    assert glob == GLOBAL_ENV
    env = set(functions()[name]["Properties"].get("Environment", {}).get("Variables", {}))
    assert FUNCTION_ENV[name] <= env | glob, f"{name} lacks {sorted(FUNCTION_ENV[name] - env - glob)}"


def test_the_template_has_no_function_this_contract_does_not_know() -> None:
    assert set(functions()) == set(FUNCTION_ENV)


def test_analyst_setting_follows_the_analyst_parameter() -> None:
    for name in ("AnalyzeFunction", "SlackInteractionsFunction"):
        env = functions()[name]["Properties"]["Environment"]["Variables"]
        assert env["OPSLOOP_ANALYST"] == {"Ref": "Analyst"}
    assert template()["Parameters"]["Analyst"]["AllowedValues"] == ["bedrock-agent", "bedrock-kb"]


# -- Logs ------------------------------------------------------------------------------------------------

def test_every_function_logs_to_its_own_group_with_retention() -> None:
    groups = resources("AWS::Logs::LogGroup")
    for name, fn in functions().items():
        ref = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert "RetentionInDays" in groups[ref]["Properties"], name
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())


def test_state_machine_logs_every_event_but_no_execution_data() -> None:
    sm = resources("AWS::Serverless::StateMachine")["IncidentStateMachine"]["Properties"]
    assert sm["Type"] == "STANDARD"
    assert sm["Logging"]["Level"] == "ALL" and sm["Logging"]["IncludeExecutionData"] is False
    assert sm["Tracing"]["Enabled"] is True


# -- IAM -------------------------------------------------------------------------------------------------

def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for st in doc.get("Statement", []):
        if isinstance(st, dict) and "Fn::If" in st:  # conditional statement: check both branches
            out += [b for b in st["Fn::If"][1:] if isinstance(b, dict) and "Effect" in b]
        elif isinstance(st, dict):
            out.append(st)
    return out


def _policy_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for name, res in transformed()["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            docs += [(f"{name}/{p['PolicyName']}", p["PolicyDocument"]) for p in props.get("Policies", [])]
        elif res["Type"] == "AWS::IAM::ManagedPolicy":
            docs.append((name, props["PolicyDocument"]))
    return docs


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_statement_allows_every_action_or_every_resource_without_need() -> None:
    checked = 0
    for where, doc in _policy_documents():
        for st in _statements(doc):
            if st.get("Effect") != "Allow":
                continue
            actions = _as_list(st["Action"])
            assert not any(a == "*" or a.endswith(":*") for a in actions), f"{where}: wildcard action {actions}"
            if "*" in _as_list(st.get("Resource")):
                assert set(actions) <= RESOURCELESS_ACTIONS, f"{where}: {actions} on '*'"
            checked += 1
    assert checked > 20


def test_roles_attach_only_their_own_policies_and_two_aws_managed_ones() -> None:
    for name, res in transformed()["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for arn in res["Properties"].get("ManagedPolicyArns", []):
            assert isinstance(arn, dict) or arn in AWS_MANAGED_POLICIES_ALLOWED, f"{name}: {arn}"


def test_bucket_writers_are_confined_to_their_prefix() -> None:
    def s3_resources(fn: str) -> list[str]:
        out = []
        for st in functions()[fn]["Properties"]["Policies"][-1]["Statement"]:
            if any(a in ("s3:PutObject", "s3:GetObject") for a in _as_list(st["Action"])):
                out += [json.dumps(r) for r in _as_list(st["Resource"])]
        return out

    assert s3_resources("StoreReportFunction") == [json.dumps({"Fn::Sub": "${KnowledgeBucket.Arn}/reports/*"}),
                                                   json.dumps({"Fn::Sub": "${KnowledgeBucket.Arn}/drafts/*"})]
    assert s3_resources("SeedKnowledgeFunction") == [json.dumps({"Fn::Sub": "${KnowledgeBucket.Arn}/runbooks/*"})]


def test_slack_function_may_invoke_itself_by_its_explicit_name() -> None:
    props = functions()["SlackInteractionsFunction"]["Properties"]
    name = props["FunctionName"]["Fn::Sub"]
    statements = [s for p in props["Policies"] if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    invoke = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert invoke and invoke[0]["Resource"]["Fn::Sub"].endswith(":function:" + name)


def test_model_permission_covers_inference_profiles_in_every_region_of_the_profile() -> None:
    doc = resources("AWS::IAM::ManagedPolicy")["ModelInvokePolicy"]["Properties"]["PolicyDocument"]
    text = json.dumps(doc)
    assert "bedrock:*::foundation-model/" in text and ":inference-profile/${ModelId}" in text


# -- Secret, data, knowledge -------------------------------------------------------------------------------

def test_secret_has_the_keys_the_code_and_the_confluence_connector_read() -> None:
    props = resources("AWS::SecretsManager::Secret")["OpsloopSecret"]["Properties"]
    assert props["Name"]["Fn::Sub"].startswith("AmazonBedrock-")
    placeholder = json.loads(props["SecretString"])
    assert set(placeholder) == {"slack_bot_token", "slack_signing_secret", "username", "password"}
    assert all("replace-me" in v for v in placeholder.values()), "only placeholders belong in the template"


def test_incidents_table_shape() -> None:
    props = resources("AWS::DynamoDB::Table")["IncidentsTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_knowledge_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    props = resources("AWS::S3::Bucket")["KnowledgeBucket"]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert any("NoncurrentVersionExpiration" in r for r in props["LifecycleConfiguration"]["Rules"])
    policy = resources("AWS::S3::BucketPolicy")["KnowledgeBucketPolicy"]["Properties"]["PolicyDocument"]
    assert any(s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
               for s in policy["Statement"])


def test_vector_index_fits_the_embedding_model_and_bedrock_metadata() -> None:
    params = template()["Parameters"]
    assert params["EmbeddingModelId"]["Default"] == "amazon.titan-embed-text-v2:0"
    assert params["EmbeddingDimensions"]["Default"] == 1024
    index = resources("AWS::S3Vectors::Index")["VectorIndex"]["Properties"]
    assert index["Dimension"] == {"Ref": "EmbeddingDimensions"} and index["DistanceMetric"] == "cosine"
    assert set(index["MetadataConfiguration"]["NonFilterableMetadataKeys"]) == {"AMAZON_BEDROCK_TEXT",
                                                                                "AMAZON_BEDROCK_METADATA"}
    kb = resources("AWS::Bedrock::KnowledgeBase")["KnowledgeBase"]["Properties"]
    emb = kb["KnowledgeBaseConfiguration"]["VectorKnowledgeBaseConfiguration"]["EmbeddingModelConfiguration"]
    assert emb["BedrockEmbeddingModelConfiguration"]["Dimensions"] == {"Ref": "EmbeddingDimensions"}
    assert kb["StorageConfiguration"]["Type"] == "S3_VECTORS"


def test_confluence_data_source_is_optional_and_uses_the_one_secret() -> None:
    ds = resources("AWS::Bedrock::DataSource")
    assert ds["ConfluenceDataSource"]["Condition"] == "HasConfluenceSpaces"
    assert template()["Parameters"]["ConfluenceSpaceKeys"]["Default"] == ""
    src = ds["ConfluenceDataSource"]["Properties"]["DataSourceConfiguration"]["ConfluenceConfiguration"]
    assert src["SourceConfiguration"]["CredentialsSecretArn"] == {"Ref": "OpsloopSecret"}
    assert src["SourceConfiguration"]["AuthType"] == "BASIC"
    assert "Condition" not in ds["KnowledgeDataSource"]


def test_agent_instruction_states_the_grounding_rules() -> None:
    agent = resources("AWS::Bedrock::Agent")["AnalystAgent"]
    text = agent["Properties"]["Instruction"]["Fn::Sub"].lower()
    for rule in ("untrusted data", "cite", "nothing in the knowledge base matches", "${reportlanguage}"):
        assert rule in text, rule
    assert agent["Properties"]["AutoPrepare"] is True and agent["Condition"] == "CreateAgent"
    assert "ExistingAgentNeedsAlias" in template()["Rules"]


# -- Events and the lifecycle ---------------------------------------------------------------------------

def test_incident_opened_events_start_the_state_machine_with_retries_and_dead_letters() -> None:
    rule = resources("AWS::Events::Rule")["IncidentOpenedRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "IncidentBus"}
    assert rule["EventPattern"] == {"source": ["opsloop.intake"], "detail-type": ["Incident Opened"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "IncidentStateMachine"} and target["InputPath"] == "$.detail"
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_alarms_become_incidents_except_opsloops_own() -> None:
    rule = resources("AWS::Events::Rule")["AlarmStateChangeRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["detail"]["state"]["value"] == ["ALARM"]
    assert pattern["detail"]["alarmName"] == [{"anything-but": {"prefix": {"Ref": "AlarmNamePrefix"}}}]
    alarms = resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 6
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmName"]["Fn::Sub"].startswith("${AlarmNamePrefix}"), name
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def test_execution_timeout_always_exceeds_the_longest_human_wait() -> None:
    """CloudFormation cannot add parameters, so the bounds do it: max reminder + max escalation + 6 h of
    processing fit in the smallest allowed execution timeout."""
    p = template()["Parameters"]
    longest_wait = p["ReminderSeconds"]["MaxValue"] + p["EscalationSeconds"]["MaxValue"]
    assert longest_wait + 6 * 3600 <= p["ExecutionTimeoutSeconds"]["MinValue"]
    assert p["ExecutionTimeoutSeconds"]["Default"] == 86400
    assert p["ReminderSeconds"]["Default"] == 3600 and p["EscalationSeconds"]["Default"] == 14400


@pytest.mark.parametrize("value,ok", [
    ("", True),
    ("/aws/lambda/orders-api", True),
    ("/aws/lambda/a,/ecs/b,c,d,e", True),
    ("/aws/lambda/a,/ecs/b,c,d,e,f", False),  # a sixth group would be silently ignored: refused instead
    ("/aws/lambda/a, /ecs/b", False),
])
def test_watched_log_groups_are_limited_to_five(value: str, ok: bool) -> None:
    pattern = template()["Parameters"]["LogGroupNames"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


def test_each_of_the_five_log_group_slots_has_a_filter_and_an_invoke_permission() -> None:
    subs, perms = resources("AWS::Logs::SubscriptionFilter"), resources("AWS::Lambda::Permission")
    for i in range(1, 6):
        sub = subs[f"LogGroupSubscription{i}"]
        assert sub["Condition"] == f"HasLogGroup{i}"
        assert sub["DependsOn"] == f"LogsInvokeIntakePermission{i}"
        assert sub["Properties"]["DestinationArn"] == {"Fn::GetAtt": ["IntakeFunction", "Arn"]}
        assert sub["Properties"]["FilterPattern"] == {"Ref": "FilterPattern"}
        assert perms[f"LogsInvokeIntakePermission{i}"]["Properties"]["Principal"] == "logs.amazonaws.com"
    assert template()["Parameters"]["FilterPattern"]["Default"] == "?ERROR ?Error ?Exception ?FATAL ?Traceback"


def test_demo_errors_are_off_by_default_and_watched_when_on() -> None:
    assert template()["Parameters"]["EnableDemoErrors"]["Default"] == "false"
    demo = functions()["DemoErrorsFunction"]
    assert demo["Condition"] == "EnableDemoErrors"
    assert demo["Properties"]["Events"]["EveryTenMinutes"]["Properties"]["Schedule"] == "rate(10 minutes)"
    sub = resources("AWS::Logs::SubscriptionFilter")["DemoErrorsSubscription"]
    assert sub["Properties"]["LogGroupName"] == {"Ref": "DemoErrorsLogGroup"}


def test_async_failures_land_in_the_encrypted_dead_letter_queue() -> None:
    assert resources("AWS::SQS::Queue")["DeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    for name in ("IntakeFunction", "SeedKnowledgeFunction", "SlackInteractionsFunction"):
        props = functions()[name]["Properties"]
        assert props["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, name
        assert "EventInvokeConfig" in props, name


def test_seed_custom_resource_reruns_when_the_package_changes() -> None:
    seed = resources("Custom::SeedKnowledge")["SeedKnowledge"]["Properties"]
    assert seed["ServiceToken"] == {"Fn::GetAtt": ["SeedKnowledgeFunction", "Arn"]}
    assert seed["PackageVersion"] == {"Ref": "SeedKnowledgeFunction.Version"}
    assert functions()["SeedKnowledgeFunction"]["Properties"]["AutoPublishAlias"]


def test_slack_endpoint_routes_and_throttling() -> None:
    events = functions()["SlackInteractionsFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values() if e["Type"] == "HttpApi"}
    assert routes == {("POST", "/slack/interactions"), ("POST", "/slack/events"), ("POST", "/slack/commands")}
    api = resources("AWS::Serverless::HttpApi")["SlackApi"]["Properties"]
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0 and "Auth" not in api


def test_outputs_tell_the_user_what_to_paste_and_fill() -> None:
    outputs = template()["Outputs"]
    for name in ("SlackInteractionsUrl", "SlackEventsUrl", "SecretArn", "KnowledgeBucketName", "KnowledgeBaseId",
                 "StateMachineArn", "EventBusName", "DeadLetterQueueUrl"):
        assert name in outputs, name
    assert outputs["SlackInteractionsUrl"]["Value"]["Fn::Sub"].endswith("/slack/interactions")
    assert outputs["SlackEventsUrl"]["Value"]["Fn::Sub"].endswith("/slack/events")


def test_samconfig_deploys_with_the_capabilities_the_template_needs() -> None:
    import tomllib

    cfg = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    deploy = cfg["deploy"]["parameters"]
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["resolve_s3"] is True and deploy["confirm_changeset"] is True
    assert cfg["global"]["parameters"]["stack_name"] == "opsloop"
    assert cfg["build"]["parameters"] == {"cached": True, "parallel": True}
    assert cfg["validate"]["parameters"]["lint"] is True
