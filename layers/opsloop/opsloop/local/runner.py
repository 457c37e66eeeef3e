"""``opsloop local run``: the whole incident lifecycle on a laptop, with no AWS account.

It executes statemachine/incident.asl.json itself in moto's Step Functions interpreter, with every Lambda
task dispatched in-process to the real handler in functions/. Behind the same ports as in AWS: moto for
DynamoDB, S3, EventBridge, SQS and Secrets Manager; a local retriever and extractive analyst instead of
the Bedrock Agent; a Slack Web API and a Confluence REST stand-in on 127.0.0.1, so the real slack-sdk and
atlassian-python-api code runs; the Resolve click is a signed Slack interaction through the real
verification path. The out dir keeps state between runs, so running the same error twice is a recurrence.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .faults import FaultPlan

REGION = "us-east-1"
CHANNEL = "C0OPSLOOP1"
RESOLVER = "U0ONCALL01"
SPACE = "OPS"
BUS = "opsloop-local"
BUCKET = "opsloop-local-knowledge"
TABLE = "opsloop-local-incidents"

# LogicalId → functions/<dir>
FUNCTIONS = {
    "IntakeFunction": "intake", "ClassifyFunction": "classify", "AnalyzeFunction": "analyze",
    "NotifySlackFunction": "notify_slack", "SlackInteractionsFunction": "slack_interactions",
    "SummarizeFunction": "summarize", "PublishConfluenceFunction": "publish_confluence",
    "StoreReportFunction": "store_report", "IngestKnowledgeFunction": "ingest_knowledge",
    "ReportFailureFunction": "report_failure",
}


class RunError(Exception):
    """A problem with the offline run's input or environment (exit status 2)."""


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "statemachine" / "incident.asl.json").is_file() and (parent / "functions").is_dir():
            return parent
    raise RunError("opsloop local run needs a source checkout (statemachine/ and functions/ next to layers/)")


@dataclass
class RunOptions:
    event: Path | None = None
    thread: Path | None = None
    knowledge: Path | None = None
    out: Path = Path(".opsloop")
    resolve: str = "auto"  # auto | prompt | never
    reminder_seconds: int = 3600
    escalation_seconds: int = 14400
    timeout_seconds: float = 300.0  # 0: no limit
    env: dict[str, str] = field(default_factory=dict)  # extra settings
    signing_secret: str | None = None  # the Slack app's signing secret; None: a fresh one per run
    faults: "FaultPlan | None" = None  # failures to inject (opsloop.local.faults)
    command: str = "run"  # how the run names itself in its first line


@dataclass
class RunResult:
    incident_id: str | None
    status: str
    states: list[str]
    analysis: dict[str, Any] | None
    execution: dict[str, Any]
    out: Path


def load_event(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunError(f"event file not found: {path}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"event file {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RunError(f"event file {path}: expected a JSON object")
    if isinstance(data.get("awslogs"), dict) or data.get("detail-type") == "CloudWatch Alarm State Change" \
            or isinstance(data.get("incident"), dict) or isinstance(data.get("Records"), list):
        return data
    raise RunError(f"event file {path}: not a CloudWatch Logs subscription event, a Kinesis batch, a CloudWatch "
                   "Alarm State Change or a state machine input ({\"incident\": ...})")


def load_thread(path: Path) -> list[dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"thread file {path}: {exc}") from exc
    messages = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "text" in m for m in messages):
        raise RunError(f"thread file {path}: expected a list of {{\"user\": ..., \"text\": ...}} messages")
    return [{"user": str(m.get("user", "U0TEAM0001")), "text": str(m["text"])} for m in messages]


def _template_resources(root: Path) -> dict[str, Any]:
    """template.yaml's resources, for building moto resources with the deployed key schema and rule."""
    return _template(root).get("Resources") or {}


def _template(root: Path) -> dict[str, Any]:
    """template.yaml as data (intrinsic functions kept as plain values)."""
    path = root / "template.yaml"
    if not path.is_file():
        return {}
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    Loader.add_multi_constructor("!", any_tag)
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    return doc if isinstance(doc, dict) else {}


def _asl(root: Path, substitutions: dict[str, str]) -> str:
    import re

    text = (root / "statemachine" / "incident.asl.json").read_text(encoding="utf-8")
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(substitutions))
    if missing:
        raise RunError(f"statemachine/incident.asl.json uses unknown substitutions: {', '.join(missing)}")
    for k, v in substitutions.items():
        text = text.replace("${%s}" % k, v)
    json.loads(text)
    return text


class Printer:
    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def run(opts: RunOptions, say: Callable[[str], None] | None = None) -> RunResult:
    """The whole lifecycle of every incident the event opens, one after the other, clicking Resolve."""
    with Session(opts, say) as session:
        if not session.inputs:
            return session.finish()
        for input_ in session.inputs:  # every incident the event opened goes through its own lifecycle
            execution = session.start_execution(input_)
            session.drive(execution, click=opts.resolve != "never", prompt=opts.resolve == "prompt")
        return session.finish()


@dataclass
class Execution:
    """One incident's execution as the session follows it."""

    incident_id: str
    arn: str
    input: dict[str, Any]
    watcher: "_Watcher"
    deadline: float
    seeded: bool = False
    clicked: bool = False
    announced: bool = False
    status: str = "RUNNING"
    error: str = ""  # why the run stopped it, if it did
    desc: dict[str, Any] = field(default_factory=dict)


class Session:
    """The offline stack of one run, in phases ``serve`` and ``run`` share.

    ``open()`` (or ``with``) starts the Slack and Confluence stand-ins, moto with the deployed table, bucket,
    secret, bus, rule and state machine, and runs the event through intake (``inputs`` = the executions to
    start). ``start_execution`` / ``poll`` / ``waiting`` / ``seed_thread`` / ``click_resolve`` drive one
    execution; ``finish()`` writes execution.json and the state for the next run; ``close()`` undoes it all.
    """

    def __init__(self, opts: RunOptions, say: Callable[[str], None] | None = None) -> None:
        self.opts = opts
        self.say = say or Printer()
        self.root = repo_root()
        self.signing_secret = opts.signing_secret or secrets.token_hex(16)
        self.executions: list[Execution] = []
        self.inputs: list[dict[str, Any]] = []
        self._closers: list[Callable[[], None]] = []

    # -- setup and teardown ---------------------------------------------------------------------------
    def __enter__(self) -> "Session":
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self) -> None:
        opts = self.opts
        knowledge = (opts.knowledge or self.root / "knowledge").resolve()
        if not knowledge.is_dir():
            raise RunError(f"knowledge dir not found: {knowledge}")
        default_event = self.root / "events" / "cloudwatch_logs_subscription.json"
        event = load_event(opts.event) if opts.event else load_event(default_event)
        thread_file = opts.thread or (None if opts.event else self.root / "events" / "slack_thread.json")
        self.thread = load_thread(thread_file) if thread_file else []
        self.out = out = opts.out.resolve()
        for sub in ("slack", "confluence", "knowledge", "state", "logs", "index"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / "slack").glob("*.json"):
            stale.unlink()  # one run's Slack calls; Confluence and knowledge keep history on purpose
        for stale in (out / "confluence").glob("[0-9][0-9][0-9][0-9]-*.json"):
            stale.unlink()
        (out / "faults.jsonl").unlink(missing_ok=True)

        from .confluence_server import ConfluenceStandIn
        from .slack_server import SlackStandIn

        faults = opts.faults
        if faults is not None:
            faults.attach(out / "faults.jsonl")
        bot_token = "xoxb-local-" + secrets.token_hex(8)
        conf_user, conf_token = "opsloop@example.invalid", "local-" + secrets.token_hex(8)
        self.started = time.monotonic()
        saved_env = dict(os.environ)
        self.log = (out / "logs" / "functions.log").open("a", encoding="utf-8")
        self._closers.append(self.log.close)
        self.slack = SlackStandIn(out, bot_token, CHANNEL, faults=faults)
        self.confluence = ConfluenceStandIn(out, conf_user, conf_token, SPACE, faults=faults)
        self._closers.append(self._restore_env(saved_env))
        self._closers.append(self.slack.stop)
        self._closers.append(self.confluence.stop)
        slack_url = self.slack.start()
        confluence_url = self.confluence.start()
        os.environ.update({
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "POWERTOOLS_SERVICE_NAME": "opsloop", "POWERTOOLS_METRICS_NAMESPACE": "Opsloop",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"),
            "OPSLOOP_TABLE_NAME": TABLE, "OPSLOOP_SLACK_CHANNEL_ID": CHANNEL, "OPSLOOP_EVENT_BUS_NAME": BUS,
            "OPSLOOP_ANALYST": "local", "OPSLOOP_SUMMARIZER": "local", "OPSLOOP_INGESTION": "local",
            "OPSLOOP_CONFLUENCE_URL": confluence_url, "OPSLOOP_CONFLUENCE_SPACE_KEY": SPACE,
            "OPSLOOP_KNOWLEDGE_BUCKET": BUCKET, "OPSLOOP_SLACK_API_URL": slack_url,
            "OPSLOOP_LOCAL_KNOWLEDGE_DIRS": str(knowledge), "OPSLOOP_LOCAL_REPORTS_DIR": str(out / "knowledge"),
            "OPSLOOP_INDEX_DIR": str(out / "index"), "OPSLOOP_ALLOWED_RESOLVERS": RESOLVER,
        })
        os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
        os.environ.update(opts.env)

        import logging

        import boto3
        from moto import mock_aws

        from .. import wiring
        from .lambda_dispatch import Dispatcher

        logging.getLogger("moto").setLevel(logging.CRITICAL)  # the interpreter logs every Fail state as an error
        wiring.reset()
        self.dispatcher = Dispatcher(self.root / "functions", FUNCTIONS, log=self.log, faults=faults)
        mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
        mock.start()
        self._closers.append(mock.stop)
        self.usage = _metered(self.root)
        counter = _count_calls(self.usage)
        counter.__enter__()
        self._closers.append(counter.__exit__)
        self.dispatcher.install()
        self._closers.append(self.dispatcher.uninstall)
        if faults is not None:
            faults.install()
            self._closers.append(faults.uninstall)
        self.aws = _Aws(boto3, self.root)
        self.aws.dispatcher = self.dispatcher
        secret_arn = self.aws.setup(out, {"slack_bot_token": bot_token, "slack_signing_secret": self.signing_secret,
                                          "username": conf_user, "password": conf_token}, opts)
        os.environ["OPSLOOP_SECRET_ARN"] = secret_arn
        wiring.reset()
        self.say(f"opsloop local {opts.command} → {out}")
        if faults is not None and faults.rules:
            self.say(f"  faults: {faults.spec}")
        self.inputs = self.aws.to_execution_inputs(event, self.say)

    @staticmethod
    def _restore_env(saved: dict[str, str]) -> Callable[[], None]:
        def restore() -> None:
            os.environ.clear()
            os.environ.update(saved)
            from .. import wiring

            wiring.reset()
        return restore

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception as exc:  # noqa: BLE001 - the rest must still be undone
                print(f"opsloop: cleanup step failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    # -- one execution --------------------------------------------------------------------------------
    def start_execution(self, input_: dict[str, Any]) -> Execution:
        incident_id = input_["incident"]["incident_id"]
        arn = self.aws.sfn.start_execution(stateMachineArn=self.aws.state_machine, name=incident_id,
                                           input=json.dumps(input_))["executionArn"]
        self.say(f"incident {incident_id}: execution started")
        execution = Execution(incident_id, arn, input_, _Watcher(self.aws.sfn, arn, self.say),
                              time.monotonic() + self.opts.timeout_seconds if self.opts.timeout_seconds else 0.0)
        self.executions.append(execution)
        return execution

    def poll(self, execution: Execution) -> bool:
        """Print what happened since the last poll; True once the execution has reached a terminal state.
        An execution past the run's timeout is stopped (and reported as ABORTED)."""
        if execution.status != "RUNNING":
            return True
        desc = self.aws.sfn.describe_execution(executionArn=execution.arn)
        execution.watcher.poll()
        if desc["status"] == "RUNNING" and execution.deadline and time.monotonic() > execution.deadline:
            self.abort(execution, "LocalRunTimeout", f"no terminal state within {self.opts.timeout_seconds:.0f}s")
            return True
        if desc["status"] != "RUNNING":
            execution.watcher.poll()
            execution.status, execution.desc = desc["status"], desc
            return True
        return False

    def abort(self, execution: Execution, error: str, cause: str) -> None:
        """Stop a running execution and close its incident, so the next occurrence opens a new one rather
        than being counted towards an incident nothing follows any more."""
        if execution.status != "RUNNING":
            return
        self.aws.sfn.stop_execution(executionArn=execution.arn, error=error, cause=cause)
        execution.error = error
        from .. import wiring
        from ..incidents import IncidentStatus
        from ..lifecycle import close_incident
        from ..models import Incident

        item = self.aws.incident_item(execution.incident_id)
        if item.get("status", {}).get("S") not in ("CLOSED", "FAILED", "ESCALATED"):
            incident = Incident.from_dict(execution.input["incident"])
            close_incident(wiring.incident_store(), incident, IncidentStatus.ABORTED, closed_at=time.time(), task_token="")
        deadline = time.monotonic() + 2
        while True:  # the interpreter's thread notices the stop on its next step
            execution.desc = self.aws.sfn.describe_execution(executionArn=execution.arn)
            if execution.desc["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        execution.watcher.poll()
        execution.status = execution.desc["status"] if execution.desc["status"] != "RUNNING" else "ABORTED"

    def waiting(self, execution: Execution) -> bool:
        """Whether the execution waits for a human (its message is posted and the task token parked)."""
        return self.aws.waiting(execution.incident_id)

    def slack_ref(self, execution: Execution) -> dict[str, str]:
        return json.loads(self.aws.incident_item(execution.incident_id)["slack"]["S"])

    def seed_thread(self, execution: Execution) -> None:
        """The discussion from --thread, added to the incident's thread (once)."""
        if self.thread and not execution.seeded:
            _seed_thread(self.slack, self.aws, execution.incident_id, self.thread)
            self.say(f"  ↳ {len(self.thread)} thread message(s) added to the incident's Slack thread")
        execution.seeded = True

    def click_resolve(self, execution: Execution) -> str:
        from ..slack.interactions import interaction_body, sign_request

        execution.clicked = True
        return _click_resolve(self.dispatcher, self.aws, execution.incident_id, self.signing_secret,
                              interaction_body, sign_request, self.slack)

    def drive(self, execution: Execution, *, click: bool, prompt: bool = False) -> None:
        """Poll until the execution ends, seeding the thread and clicking Resolve when it waits."""
        while not self.poll(execution):
            # One reading per turn: read twice, the wait could begin between the reads, and Resolve would be
            # clicked before the discussion was added (the report then has no thread; seen on a loaded machine).
            waiting = self.waiting(execution)
            if waiting and not execution.seeded:
                self.seed_thread(execution)  # discussed whether or not anyone clicks: a draft keeps it too
            if waiting and click and not execution.clicked:
                if prompt:
                    try:
                        input("  Resolve the incident now? Press Enter to click Resolve… ")
                    except EOFError:  # no terminal (piped, CI): resolve as auto would
                        self.say("")
                outcome = self.click_resolve(execution)
                self.say(f"  ↳ Resolve clicked in Slack by <@{RESOLVER}>: {outcome}")
            time.sleep(0.05)

    # -- the end --------------------------------------------------------------------------------------
    def finish(self) -> RunResult:
        """execution.json (the first incident, the others listed), the table for the next run, a summary."""
        if not self.executions:
            result = RunResult(None, "NO_INCIDENT", [], None, {}, self.out)
            _write_execution(self.out, result, self._extra({"note": "the event opened no new incident"}))
            self.aws.save_state(self.out)
            _write_preview(self.out, self.slack, self.say)
            return result
        results = [self._result(e) for e in self.executions]
        first, extra = results[0]
        extra["cost"] = _cost(self.usage, self.dispatcher, results)
        if len(results) > 1:
            extra["other_incidents"] = [{"incident_id": r.incident_id, "status": r.status} for r, _ in results[1:]]
        _write_execution(self.out, first, self._extra(extra))
        self.aws.save_state(self.out)
        _write_preview(self.out, self.slack, self.say)
        for r, x in results:
            _summary(self.say, r, x)
        return first if all(r.status == "SUCCEEDED" for r, _ in results) else \
            next(r for r, _ in results if r.status != "SUCCEEDED")

    def _extra(self, extra: dict[str, Any]) -> dict[str, Any]:
        faults = self.opts.faults
        if faults is not None and faults.rules:
            extra["faults"] = {"spec": faults.spec, "injected": faults.injected()}
        return extra

    def _result(self, execution: Execution) -> tuple[RunResult, dict[str, Any]]:
        desc = execution.desc or self.aws.sfn.describe_execution(executionArn=execution.arn)
        result = _result(self.aws.sfn, execution.arn, execution.incident_id, self.out, execution.watcher.states)
        if execution.status == "ABORTED":  # stopped by the run; the interpreter may not have noticed yet
            result.status = "ABORTED"
        extra = {"execution_arn": execution.arn, "wall_seconds": round(time.monotonic() - self.started, 2),
                 "error": desc.get("error") or execution.error or None, "cause": (desc.get("cause") or "")[:1000]}
        output = json.loads(desc.get("output") or "{}")
        for key in ("page", "stored", "ingestion", "classification"):
            if output.get(key):
                extra[key] = output[key]
        draft = _draft_stored(self.aws.sfn, execution.arn)
        if draft:  # nobody confirmed in time: the unresolved execution has no output, its draft is in the history
            extra["draft"] = draft
        return result, extra


def _metered(root: Path) -> Any:
    """A cost meter knowing each function's memory and architecture as template.yaml deploys them."""
    from ..cost import Usage

    doc = _template(root)
    glob = ((doc.get("Globals") or {}).get("Function") or {})
    usage = Usage()
    arch = glob.get("Architectures") or ["x86_64"]
    usage.architecture = str(arch[0]) if isinstance(arch, list) and arch else "x86_64"
    for logical in FUNCTIONS:
        props = ((doc.get("Resources") or {}).get(logical) or {}).get("Properties") or {}
        try:
            usage.memory_mb[logical] = int(props.get("MemorySize") or glob.get("MemorySize") or 128)
        except (TypeError, ValueError):  # an intrinsic function: Lambda's default
            usage.memory_mb[logical] = 128
    usage.model_id = os.environ.get("OPSLOOP_MODEL_ID", "")
    return usage


class _count_calls:
    """Counts every AWS API call a handler makes (not the runner's own set-up and polling)."""

    def __init__(self, usage: Any) -> None:
        self.usage = usage

    def __enter__(self) -> None:
        import botocore.client

        from .lambda_dispatch import in_function

        self._original = original = botocore.client.BaseClient._make_api_call
        usage = self.usage

        def counted(client: Any, operation_name: str, api_params: Any) -> Any:
            if in_function():
                usage.count_call(client.meta.service_model.service_name, operation_name, api_params)
            return original(client, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def __exit__(self, *exc: Any) -> None:
        import botocore.client

        botocore.client.BaseClient._make_api_call = self._original  # type: ignore[method-assign]


def _cost(usage: Any, dispatcher: Any, results: list[tuple[RunResult, dict[str, Any]]]) -> dict[str, Any]:
    from ..cost import price

    usage.invocations = list(dispatcher.invocations)
    usage.transitions = sum(len(r.states) for r, _ in results)
    engines = set()
    for r, _ in results:
        a = r.analysis or {}
        b = a.get("budget") or {}
        usage.input_tokens += int(b.get("input_tokens") or 0)
        usage.output_tokens += int(b.get("output_tokens") or 0)
        engines.add(str(a.get("engine") or "?"))
    if all(e.startswith("local") for e in engines) and os.environ.get("OPSLOOP_SUMMARIZER") == "local":
        usage.token_note = ("0: the local analyst and summarizer call no model; a Bedrock run counts the "
                            "model's own token usage")
    table = price(usage)
    table["incidents"] = len(results)
    table["transitions_by_incident"] = {r.incident_id: len(r.states) for r, _ in results}
    return table


class _Aws:
    def __init__(self, boto3: Any, root: Path) -> None:
        self.root = root
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.lam = boto3.client("lambda", region_name=REGION)
        self.sm = boto3.client("secretsmanager", region_name=REGION)
        self.iam = boto3.client("iam", region_name=REGION)
        self.resources = _template_resources(root)

    def setup(self, out: Path, secret: dict[str, str], opts: RunOptions) -> str:
        table = self.resources.get("IncidentsTable", {}).get("Properties", {})
        key_schema = table.get("KeySchema") or [{"AttributeName": "pk", "KeyType": "HASH"}]
        attrs = table.get("AttributeDefinitions") or [{"AttributeName": "pk", "AttributeType": "S"}]
        self.ddb.create_table(TableName=TABLE, KeySchema=key_schema, AttributeDefinitions=attrs,
                              BillingMode="PAY_PER_REQUEST")
        self._restore_table(out)
        self.s3.create_bucket(Bucket=BUCKET)
        for f in sorted((out / "knowledge").glob("*.md*")):
            self.s3.put_object(Bucket=BUCKET, Key=f"reports/{f.name}", Body=f.read_bytes())
        for f in sorted((out / "knowledge" / "drafts").glob("*.md*")):  # unconfirmed drafts, kept apart
            self.s3.put_object(Bucket=BUCKET, Key=f"drafts/{f.name}", Body=f.read_bytes())
        arn = self.sm.create_secret(Name="opsloop-local", SecretString=json.dumps(secret))["ARN"]
        role = self.iam.create_role(RoleName="opsloop-local", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        import io
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("app.py", "def handler(event, context):\n    return event\n")
        subs: dict[str, str] = {}
        for logical in FUNCTIONS:
            fn = self.lam.create_function(FunctionName=logical, Runtime="python3.13", Role=role,
                                          Handler="app.handler", Code={"ZipFile": buf.getvalue()})
            subs[f"{logical}Arn"] = fn["FunctionArn"]
        subs.update({"IncidentsTableName": TABLE, "ReminderSeconds": str(opts.reminder_seconds),
                     "EscalationSeconds": str(opts.escalation_seconds), "IngestionPollSeconds": "1",
                     "ExecutionTimeoutSeconds": str(opts.reminder_seconds + opts.escalation_seconds + 3600)})
        self.state_machine = self.sfn.create_state_machine(
            name="opsloop-incident", definition=_asl(self.root, subs), roleArn=role, type="STANDARD")["stateMachineArn"]
        # The bus, the rule (pattern as deployed) and a queue standing in for the rule's state machine target.
        self.events.create_event_bus(Name=BUS)
        rule = self.resources.get("IncidentOpenedRule", {}).get("Properties", {})
        pattern = rule.get("EventPattern") or {"source": ["opsloop.intake"], "detail-type": ["Incident Opened"]}
        self.events.put_rule(Name="incident-opened", EventBusName=BUS, EventPattern=json.dumps(pattern))
        q = self.sqs.create_queue(QueueName="incident-opened")["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_targets(Rule="incident-opened", EventBusName=BUS, Targets=[{"Id": "q", "Arn": qarn}])
        self.queue = q
        return arn

    def _restore_table(self, out: Path) -> None:
        path = out / "state" / "incidents.json"
        if not path.is_file():
            return
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RunError(f"{path} is corrupt ({exc}); delete the out dir to start afresh") from exc
        for item in items:
            self.ddb.put_item(TableName=TABLE, Item=item)

    def save_state(self, out: Path) -> None:
        items = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=TABLE):
            items.extend(i for i in page["Items"] if not i["pk"]["S"].startswith("THREAD#"))
        for item in items:
            item.pop("task_token", None)
        (out / "state" / "incidents.json").write_text(json.dumps(items, indent=1), encoding="utf-8")

    def to_execution_inputs(self, event: dict[str, Any], say: Callable[[str], None]) -> list[dict[str, Any]]:
        if isinstance(event.get("incident"), dict):
            return [event]
        kind = ("CloudWatch Logs subscription" if "awslogs" in event else
                "Kinesis (CloudWatch Logs destination)" if "Records" in event else "CloudWatch Alarm")
        try:
            result = self.dispatcher.call("IntakeFunction", event)
        except Exception as exc:  # noqa: BLE001 - shown to the user as the run's error
            raise RunError(f"intake rejected the event: {type(exc).__name__}: {str(exc)[:500]}") from exc
        if result.get("control"):
            say("intake: a CloudWatch Logs control message (health check); nothing to do")
            return []
        say(f"intake ({kind}): {result.get('lines', 0)} line(s), {result.get('groups', 0)} fingerprint(s), "
            f"{len(result.get('opened', []))} incident(s) opened, {result.get('ignored', 0)} ignored")
        inputs = []
        while True:  # what the rule delivered to its target, in order
            msgs = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                inputs.append(json.loads(m["Body"])["detail"])
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        if not inputs:
            for incident_id, n in (result.get("counted") or {}).items():
                say(f"  no new incident: {n} occurrence(s) now counted towards open incident {incident_id}")
        return inputs

    def waiting(self, incident_id: str) -> bool:
        return self.incident_item(incident_id).get("status", {}).get("S") == "WAITING"

    def incident_item(self, incident_id: str) -> dict[str, Any]:
        r = self.ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"INC#{incident_id}"}}, ConsistentRead=True)
        return r.get("Item", {})


def _seed_thread(slack: Any, aws: _Aws, incident_id: str, thread: list[dict[str, str]]) -> None:
    ref = json.loads(aws.incident_item(incident_id)["slack"]["S"])
    slack.seed_thread(ref["channel"], ref["ts"], thread)


def _click_resolve(dispatcher: Any, aws: _Aws, incident_id: str, signing_secret: str, interaction_body: Any,
                   sign_request: Any, slack: Any = None) -> str:
    """Click Resolve as a person would: the click opens the confirmation modal (the stand-in records the
    views.open), then the pre-filled modal is submitted unchanged as a signed view_submission."""
    from ..slack.interactions import view_submission_body

    ref = json.loads(aws.incident_item(incident_id)["slack"]["S"])
    # no response_url: the ephemeral "Resolved by" note would go to hooks.slack.com, which an offline run
    # must not reach (the handler ignores a missing one)
    body = interaction_body(incident_id=incident_id, user_id=RESOLVER, channel_id=ref["channel"],
                            message_ts=ref["ts"], response_url="")
    opened = len(slack.views) if slack is not None else 0
    try:
        clicked = _post_signed(dispatcher, body, signing_secret, sign_request)
        if clicked.get("outcome") != "confirming" or slack is None or len(slack.views) <= opened:
            return str(clicked.get("outcome") or clicked.get("error") or "no modal opened")
        view = slack.views[-1]
        answer = _post_signed(dispatcher, view_submission_body(view, RESOLVER, view_id=view.get("id", "V0LOCAL")),
                              signing_secret, sign_request)
    except Exception as exc:  # noqa: BLE001 - reported, the execution then times out visibly
        return f"error {type(exc).__name__}: {str(exc)[:300]}"
    if answer.get("response_action") == "errors":
        return "refused: " + "; ".join(str(v) for v in (answer.get("errors") or {}).values())
    return "resolved (confirmed in the modal)"


def _post_signed(dispatcher: Any, body: str, signing_secret: str, sign_request: Any) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded",
               **{k.lower(): v for k, v in sign_request(body, signing_secret, int(time.time())).items()}}
    event = {"version": "2.0", "routeKey": "POST /slack/interactions", "rawPath": "/slack/interactions",
             "headers": headers, "body": body, "isBase64Encoded": False,
             "requestContext": {"http": {"method": "POST", "path": "/slack/interactions"}}}
    payload = dispatcher.call("SlackInteractionsFunction", event)
    answer = json.loads(payload.get("body") or "{}")
    if payload.get("statusCode") != 200:
        return {"error": f"HTTP {payload.get('statusCode')}: {answer.get('error', '')}"}
    return answer


class _Watcher:
    """Prints each state as the execution enters and leaves it."""

    def __init__(self, sfn: Any, arn: str, say: Callable[[str], None]) -> None:
        self.sfn, self.arn, self.say = sfn, arn, say
        self.seen = 0
        self.states: list[str] = []
        self.entered: dict[str, Any] = {}

    def poll(self) -> None:
        events = self.sfn.get_execution_history(executionArn=self.arn, maxResults=1000)["events"]
        for ev in events[self.seen:]:
            t = ev["type"]
            if t.endswith("StateEntered"):
                name = ev["stateEnteredEventDetails"]["name"]
                self.states.append(name)
                self.entered[name] = ev["timestamp"]
                self.say(f"  ▶ {name}")
            elif t.endswith("StateExited"):
                name = ev["stateExitedEventDetails"]["name"]
                began = self.entered.get(name)
                ms = f" ({(ev['timestamp'] - began).total_seconds() * 1000:.0f} ms)" if began else ""
                self.say(f"  ✓ {name}{ms}")
            elif t in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "ExecutionFailed"):
                details = next((v for k, v in ev.items() if k.endswith("EventDetails")), {})
                self.say(f"  ✗ {t}: {details.get('error', '')} {str(details.get('cause', ''))[:200]}")
        self.seen = len(events)


def _result(sfn: Any, arn: str, incident_id: str, out: Path, states: list[str]) -> RunResult:
    desc = sfn.describe_execution(executionArn=arn)
    analysis = None
    output = json.loads(desc.get("output") or "{}")
    if isinstance(output.get("analysis"), dict):
        analysis = output["analysis"]
    else:  # failed executions have no output: take the analysis from the history
        for ev in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]:
            det = ev.get("stateExitedEventDetails") or {}
            if det.get("name") == "Analyze Error":
                analysis = json.loads(det.get("output") or "{}").get("analysis")
    return RunResult(incident_id, desc["status"], states, analysis, output, out)


def _draft_stored(sfn: Any, arn: str) -> dict[str, Any] | None:
    """Where the draft of an unresolved incident was stored, from the execution history (None: no draft)."""
    for ev in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]:
        det = ev.get("stateExitedEventDetails") or {}
        if det.get("name") == "Store Draft in Knowledge Bucket":
            stored = json.loads(det.get("output") or "{}").get("stored")
            return stored if isinstance(stored, dict) else None
    return None


def _write_execution(out: Path, result: RunResult, extra: dict[str, Any]) -> None:
    doc = {"incident_id": result.incident_id, "status": result.status, "states": result.states,
           "analysis": result.analysis, **extra}
    (out / "execution.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def _write_preview(out: Path, slack: Any, say: Callable[[str], None]) -> None:
    """preview.html from this run's recorded Slack calls and the latest Confluence page."""
    from . import preview

    replies = [m for m in slack.messages() if m.get("thread_ts") and m.get("thread_ts") != m.get("ts")
               and not m.get("bot_id")]
    preview.write(out, replies=replies)


def _summary(say: Callable[[str], None], result: RunResult, extra: dict[str, Any]) -> None:
    from ..report_rules import cut_at_word

    a = result.analysis or {}
    say("")
    say(f"{result.status}: incident {result.incident_id} in {extra.get('wall_seconds')} s")
    if a:
        src = ", ".join(str(s.get("doc_id")) for s in a.get("sources", [])[:3]) or "none"
        hist = " (answered from history)" if a.get("answered_from_history") else ""
        say(f"  root cause: {cut_at_word(a.get('root_cause', ''), 160)}")
        say(f"  sources{hist}: {src}")
        b = a.get("budget") or {}
        tokens = (f"{b.get('input_tokens', 0)}/{b.get('max_input_tokens', 0)} input, "
                  f"{b.get('output_tokens', 0)}/{b.get('max_output_tokens', 0)} output tokens"
                  if b.get("max_input_tokens") else "no model tokens")
        say(f"  analysis budget: {a.get('engine', '?')}, {b.get('elapsed_ms', 0)} ms, {tokens}")
    cost = extra.get("cost")
    if cost:
        n = cost.get("incidents", 1)
        calls = cost.get("calls", {})
        by = {svc: sum(v for k, v in calls.items() if k.startswith(svc + ".")) for svc in ("dynamodb", "events", "s3")}
        tokens = sum(r["quantity"] for r in cost["rows"] if r["item"].startswith("Model "))
        say(f"  cost: ${cost['total_usd']:.6f} for {n} incident(s) ({cost['region']} list prices of "
            f"{cost['prices_as_of']}): {sum(cost['transitions_by_incident'].values())} state transitions, "
            f"{cost['lambda_gb_seconds']:.3f} Lambda GB-s, {by['dynamodb']} DynamoDB, {by['events']} EventBridge, "
            f"{by['s3']} S3 request(s), {tokens:g} model tokens")
    if extra.get("page"):
        say(f"  Confluence page {extra['page'].get('page_id')} "
            f"({'created' if extra['page'].get('created') else 'updated'})")
    if extra.get("stored"):
        say(f"  report: {extra['stored'].get('uri')}")
    if extra.get("draft"):
        say(f"  draft (unconfirmed, not an answer): {extra['draft'].get('uri')}")
    if extra.get("error"):
        say(f"  error: {extra['error']}: {cut_at_word(extra.get('cause', ''), 300)}")
    say(f"  out dir: {result.out} (execution.json, preview.html, slack/, confluence/, knowledge/)")
    if result.status == "SUCCEEDED" and not a.get("answered_from_history"):
        say("  Run the same command again: the next occurrence is answered from this incident's report.")


def encode_subscription(log_group: str, messages: list[str], *, stream: str = "app/1", start_ms: int | None = None) -> dict[str, Any]:
    """A CloudWatch Logs subscription event exactly as Lambda receives it (for samples and tests)."""
    start_ms = start_ms or int(time.time() * 1000)
    payload = {"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": log_group, "logStream": stream,
               "subscriptionFilters": ["opsloop-errors"],
               "logEvents": [{"id": f"{start_ms + i:020d}{i:016d}", "timestamp": start_ms + i, "message": m}
                             for i, m in enumerate(messages)]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def clean(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
