#!/usr/bin/env python3
"""Cold start of each Lambda handler next to "import boto3 + create one client", and package sizes.

For every functions/<name>/app.py, in a fresh interpreter (median of --runs) with only the function's
directory and the layer's package on sys.path (like Lambda's /var/task + /opt/python):

* **first invocation**: ``import app`` plus what the handler's first call loads: the adapters it builds
  (``opsloop.wiring``: boto3 clients, slack-sdk, atlassian-python-api, the analyst), the opsloop secret read
  through Powertools parameters, the Powertools logger and metrics. AWS is a ``moto_server`` in another
  process (``AWS_ENDPOINT_URL``), so nothing it imports is counted; the domain call itself (its network
  round trips) is not run.
* **boto3 + one client**: ``import boto3; boto3.client("dynamodb")`` measured in the same run, and the ratio
  (target: at most 1.5x for every handler).

Sizes come from .aws-sam/build when it exists (run ``make build`` first).

    .venv/bin/python benchmarks/cold_start.py [--runs 5]

Measured with this machine's Python 3.11 (Lambda runs 3.13 on arm64: absolute numbers differ there).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "opsloop"
BIN = Path(sys.executable).parent

STEP = "from opsloop.observability import logger; logger()"
METRICS = "from aws_lambda_powertools.metrics import single_metric"
FIRST_CALL = {
    "analyze": [STEP, METRICS, "from opsloop import wiring; wiring.analyst()"],
    "classify": [STEP, "app.handler({'incident': INCIDENT})"],
    "demo_errors": [],
    "ingest_knowledge": [STEP, "from opsloop import wiring; wiring.ingestion()"],
    "intake": [METRICS, "app._intake()"],
    "notify_slack": [STEP, METRICS, "from opsloop import wiring; wiring.incident_store(); wiring.slack_notifier()"],
    "publish_confluence": [STEP, "from opsloop import wiring; wiring.wiki()"],
    "report_failure": [STEP, METRICS, "from opsloop import wiring; wiring.incident_store(); wiring.slack_notifier()"],
    "seed_knowledge": ["import boto3; boto3.client('s3')"],
    "slack_interactions": [STEP, METRICS, "from opsloop import wiring; from opsloop.config import get_secrets; "
                           "get_secrets(); wiring.incident_store(); wiring.aws_client('stepfunctions'); "
                           "wiring.aws_client('lambda'); wiring.slack_notifier(); wiring.analyst()"],
    "store_report": [STEP, "from opsloop import wiring; wiring.incident_store(); wiring.aws_client('s3')"],
    "summarize": [STEP, "from opsloop import wiring; wiring.incident_store(); wiring.slack_notifier(); "
                  "wiring.summarizer()"],
}
INCIDENT = {"incident_id": "i-1", "fingerprint": "f", "template": "connection refused", "message": "connection refused",
            "source": "/aws/lambda/orders", "service": "orders"}


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


def env_for(url: str, secret_arn: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPSLOOP_"))},
            "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": url,
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "POWERTOOLS_SERVICE_NAME": "opsloop", "POWERTOOLS_METRICS_NAMESPACE": "Opsloop",
            "OPSLOOP_TABLE_NAME": "incidents", "OPSLOOP_SECRET_ARN": secret_arn, "OPSLOOP_SLACK_CHANNEL_ID": "C0OPS",
            "OPSLOOP_KNOWLEDGE_BASE_ID": "KB1", "OPSLOOP_DATA_SOURCE_ID": "DS1", "OPSLOOP_MODEL_ID": "m",
            "OPSLOOP_KNOWLEDGE_BUCKET": "kb", "OPSLOOP_CONFLUENCE_URL": "https://example.atlassian.net",
            "OPSLOOP_CONFLUENCE_SPACE_KEY": "OPS", "OPSLOOP_EVENT_BUS_NAME": "opsloop"}


BASELINE = ["import boto3; boto3.client('dynamodb')"]


def once(paths: list[Path], stmts: list[str], env: dict[str, str]) -> float:
    body = "; ".join(stmts) or "pass"
    code = (f"import sys,time; sys.path[:0]={[str(p) for p in paths]!r}; INCIDENT={INCIDENT!r}; "
            f"t=time.perf_counter(); {body}; print(time.perf_counter()-t, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"failed: {body}\n{out.stderr[-2000:]}")
    return float(out.stderr.strip().splitlines()[-1]) * 1000


def timed(paths: list[Path], stmts: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median of ``stmts`` and of the baseline, taken in turns (a busy machine slows both alike)."""
    mine, base = [], []
    for _ in range(runs):
        base.append(once([LAYER], BASELINE, env))
        mine.append(once(paths, stmts, env))
    return statistics.median(mine), statistics.median(base)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop moto_server on kill as well
    proc, url = start_moto()
    try:
        import boto3

        sm = boto3.client("secretsmanager", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        arn = sm.create_secret(Name="opsloop", SecretString=json.dumps({
            "slack_bot_token": "xoxb-1", "slack_signing_secret": "0" * 32, "username": "u@example.com",
            "password": "p"}))["ARN"]
        env = env_for(url, arn)
        build = ROOT / ".aws-sam" / "build"
        print(f"Cold start, median of {args.runs} fresh interpreters (ms), each next to `import boto3; "
              "boto3.client('dynamodb')` measured in turns with it\n")
        print("| function | import (ms) | first invocation (ms) | boto3 + one client (ms) | ratio | package (bytes) |\n"
              "|---|---|---|---|---|---|")
        worst = 0.0
        for app in sorted((ROOT / "functions").glob("*/app.py")):
            name = app.parent.name
            imp = statistics.median(once([app.parent, LAYER], ["import app"], env) for _ in range(args.runs))
            first, base = timed([app.parent, LAYER], ["import app", *FIRST_CALL.get(name, [])], env, args.runs)
            worst = max(worst, first / base)
            logical = "".join(w.capitalize() for w in name.split("_")) + "Function"
            print(f"| {name} | {imp:.0f} | {first:.0f} | {base:.0f} | {first / base:.2f}x | "
                  f"{du(build / logical) or 'n/a'} |", flush=True)
        print(f"\nWorst ratio: {worst:.2f}x (target <= 1.5x). Layer unzipped: "
              f"{du(build / 'OpsloopLayer') or 'n/a (run make build)'} bytes")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
