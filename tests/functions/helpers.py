"""Shared builders for handler tests: the incidents table as template.yaml defines it, and a sample incident."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def load_event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


def create_table(ddb: Any, name: str = "incidents") -> str:
    from opsloop.local.runner import _template_resources

    props = _template_resources(ROOT).get("IncidentsTable", {}).get("Properties", {})
    ddb.create_table(TableName=name,
                     KeySchema=props.get("KeySchema") or [{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=props.get("AttributeDefinitions") or [{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    return name


class RecordingSfn:
    """A Step Functions client that records SendTaskSuccess calls (a real class, not a mock tree)."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_with = fail_with

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if self.fail_with:
            raise ClientError({"Error": {"Code": self.fail_with, "Message": "x"}}, "SendTaskSuccess")
        self.calls.append(kwargs)
        return {}


def signed_event(body: str, secret: str, path: str = "/slack/interactions") -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event of a Slack request signed now with ``secret``, as Slack sends it."""
    from opsloop.slack.interactions import sign_request

    headers = {k.lower(): v for k, v in sign_request(body, secret, int(time.time())).items()}
    return {"version": "2.0", "rawPath": path, "headers": headers, "body": body, "isBase64Encoded": False}
