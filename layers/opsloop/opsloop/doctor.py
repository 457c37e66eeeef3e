"""``opsloop doctor``: check a deployed configuration with the real clients and say exactly what to fix.

The checks are data (:data:`CHECKS`: a name, what it checks, and a function of a :class:`Context`) and
:func:`run` runs them in order, one :class:`Result` each. A check that needs what an earlier one could not
get (the secret, the Slack bot's user id, the Confluence account) is *skipped* and names the check to fix
first; every failure exits non-zero.

Where the configuration comes from (:func:`config_from_stack` / :func:`config_from_env`): ``--stack NAME``
reads the stack's parameters and the ``OPSLOOP_*`` environment of its functions through CloudFormation and
Lambda; without it, the same ``OPSLOOP_*`` variables the functions use are read from this environment.
Secret values are read from Secrets Manager and never printed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TextIO

MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yaml"
PLACEHOLDER = re.compile(r"replace-me|changeme|change-me|<[^>]*>|^x+$", re.IGNORECASE)
SIGNING_SECRET = re.compile(r"^[0-9a-f]{32}$")  # Slack app signing secrets: 32 lower-case hex characters
SECRET_FIELDS = ("slack_bot_token", "slack_signing_secret", "username", "password")
# The bot scopes of slack/manifest.yaml, for an installation without the repository next to it.
DEFAULT_SCOPES = ("chat:write", "channels:history", "groups:history", "channels:read", "groups:read",
                  "app_mentions:read", "commands")


@dataclass(frozen=True)
class DoctorConfig:
    """What doctor checks: names, ids and ARNs only (no secret values)."""

    secret_arn: str = ""
    slack_channel_id: str = ""
    slack_api_url: str = ""
    confluence_url: str = ""
    confluence_space_key: str = ""
    confluence_parent_page_id: str = ""
    analyst: str = "bedrock-kb"
    model_id: str = ""
    knowledge_base_id: str = ""
    data_source_id: str = ""
    agent_id: str = ""
    agent_alias_id: str = ""
    intake_function_arn: str = ""
    log_group_names: tuple[str, ...] = ()
    source: str = "environment"


_ENV = {"secret_arn": "SECRET_ARN", "slack_channel_id": "SLACK_CHANNEL_ID", "slack_api_url": "SLACK_API_URL",
        "confluence_url": "CONFLUENCE_URL", "confluence_space_key": "CONFLUENCE_SPACE_KEY",
        "confluence_parent_page_id": "CONFLUENCE_PARENT_PAGE_ID", "analyst": "ANALYST", "model_id": "MODEL_ID",
        "knowledge_base_id": "KNOWLEDGE_BASE_ID", "data_source_id": "DATA_SOURCE_ID", "agent_id": "AGENT_ID",
        "agent_alias_id": "AGENT_ALIAS_ID", "intake_function_arn": "INTAKE_FUNCTION_ARN"}


def config_from_env(env: Mapping[str, str], source: str = "environment") -> DoctorConfig:
    """The ``OPSLOOP_*`` variables (plus ``OPSLOOP_INTAKE_FUNCTION_ARN`` / ``OPSLOOP_LOG_GROUP_NAMES``)."""
    values: dict[str, Any] = {k: env.get("OPSLOOP_" + v, "").strip() for k, v in _ENV.items()}
    if not values["analyst"]:
        values["analyst"] = "bedrock-agent" if values["agent_id"] else "bedrock-kb"
    groups = env.get("OPSLOOP_LOG_GROUP_NAMES", "").replace(";", ",")
    values["log_group_names"] = tuple(g.strip() for g in groups.split(",") if g.strip())
    return DoctorConfig(**values, source=source)


def config_from_stack(stack: str, cloudformation: Any, lambda_client: Any) -> DoctorConfig:
    """The environment of every function of ``stack`` merged, its IntakeFunction's ARN and LogGroupNames."""
    from botocore.exceptions import ClientError

    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        raise DoctorError(f"cannot read stack {stack!r}: {_aws_error(exc)} (check the name, the region and "
                          "cloudformation:DescribeStacks permission)") from None
    params = {p["ParameterKey"]: p.get("ResolvedValue") or p.get("ParameterValue", "")
              for p in described.get("Parameters", [])}
    env: dict[str, str] = {}
    intake_arn = ""
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for res in page["StackResourceSummaries"]:
            if res["ResourceType"] != "AWS::Lambda::Function" or not res.get("PhysicalResourceId"):
                continue
            try:
                conf = lambda_client.get_function_configuration(FunctionName=res["PhysicalResourceId"])
            except ClientError as exc:
                raise DoctorError(f"cannot read function {res['PhysicalResourceId']}: {_aws_error(exc)} "
                                  "(lambda:GetFunctionConfiguration is needed)") from None
            for k, v in (conf.get("Environment") or {}).get("Variables", {}).items():
                if k.startswith("OPSLOOP_") and v:
                    env.setdefault(k, v)
            if res["LogicalResourceId"] == "IntakeFunction":
                intake_arn = conf.get("FunctionArn", "")
    env.setdefault("OPSLOOP_INTAKE_FUNCTION_ARN", intake_arn)
    env.setdefault("OPSLOOP_LOG_GROUP_NAMES", params.get("LogGroupNames", ""))
    return config_from_env(env, source=f"stack {stack}")


class DoctorError(Exception):
    """The configuration itself could not be read (doctor cannot start)."""


@dataclass(frozen=True)
class Result:
    check: str
    status: str  # "ok" | "fail" | "skip"
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def line(self) -> str:
        mark = {"ok": "✓", "fail": "✗", "skip": "–"}[self.status]
        text = f"{mark} {self.check}: {self.detail}"
        return text + (f" — fix: {self.fix}" if self.fix else "")


class _Fail(Exception):
    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


class _Skip(Exception):
    pass


@dataclass
class Context:
    """The configuration, the clients (injected) and what earlier checks learned."""

    config: DoctorConfig
    aws: Callable[[str], Any]
    slack_client: Callable[[str, str | None], Any] | None = None
    confluence_client: Callable[[str, str, str], Any] | None = None
    required_scopes: tuple[str, ...] = DEFAULT_SCOPES
    learned: dict[str, Any] = field(default_factory=dict)

    def need(self, key: str, check: str) -> Any:
        if key not in self.learned:
            raise _Skip(f"needs {check} to pass first")
        return self.learned[key]


@dataclass(frozen=True)
class Check:
    name: str
    what: str
    fn: Callable[[Context], str]
    when: Callable[[DoctorConfig], str] = lambda c: ""  # a reason to skip, or ""


def _aws_error(exc: Any) -> str:
    err = getattr(exc, "response", {}).get("Error", {})
    return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', '')}".rstrip(": ")


def _aws_call(fn: Callable[..., Any], what: str, fix: str, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        hint = " (the identity running doctor lacks the permission)" if code in (
            "AccessDeniedException", "AccessDenied", "UnauthorizedOperation") else ""
        raise _Fail(f"{what} failed: {_aws_error(exc)}{hint}", fix) from None
    except BotoCoreError as exc:
        raise _Fail(f"{what} failed: {type(exc).__name__}: {exc}", "check AWS credentials, region and network") from None


# -- secret ------------------------------------------------------------------------------------------
def check_secret(ctx: Context) -> str:
    c = ctx.config
    if not c.secret_arn:
        raise _Fail("no secret configured", "set OPSLOOP_SECRET_ARN (or use --stack NAME)")
    raw = _aws_call(ctx.aws("secretsmanager").get_secret_value, "secretsmanager GetSecretValue",
                    f"check the secret {c.secret_arn} exists and that you may read it", SecretId=c.secret_arn)
    try:
        data = json.loads(raw.get("SecretString") or "")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _Fail("the secret is not a JSON object", f"store {{{', '.join(SECRET_FIELDS)}}} as JSON (docs/deploy.md)")
    missing = [k for k in SECRET_FIELDS if not str(data.get(k) or "").strip()]
    placeholders = [k for k in SECRET_FIELDS if k not in missing and PLACEHOLDER.search(str(data[k]))]
    ctx.learned["secret"] = {k: str(data.get(k) or "") for k in SECRET_FIELDS}
    if missing or placeholders:
        parts = ([f"empty: {', '.join(missing)}"] if missing else []) + \
                ([f"still a placeholder: {', '.join(placeholders)}"] if placeholders else [])
        raise _Fail("; ".join(parts), "aws secretsmanager put-secret-value --secret-id " + c.secret_arn +
                    " --secret-string '{...}' with the real values (docs/deploy.md)")
    if not ctx.learned["secret"]["slack_bot_token"].startswith("xoxb-"):
        raise _Fail("slack_bot_token is not a bot token (xoxb-…)",
                    "use the Bot User OAuth Token from the Slack app's OAuth & Permissions page")
    return f"{', '.join(SECRET_FIELDS)} present"


def check_signing_secret(ctx: Context) -> str:
    value = ctx.need("secret", "secret.fields")["slack_signing_secret"].strip()
    if not value or PLACEHOLDER.search(value):
        raise _Fail("slack_signing_secret is missing or a placeholder",
                    "copy the Signing Secret from the Slack app's Basic Information page into the secret")
    if not SIGNING_SECRET.match(value):
        raise _Fail(f"slack_signing_secret is {len(value)} characters, not Slack's 32 hexadecimal ones",
                    "copy the Signing Secret (not the client secret or a token) from Basic Information")
    return "present, 32 hexadecimal characters"


# -- Slack -------------------------------------------------------------------------------------------
def _slack(ctx: Context) -> Any:
    if "slack" not in ctx.learned:
        token = ctx.need("secret", "secret.fields")["slack_bot_token"]
        if ctx.slack_client is None:
            from .slack.notifier import make_client

            ctx.learned["slack"] = make_client(token, base_url=ctx.config.slack_api_url or None)
        else:
            ctx.learned["slack"] = ctx.slack_client(token, ctx.config.slack_api_url or None)
    return ctx.learned["slack"]


def _slack_call(client: Any, method: str, fix: str, **kwargs: Any) -> Any:
    from slack_sdk.errors import SlackApiError

    try:
        return getattr(client, method.replace(".", "_"))(**kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error", "") if exc.response is not None else ""
        needed = exc.response.get("needed", "") if exc.response is not None else ""
        if error == "missing_scope":
            fix = f"add the {needed or 'missing'} scope in the Slack app (slack/manifest.yaml) and reinstall it"
        raise _Fail(f"Slack {method}: {error or exc}", fix) from None
    except Exception as exc:  # noqa: BLE001 - transport errors: the fix is the URL / network
        raise _Fail(f"Slack {method} could not be reached: {type(exc).__name__}", "check network access to Slack") from None


def check_slack_auth(ctx: Context) -> str:
    resp = _slack_call(_slack(ctx), "auth.test",
                       "store a valid Bot User OAuth Token (xoxb-…) as slack_bot_token; reinstall the app if it was revoked")
    ctx.learned["slack_auth"] = resp
    scopes = (resp.headers or {}).get("x-oauth-scopes") or (resp.headers or {}).get("X-OAuth-Scopes")
    ctx.learned["slack_scopes"] = None if scopes is None else {s.strip() for s in scopes.split(",") if s.strip()}
    return f"team {resp.get('team')}, bot user {resp.get('user')} ({resp.get('user_id')})"


def check_slack_scopes(ctx: Context) -> str:
    ctx.need("slack_auth", "slack.auth")
    granted = ctx.learned.get("slack_scopes")
    if granted is None:
        raise _Fail("Slack sent no x-oauth-scopes header, so the token's scopes are unknown",
                    "use a bot token (xoxb-…) of an app created from slack/manifest.yaml")
    missing = [s for s in ctx.required_scopes if s not in granted]
    if missing:
        raise _Fail(f"the token lacks {', '.join(missing)}",
                    "add them under OAuth & Permissions → Bot Token Scopes (or recreate the app from "
                    "slack/manifest.yaml), reinstall the app and store the new token")
    extra = sorted(granted - set(ctx.required_scopes))
    return f"{len(ctx.required_scopes)} scopes of slack/manifest.yaml granted" + (
        f" (also granted, not needed: {', '.join(extra)})" if extra else "")


def check_slack_channel(ctx: Context) -> str:
    auth = ctx.need("slack_auth", "slack.auth")
    channel = ctx.config.slack_channel_id
    if not channel:
        raise _Fail("no incident channel configured", "set the SlackChannelId parameter (OPSLOOP_SLACK_CHANNEL_ID)")
    client, cursor, bot = _slack(ctx), "", auth.get("user_id")
    for _ in range(100):  # 100 pages of 1,000 members
        kwargs = {"channel": channel, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        resp = _slack_call(client, "conversations.members",
                           f"check that {channel} is the channel's id (C…/G…, from the channel's details)", **kwargs)
        if bot in (resp.get("members") or []):
            return f"bot {bot} is a member of {channel}"
        cursor = (resp.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            break
    raise _Fail(f"the bot ({bot}) is not a member of {channel}", f"in Slack, open the channel and type /invite @{auth.get('user') or 'opsloop'}")


# -- Confluence --------------------------------------------------------------------------------------
def _confluence(ctx: Context) -> Any:
    if "confluence" not in ctx.learned:
        c, secret = ctx.config, ctx.need("secret", "secret.fields")
        if not c.confluence_url or not c.confluence_space_key:
            raise _Fail("Confluence is not configured",
                        "set the ConfluenceUrl and ConfluenceSpaceKey parameters (OPSLOOP_CONFLUENCE_URL/_SPACE_KEY)")
        build = ctx.confluence_client
        if build is None:
            from .confluence.wiki import make_client as build
        try:
            ctx.learned["confluence"] = build(c.confluence_url, secret["username"], secret["password"])
        except Exception as exc:  # noqa: BLE001 - ConfigError from make_client
            raise _Fail(str(exc), "fix OPSLOOP_CONFLUENCE_URL or the secret's username/password") from None
    return ctx.learned["confluence"]


def _wiki_call(ctx: Context, method: str, path: str, fix: str, what: str, data: Any = None) -> Any:
    client = _confluence(ctx)
    try:
        result = client.get(path) if method == "GET" else client.post(path, data=data)
    except Exception as exc:  # noqa: BLE001 - requests.HTTPError and transport errors
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403) and what != "reading the current user":
            fix = f"give the API user access: {fix}"
        elif status in (401,):
            fix = ("store the Atlassian account e-mail as username and an API token "
                   "(id.atlassian.com → Security → API tokens) as password")
        detail = f"HTTP {status}" if status else type(exc).__name__
        raise _Fail(f"Confluence answered {detail} {what}", fix) from None
    if not isinstance(result, dict):
        raise _Fail(f"Confluence answered {what} with no JSON (a proxy or login page?)",
                    "check ConfluenceUrl: https://<site>.atlassian.net")
    return result


def check_confluence_auth(ctx: Context) -> str:
    me = _wiki_call(ctx, "GET", "rest/api/user/current", "", "reading the current user")
    if me.get("type") == "anonymous" or not me.get("accountId"):
        raise _Fail("Confluence treats the credentials as anonymous",
                    "store the account e-mail as username and an API token as password")
    ctx.learned["confluence_user"] = me
    return f"signed in as {me.get('displayName') or me.get('accountId')}"


def check_confluence_space(ctx: Context) -> str:
    ctx.need("confluence_user", "confluence.auth")
    key = ctx.config.confluence_space_key
    space = _wiki_call(ctx, "GET", f"rest/api/space/{key}?expand=homepage",
                       f"check the space key {key!r} (ConfluenceSpaceKey) and that the API user may view the space",
                       f"reading space {key}")
    ctx.learned["confluence_space"] = space
    return f"space {key} ({space.get('name', key)}) readable"


def check_confluence_parent(ctx: Context) -> str:
    space = ctx.need("confluence_space", "confluence.space")
    parent = ctx.config.confluence_parent_page_id
    if not parent:
        home = (space.get("homepage") or {}).get("id")
        if home:
            ctx.learned["confluence_target"] = str(home)
        return "no parent page configured: reports go to the top of the space"
    page = _wiki_call(ctx, "GET", f"rest/api/content/{parent}?expand=space",
                      f"set ConfluenceParentPageId to a page id of space {ctx.config.confluence_space_key}",
                      f"reading parent page {parent}")
    in_space = (page.get("space") or {}).get("key")
    if in_space and in_space != ctx.config.confluence_space_key:
        raise _Fail(f"parent page {parent} is in space {in_space}, not {ctx.config.confluence_space_key}",
                    "set ConfluenceParentPageId to a page of the configured space, or change the space key")
    ctx.learned["confluence_target"] = str(parent)
    return f"parent page {parent} ({page.get('title', '')}) found"


def check_confluence_write(ctx: Context) -> str:
    user = ctx.need("confluence_user", "confluence.auth")
    ctx.need("confluence_space", "confluence.space")
    target = ctx.learned.get("confluence_target")
    if not target:
        raise _Skip("no parent page and no space home page to check the update permission on")
    answer = _wiki_call(ctx, "POST", f"rest/api/content/{target}/permission/check",
                        "check the API user's space permissions", f"checking the permission on page {target}",
                        data={"subject": {"type": "user", "identifier": user["accountId"]}, "operation": "update"})
    if answer.get("hasPermission") is not True:
        why = "; ".join(str(e.get("translation") or e.get("message") or e) for e in answer.get("errors") or []
                        if isinstance(e, dict)) or "no update permission"
        raise _Fail(f"the API user may not write under page {target}: {why}",
                    f"grant {user.get('displayName') or user['accountId']} 'Add pages' in space "
                    f"{ctx.config.confluence_space_key} and remove edit restrictions on page {target}")
    return f"{user.get('displayName') or user['accountId']} may update page {target}"


# -- Bedrock -----------------------------------------------------------------------------------------
_GEOGRAPHIES = ("us", "eu", "apac", "global", "us-gov", "jp", "au", "ca")


def base_model_id(model: str) -> str:
    """``us.anthropic.claude…`` → ``anthropic.claude…``; a model or profile ARN → its id."""
    model = model.rsplit("/", 1)[-1] if model.startswith("arn:") else model
    head, _, rest = model.partition(".")
    return rest if head in _GEOGRAPHIES and rest else model


def _model_access(ctx: Context, model: str, role: str) -> str:
    mid = base_model_id(model)
    fix = (f"in the Bedrock console (Model access) enable {mid} in this Region, or choose another "
           f"{'ModelId' if role == 'analysis' else 'embedding model'}")
    got = _aws_call(ctx.aws("bedrock").get_foundation_model_availability, "bedrock GetFoundationModelAvailability",
                    fix, modelId=mid)
    problems = []
    if got.get("authorizationStatus") != "AUTHORIZED":
        problems.append(f"authorization {got.get('authorizationStatus')}")
    if got.get("entitlementAvailability") != "AVAILABLE":
        problems.append(f"entitlement {got.get('entitlementAvailability')}")
    if got.get("regionAvailability") != "AVAILABLE":
        problems.append(f"region {got.get('regionAvailability')}")
    agreement = (got.get("agreementAvailability") or {}).get("status")
    if agreement != "AVAILABLE":
        problems.append(f"agreement {agreement}")
    if problems:
        raise _Fail(f"{role} model {mid}: {', '.join(problems)}", fix)
    return f"{role} model {mid} is available to this account"


def check_analysis_model(ctx: Context) -> str:
    if not ctx.config.model_id:
        raise _Fail("no analysis model configured", "set the ModelId parameter (OPSLOOP_MODEL_ID)")
    return _model_access(ctx, ctx.config.model_id, "analysis")


def check_knowledge_base(ctx: Context) -> str:
    kb_id = ctx.config.knowledge_base_id
    if not kb_id:
        raise _Fail("no Knowledge Base configured", "set OPSLOOP_KNOWLEDGE_BASE_ID (or use --stack NAME)")
    kb = _aws_call(ctx.aws("bedrock-agent").get_knowledge_base, "bedrock-agent GetKnowledgeBase",
                   f"check the Knowledge Base id {kb_id} and the Region", knowledgeBaseId=kb_id)["knowledgeBase"]
    ctx.learned["knowledge_base"] = kb
    if kb.get("status") != "ACTIVE":
        reasons = "; ".join(kb.get("failureReasons") or [])
        raise _Fail(f"Knowledge Base {kb_id} is {kb.get('status')}" + (f": {reasons}" if reasons else ""),
                    "wait for ACTIVE, or fix the reasons shown and update the stack")
    return f"Knowledge Base {kb_id} is ACTIVE"


def check_embedding_model(ctx: Context) -> str:
    kb = ctx.need("knowledge_base", "bedrock.knowledge_base")
    arn = ((kb.get("knowledgeBaseConfiguration") or {}).get("vectorKnowledgeBaseConfiguration") or {}).get(
        "embeddingModelArn", "")
    if not arn:
        raise _Skip("the Knowledge Base names no embedding model")
    return _model_access(ctx, arn, "embedding")


def check_data_source(ctx: Context) -> str:
    c = ctx.config
    if not c.data_source_id:
        raise _Fail("no data source configured", "set OPSLOOP_DATA_SOURCE_ID (or use --stack NAME)")
    ds = _aws_call(ctx.aws("bedrock-agent").get_data_source, "bedrock-agent GetDataSource",
                   f"check the data source id {c.data_source_id}", knowledgeBaseId=c.knowledge_base_id,
                   dataSourceId=c.data_source_id)["dataSource"]
    if ds.get("status") != "AVAILABLE":
        reasons = "; ".join(ds.get("failureReasons") or [])
        raise _Fail(f"data source {c.data_source_id} is {ds.get('status')}" + (f": {reasons}" if reasons else ""),
                    "fix the reasons shown (bucket access of the Knowledge Base role) and update the stack")
    return f"data source {c.data_source_id} is AVAILABLE"


def check_last_ingestion(ctx: Context) -> str:
    c = ctx.config
    if not c.knowledge_base_id or not c.data_source_id:
        raise _Skip("needs the Knowledge Base and data source ids")
    fix_start = (f"aws bedrock-agent start-ingestion-job --knowledge-base-id {c.knowledge_base_id} "
                 f"--data-source-id {c.data_source_id}")
    jobs = _aws_call(ctx.aws("bedrock-agent").list_ingestion_jobs, "bedrock-agent ListIngestionJobs",
                     "allow bedrock:ListIngestionJobs", knowledgeBaseId=c.knowledge_base_id,
                     dataSourceId=c.data_source_id, sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
                     maxResults=1).get("ingestionJobSummaries") or []
    if not jobs:
        raise _Fail("no ingestion job has run: the Knowledge Base holds no runbooks yet", fix_start)
    job = jobs[0]
    status = job.get("status")
    when = job.get("updatedAt") or job.get("startedAt")
    when_text = when.isoformat() if hasattr(when, "isoformat") else str(when or "")
    stats = job.get("statistics") or {}
    if status in ("FAILED", "STOPPED"):
        raise _Fail(f"the last ingestion job {job.get('ingestionJobId')} ({when_text}) is {status}",
                    f"see aws bedrock-agent get-ingestion-job for its failureReasons, then {fix_start}")
    failed = int(stats.get("numberOfDocumentsFailed") or 0)
    if failed:
        raise _Fail(f"the last ingestion job ({when_text}) failed on {failed} document(s)",
                    "see the job's failureReasons (often a file type or a metadata file the Knowledge Base rejects)")
    return f"last ingestion job {job.get('ingestionJobId')} is {status} ({when_text})"


def check_agent_alias(ctx: Context) -> str:
    c = ctx.config
    if not c.agent_id or not c.agent_alias_id:
        raise _Fail("the analyst is bedrock-agent but no agent id / alias id is configured",
                    "set AgentId and AgentAliasId (OPSLOOP_AGENT_ID/_ALIAS_ID), or use the bedrock-kb analyst")
    alias = _aws_call(ctx.aws("bedrock-agent").get_agent_alias, "bedrock-agent GetAgentAlias",
                      f"check agent {c.agent_id} alias {c.agent_alias_id}", agentId=c.agent_id,
                      agentAliasId=c.agent_alias_id)["agentAlias"]
    if alias.get("agentAliasStatus") != "PREPARED":
        reasons = "; ".join(alias.get("failureReasons") or [])
        raise _Fail(f"agent alias {c.agent_alias_id} is {alias.get('agentAliasStatus')}" +
                    (f": {reasons}" if reasons else ""),
                    "prepare the agent (aws bedrock-agent prepare-agent) and point the alias at a prepared version")
    return f"agent {c.agent_id} alias {c.agent_alias_id} is PREPARED"


# -- subscription ------------------------------------------------------------------------------------
def check_subscription(ctx: Context) -> str:
    c = ctx.config
    target = c.intake_function_arn
    if not target:
        raise _Fail("the intake function is not known, so its subscription cannot be checked",
                    "use --stack NAME, or set OPSLOOP_INTAKE_FUNCTION_ARN")
    logs = ctx.aws("logs")
    policies = _aws_call(logs.describe_account_policies, "logs DescribeAccountPolicies",
                         "allow logs:DescribeAccountPolicies", policyType="SUBSCRIPTION_FILTER_POLICY")
    for policy in policies.get("accountPolicies") or []:
        try:
            doc = json.loads(policy.get("policyDocument") or "{}")
        except ValueError:
            doc = {}
        if doc.get("DestinationArn") == target:
            return f"account subscription policy {policy.get('policyName')} sends log events to intake"
    if not c.log_group_names:
        raise _Fail("no account subscription policy to the intake function and no watched log groups",
                    "deploy with the account-wide subscription on, or set LogGroupNames")
    missing = []
    for group in c.log_group_names:
        found = _aws_call(logs.describe_subscription_filters, "logs DescribeSubscriptionFilters",
                          f"check that log group {group} exists", logGroupName=group)
        if not any(f.get("destinationArn") == target for f in found.get("subscriptionFilters") or []):
            missing.append(group)
    if missing:
        raise _Fail(f"no subscription filter to intake on {', '.join(missing)}",
                    "update the stack so every group in LogGroupNames gets its filter (at most 2 filters per group)")
    return f"subscription filters to intake on {len(c.log_group_names)} log group(s)"


def _is_agent(c: DoctorConfig) -> str:
    return "" if c.analyst == "bedrock-agent" else f"the analyst is {c.analyst}"


CHECKS: tuple[Check, ...] = (
    Check("secret.fields", "the opsloop secret has every field, none a placeholder", check_secret),
    Check("slack.signing_secret", "the Slack signing secret is present and has Slack's length", check_signing_secret),
    Check("slack.auth", "Slack auth.test accepts the bot token", check_slack_auth),
    Check("slack.scopes", "the token has every bot scope of slack/manifest.yaml", check_slack_scopes),
    Check("slack.channel", "the bot is a member of the incident channel", check_slack_channel),
    Check("confluence.auth", "Confluence accepts the e-mail and API token", check_confluence_auth),
    Check("confluence.space", "the space exists and is readable", check_confluence_space),
    Check("confluence.parent", "the parent page exists in the space", check_confluence_parent),
    Check("confluence.write", "the API user may write where reports go", check_confluence_write),
    Check("bedrock.analysis_model", "the analysis model is enabled for the account", check_analysis_model),
    Check("bedrock.knowledge_base", "the Knowledge Base is ACTIVE", check_knowledge_base),
    Check("bedrock.embedding_model", "the Knowledge Base's embedding model is enabled", check_embedding_model),
    Check("bedrock.data_source", "the data source is AVAILABLE", check_data_source),
    Check("bedrock.ingestion", "the last ingestion job completed", check_last_ingestion),
    Check("bedrock.agent_alias", "the agent alias is PREPARED", check_agent_alias, _is_agent),
    Check("logs.subscription", "log events reach intake (account policy or filters)", check_subscription),
)


def run(ctx: Context, checks: Iterable[Check] = CHECKS) -> list[Result]:
    results = []
    for check in checks:
        reason = check.when(ctx.config)
        if reason:
            results.append(Result(check.name, "skip", f"not used: {reason}"))
            continue
        try:
            results.append(Result(check.name, "ok", check.fn(ctx)))
        except _Fail as exc:
            results.append(Result(check.name, "fail", exc.detail, exc.fix))
        except _Skip as exc:
            results.append(Result(check.name, "skip", str(exc)))
    return results


def required_scopes(manifest: Path = MANIFEST) -> tuple[str, ...]:
    """The bot scopes of slack/manifest.yaml (the defaults when the file is not next to the package)."""
    if not manifest.is_file():
        return DEFAULT_SCOPES
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with the dev install
        return DEFAULT_SCOPES
    data = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    return tuple(((data.get("oauth_config") or {}).get("scopes") or {}).get("bot") or DEFAULT_SCOPES)


def report(results: list[Result], out: TextIO) -> int:
    for r in results:
        print(r.line(), file=out)
    failed = sum(not r.ok for r in results)
    passed = sum(r.status == "ok" for r in results)
    skipped = sum(r.status == "skip" for r in results)
    print(f"\n{passed} passed, {failed} failed, {skipped} skipped", file=out)
    return 1 if failed else 0


def config_fields() -> list[str]:
    return [f.name for f in fields(DoctorConfig)]
