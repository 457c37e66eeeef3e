#!/usr/bin/env python3
"""Cold start of each Lambda handler next to "import boto3 + create one client", and package sizes.

For every functions/<name>/app.py, in a fresh interpreter (median of --runs) with only the function's
directory and the layer's package on sys.path (like Lambda's /var/task + /opt/python):

* **first invocation**: ``import app`` plus the handler's first call. Where a local server can stand behind
  everything that call touches, it is the call itself on the function's sample event (events/): AWS is a
  ``moto_server`` in another process (``AWS_ENDPOINT_URL``), Slack and Confluence are the offline stand-ins
  (opsloop.local) on 127.0.0.1 in this process, so their imports are not counted but every round trip is:
  the secret read through Powertools parameters, DynamoDB, S3, EventBridge, chat.postMessage, views.open,
  the Confluence search/create/label calls. A Resolve click is signed afresh each run and clicks an incident
  that was stored and posted before; each publication is of a fingerprint that has no page yet. Where the
  call needs Bedrock (analyze, summarize, ingest_knowledge; seed_knowledge also answers CloudFormation), no
  local server exists, so it builds the adapters that call builds (opsloop.wiring) instead.
* **boto3 + one client**: ``import boto3; boto3.client("dynamodb")``, run in turns with the handler (baseline,
  handler, baseline, handler…). The ratio (target: at most 1.5x for every handler) is the median, over the
  runs, of the handler's CPU time over the CPU time of the baseline run just before it. CPU time, not wall
  time: on this machine, shared with other jobs, six runs of the baseline took 279–1189 ms of wall time and
  279–452 ms of CPU time; the wall time is printed too. What the CPU time leaves out is time spent waiting for
  the local servers, which answer in a few milliseconds and stand in for AWS, Slack and Confluence latency
  that no local measurement can give anyway.
* ``--compare DIR…`` measures other code roots in the same turns, one row each: export an earlier commit
  with ``git archive REV functions layers | tar -x -C DIR`` to get before/after ratios in the same
  conditions. ``--deployed`` loads each function and the layer from what ``make build`` packaged instead of
  the source tree, with ``-B`` as on Lambda's read-only /var/task and /opt: only the bytecode the build
  shipped is used. The layer's bytecode is for Python 3.13, so ``--python`` names a 3.13 with boto3 to read
  it (``python3.13 -m venv /tmp/py313 && /tmp/py313/bin/pip install boto3==… botocore==…`` at the locked
  versions); ``--compare`` with a copy of the build whose ``__pycache__`` directories are removed gives the
  ratio without bytecode in the same turns.

Sizes come from .aws-sam/build when it exists (run ``make build`` first).

    .venv/bin/python benchmarks/cold_start.py [--runs 5]

``CPU min–max`` shows the spread of the handler's runs. Measured with this machine's Python 3.11 and the
libraries of .venv (bytecode cached); Lambda runs 3.13 on arm64, so absolute numbers differ there.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "opsloop"
BIN = Path(sys.executable).parent
#: The interpreter of the measured children (``--python``); this one by default.
CHILD = [sys.executable]

STEP = "from opsloop.observability import logger; logger()"
METRICS = "from aws_lambda_powertools.metrics import single_metric"
CALL = "app.handler(EVENT, None)"
#: What the handler's first call runs. ``CALL`` runs the handler on its sample event (events/) against the local
#: servers: the whole first invocation, round trips included. Handlers whose domain call needs Bedrock (no
#: local server) build the adapters that call would build instead.
FIRST_CALL = {
    "analyze": [STEP, METRICS, "from opsloop import wiring; wiring.analyst()"],
    "classify": [CALL],
    "demo_errors": [CALL],
    "ingest_knowledge": [STEP, "from opsloop import wiring; wiring.ingestion()"],
    "intake": [CALL],
    "notify_slack": [CALL],
    "publish_confluence": [CALL],
    "report_failure": [CALL],
    "seed_knowledge": ["app._clients()"],
    "slack_interactions": [CALL],
    "store_report": [CALL],
    "summarize": [STEP, "from opsloop import wiring; wiring.incident_store(); wiring.slack_notifier(); "
                  "wiring.summarizer()"],
}
#: The sample event each CALL runs (a Resolve click is signed afresh, for the replay window).
SAMPLE = {"classify": "classify.json", "demo_errors": "demo_errors_scheduled.json",
          "intake": "cloudwatch_logs_subscription.json", "notify_slack": "notify_slack_open.json",
          "publish_confluence": "publish_confluence.json", "report_failure": "report_failure.json",
          "slack_interactions": "slack_interactions_resolve.json", "store_report": "store_report.json"}
TOKEN = "xoxb-1111-2222-coldstartbench"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
CONFLUENCE_USER, CONFLUENCE_TOKEN = "bench@example.com", "confluence-api-token"
ONCALL = "U0ONCALL01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start (pip install 'moto[server]')")


def env_for(url: str, secret_arn: str, slack_url: str, confluence_url: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPSLOOP_"))},
            "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": url,
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "POWERTOOLS_SERVICE_NAME": "opsloop", "POWERTOOLS_METRICS_NAMESPACE": "Opsloop",
            "OPSLOOP_TABLE_NAME": "incidents", "OPSLOOP_SECRET_ARN": secret_arn, "OPSLOOP_SLACK_CHANNEL_ID": "C0OPS",
            "OPSLOOP_SLACK_API_URL": slack_url, "OPSLOOP_ALLOWED_RESOLVERS": ONCALL,
            "OPSLOOP_KNOWLEDGE_BASE_ID": "KB1", "OPSLOOP_DATA_SOURCE_ID": "DS1", "OPSLOOP_MODEL_ID": "m",
            "OPSLOOP_KNOWLEDGE_BUCKET": "opsloop-knowledge", "OPSLOOP_CONFLUENCE_URL": confluence_url,
            "OPSLOOP_CONFLUENCE_SPACE_KEY": "OPS", "OPSLOOP_EVENT_BUS_NAME": "opsloop"}


BASELINE = ["import boto3; boto3.client('dynamodb')"]


def once(paths: list[Path], stmts: list[str], env: dict[str, str], event: Any = None) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds of ``stmts`` in a fresh interpreter (the child's own CPU: the local
    servers' work in other processes and threads is not in it)."""
    body = "; ".join(stmts) or "pass"
    code = (f"import sys,time; sys.path[:0]={[str(p) for p in paths]!r}; EVENT={event!r}; "
            f"t=time.perf_counter(); c=time.process_time(); {body}; "
            f"print(time.perf_counter()-t, time.process_time()-c, file=sys.stderr)")
    out = subprocess.run([*CHILD, "-B", "-c", code], capture_output=True, text=True, env=env,
                         check=False)
    if out.returncode:
        raise SystemExit(f"failed: {body}\n{out.stderr[-2000:]}")
    wall, cpu = out.stderr.strip().splitlines()[-1].split()
    return float(wall) * 1000, float(cpu) * 1000


def signed_click(sample: dict[str, Any], incident_id: str, message_ts: str) -> dict[str, Any]:
    """The API Gateway event of a Resolve click on ``message_ts``, signed now (Slack's 5-minute window)."""
    from opsloop.slack.interactions import interaction_body, sign_request

    body = interaction_body(incident_id=incident_id, user_id=ONCALL, channel_id="C0OPS", message_ts=message_ts)
    headers = {k.lower(): v for k, v in sign_request(body, SIGNING_SECRET, int(time.time())).items()}
    return {**sample, "headers": {"content-type": "application/x-www-form-urlencoded", **headers}, "body": body,
            "isBase64Encoded": False}


class Bench:
    """The local servers every first invocation talks to, and the sample event each handler is called with."""

    def __init__(self, url: str, slack: Any, out: Path) -> None:
        import boto3
        from opsloop.incidents import IncidentStore
        from opsloop.local.runner import _template_resources
        from opsloop.models import Analysis, Classification, Incident
        from opsloop.slack.notifier import SlackNotifier, make_client

        kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "testing",
              "aws_secret_access_key": "testing"}
        self.arn = boto3.client("secretsmanager", **kw).create_secret(Name="opsloop", SecretString=json.dumps({
            "slack_bot_token": TOKEN, "slack_signing_secret": SIGNING_SECRET, "username": CONFLUENCE_USER,
            "password": CONFLUENCE_TOKEN}))["ARN"]
        ddb = boto3.client("dynamodb", **kw)
        props = _template_resources(ROOT)["IncidentsTable"]["Properties"]
        ddb.create_table(TableName="incidents", KeySchema=props["KeySchema"],
                         AttributeDefinitions=props["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST")
        boto3.client("s3", **kw).create_bucket(Bucket="opsloop-knowledge")
        boto3.client("events", **kw).create_event_bus(Name="opsloop")
        # The incident the Resolve click is on: stored, posted to the channel, waiting for its task token.
        incident = self.sample("notify_slack")["incident"]
        self.incident_id = incident["incident_id"]
        store = IncidentStore(ddb, "incidents")
        store.create_incident(incident, now=time.time())
        event = self.sample("notify_slack")
        posted = SlackNotifier(make_client(TOKEN, base_url=slack.base_url), "C0OPS").post_incident(
            Incident.from_dict(incident), Classification.from_dict(event["classification"]),
            Analysis.from_dict(event["analysis"]))
        store.update_incident(self.incident_id, slack={"channel": posted.channel, "ts": posted.ts, "permalink": ""},
                              analysis=event["analysis"])
        store.set_wait_token(self.incident_id, "token-1", "open", now=time.time())
        self.message_ts = posted.ts
        self.runs = 0

    @staticmethod
    def sample(name: str) -> dict[str, Any]:
        return json.loads((ROOT / "events" / SAMPLE[name]).read_text(encoding="utf-8"))

    def event(self, name: str) -> Any:
        """A fresh event for one first invocation of ``name`` (None when it does not run the handler)."""
        if CALL not in FIRST_CALL.get(name, []):
            return None
        self.runs += 1
        if name == "slack_interactions":
            return signed_click(self.sample(name), self.incident_id, self.message_ts)
        event = self.sample(name)
        if name == "publish_confluence":  # a first publication each time: a fingerprint with no page yet
            fingerprint = f"{self.runs:016x}"
            event["incident"]["fingerprint"] = event["report"]["fingerprint"] = fingerprint
        return event


def timed(variants: list[list[Path]], stmts: list[str], env: dict[str, str], runs: int,
          event: Callable[[], Any]) -> tuple[list[list[tuple[float, float]]], list[tuple[float, float]]]:
    """The baseline and ``stmts`` on each variant's sys.path, ``runs`` times, taken in turns (baseline, then every
    variant, the first one changing each run), so a busy machine slows all of them alike."""
    mine: list[list[tuple[float, float]]] = [[] for _ in variants]
    base: list[tuple[float, float]] = []
    for run in range(runs):
        base.append(once(variants[0][1:], BASELINE, env))
        for i in (run + k for k in range(len(variants))):  # each run starts with the next variant
            mine[i % len(variants)].append(once(variants[i % len(variants)], stmts, env, event()))
    return mine, base


def layer_bytecode(build: Path) -> str:
    """Whether the measured interpreter finds bytecode of its own version in the built layer."""
    tag = subprocess.run([*CHILD, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True,
                         text=True, check=True).stdout.strip()
    found = next((build / "OpsloopLayer" / "python").rglob(f"*.{tag}.pyc"), None)
    return f"{tag} bytecode in the layer" if found else f"no {tag} bytecode in the layer: compiled on every start"


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*", default=None, help="function names to measure (default: all)")
    ap.add_argument("--code-root", type=Path, default=ROOT,
                    help="where functions/ and layers/opsloop/ come from, e.g. an export of an earlier commit "
                         "(`git archive REV functions layers | tar -x -C DIR`) to compare before/after")
    ap.add_argument("--compare", nargs="*", type=Path, default=[],
                    help="more code roots (with --deployed: build dirs) measured in the same turns, one row each")
    ap.add_argument("--deployed", action="store_true",
                    help="load each function and the layer from what `make build` packaged (--build-dir): no "
                         "bytecode, as Lambda loads them from its read-only /var/task and /opt")
    ap.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter of the measured children (default: this one). With --deployed, a Python 3.13 "
                         "that has boto3 reads the layer's 3.13 bytecode, as Lambda does")
    args = ap.parse_args()
    CHILD[:] = [args.python]
    import signal

    sys.path.insert(0, str(LAYER))
    from opsloop.local.confluence_server import ConfluenceStandIn
    from opsloop.local.slack_server import SlackStandIn

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop moto_server on kill as well
    proc, url = start_moto()
    out = Path(tempfile.mkdtemp(prefix="opsloop-cold-start-"))
    try:
        with SlackStandIn(out, TOKEN, "C0OPS", members=(ONCALL,)) as slack, \
                ConfluenceStandIn(out, CONFLUENCE_USER, CONFLUENCE_TOKEN, "OPS") as wiki:
            bench = Bench(url, slack, out)
            env = env_for(url, bench.arn, slack.base_url, wiki.base_url.removesuffix("/wiki"))
            report(args, bench, env)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(out, ignore_errors=True)
    return 0


def report(args: argparse.Namespace, bench: Bench, env: dict[str, str]) -> None:
    build = args.build_dir
    if args.deployed and not (build / "OpsloopLayer" / "python").is_dir():
        raise SystemExit(f"--deployed needs the packages in {build}: run make build first")
    where = (f"the packages in {build} ({layer_bytecode(build)})" if args.deployed
             else "functions/ and layers/opsloop/ with the libraries of .venv (bytecode cached)")
    print(f"Cold start, median of {args.runs} fresh interpreters, each next to `import boto3; "
          f"boto3.client('dynamodb')` measured in turns with it; code from {where}\n")
    print("| function | import (ms) | first invocation (ms) | its CPU (ms) | CPU min–max (ms) "
          "| boto3 + one client, CPU (ms) | ratio (CPU) | first call | package (bytes) |\n"
          "|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for app in sorted((args.code_root / "functions").glob("*/app.py")):
        name = app.parent.name
        if args.only and name not in args.only:
            continue
        logical = "".join(w.capitalize() for w in name.split("_")) + "Function"
        if args.deployed:
            variants = [[b / logical, b / "OpsloopLayer" / "python"] for b in [build, *args.compare]]
        else:
            variants = [[root / "functions" / name, root / "layers" / "opsloop"] for root in [args.code_root, *args.compare]]
        imp = statistics.median(once(variants[0], ["import app"], env)[0] for _ in range(args.runs))
        stmts = FIRST_CALL.get(name, [])
        mine, base = timed(variants, ["import app", *stmts], env, args.runs, functools.partial(bench.event, name))
        baseline = statistics.median(c for _, c in base)
        what = f"handler({SAMPLE[name]})" if CALL in stmts else "adapters built"
        for i, runs in enumerate(mine):
            cpu = [c for _, c in runs]
            ratio = statistics.median(c / b for c, (_, b) in zip(cpu, base))  # each run over the baseline before it
            worst = max(worst, ratio) if i == 0 else worst
            label = name if i == 0 else f"{name} ({args.compare[i - 1]})"
            print(f"| {label} | {f'{imp:.0f}' if i == 0 else ''} | {statistics.median(w for w, _ in runs):.0f} | "
                  f"{statistics.median(cpu):.0f} | {min(cpu):.0f}–{max(cpu):.0f} | {baseline:.0f} | {ratio:.2f}x | "
                  f"{what} | {du(build / logical) or 'n/a'} |", flush=True)
    print(f"\nWorst ratio: {worst:.2f}x (target <= 1.5x). Layer unzipped: "
          f"{du(build / 'OpsloopLayer') or 'n/a (run make build)'} bytes")


if __name__ == "__main__":
    raise SystemExit(main())
