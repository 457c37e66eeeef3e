"""CloudFormation custom resource that seeds the knowledge bucket with the repository's runbooks.

Why it exists: a fresh stack should explain its very first incident from the team's runbooks, so on
Create/Update this copies every runbook packaged with the function (``knowledge/`` is copied in at
``sam build`` time) to ``runbooks/`` in the knowledge bucket, each with a Bedrock Knowledge Base metadata
sidecar, and starts an ingestion job (one that is already running is fine: it will be followed by the
next one a resolved incident starts). Delete succeeds without touching data: runbooks and incident
reports outlive the stack on purpose.

Whatever happens, CloudFormation gets an answer (a PUT to the pre-signed ``ResponseURL``) before the
function times out, so a stack never hangs for an hour waiting on this resource. The event is never
logged: its ``ResponseURL`` is a bearer credential for the stack's response.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable

logger = logging.getLogger()
logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))

#: Where ``sam build`` puts the repository's knowledge/ directory inside the deployment package.
KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"
RUNBOOKS_PREFIX = "runbooks/"
#: Runbooks are human-written Markdown; a bigger file is a mistake and would crowd the index.
MAX_FILE_BYTES = 1_000_000
#: CloudFormation rejects response bodies over 4 KiB; the reason is the only free-text part.
MAX_REASON_CHARS = 1_000
#: Stop uploading and answer while there is still time for the HTTP PUT.
SAFETY_MARGIN_MS = 15_000
_TITLE_CHARS = 200

_s3: Any = None
_bedrock: Any = None


def _clients() -> tuple[Any, Any]:
    """boto3 clients, created once per container (cold path only)."""
    global _s3, _bedrock
    if _s3 is None or _bedrock is None:
        import boto3

        _s3 = boto3.client("s3")
        _bedrock = boto3.client("bedrock-agent")
    return _s3, _bedrock


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point for ``Custom::SeedKnowledge``; always answers CloudFormation."""
    request_type = str(event.get("RequestType", ""))
    physical_id = str(event.get("PhysicalResourceId") or f"opsloop-seed-{event.get('LogicalResourceId', 'runbooks')}")
    remaining = _remaining_ms(context)
    status, reason, data = "SUCCESS", "", {}
    try:
        if request_type in ("Create", "Update"):
            s3, bedrock = _clients()
            data = seed(
                s3,
                bedrock,
                bucket=_require_env("OPSLOOP_KNOWLEDGE_BUCKET"),
                knowledge_base_id=_require_env("OPSLOOP_KNOWLEDGE_BASE_ID"),
                data_source_id=_require_env("OPSLOOP_DATA_SOURCE_ID"),
                client_token=str(event.get("RequestId", ""))[:64] or None,
                remaining_ms=remaining,
            )
            reason = f"seeded {data['Uploaded']} runbook file(s); ingestion {data['Ingestion']}"
        elif request_type == "Delete":
            reason = "nothing deleted: runbooks and incident reports stay in the knowledge bucket"
        else:
            raise ValueError(f"unknown RequestType {request_type[:40]!r}")
    except Exception as exc:  # noqa: BLE001 - every failure must still reach CloudFormation
        logger.exception("seed_knowledge failed", extra={"request_type": request_type})
        status, reason, data = "FAILED", f"{type(exc).__name__}: {exc}", {}
    logger.info("seed_knowledge answering", extra={"status": status, "request_type": request_type})
    send_response(event, status, reason, physical_id, data)
    return {"Status": status, "Reason": _bound(reason), "Data": data}


def seed(
    s3: Any,
    bedrock: Any,
    *,
    bucket: str,
    knowledge_base_id: str,
    data_source_id: str,
    client_token: str | None = None,
    knowledge_dir: Path | None = None,
    remaining_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Upload the packaged runbooks (and their metadata) and start an ingestion job.

    Returns CloudFormation ``Data``: how many objects were written and what happened to the ingestion.
    An ingestion that cannot start is reported in ``Data`` rather than failing the stack: the runbooks
    are already in the bucket and the next ingestion (after the first resolved incident) picks them up.
    """
    knowledge_dir = knowledge_dir or KNOWLEDGE_DIR
    files = list(iter_runbooks(knowledge_dir))
    if not files:
        raise FileNotFoundError(f"no runbooks packaged under {knowledge_dir.name}/ (was the function built with sam build?)")
    uploaded = 0
    for path, key in files:
        if remaining_ms is not None and remaining_ms() < SAFETY_MARGIN_MS:
            raise TimeoutError(f"ran out of time after {uploaded} of {len(files)} runbook(s)")
        body = path.read_bytes()
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/markdown; charset=utf-8")
        sidecar = path.with_name(path.name + ".metadata.json")
        meta = sidecar.read_bytes() if sidecar.is_file() else json.dumps(runbook_metadata(body, key)).encode("utf-8")
        s3.put_object(Bucket=bucket, Key=key + ".metadata.json", Body=meta, ContentType="application/json")
        uploaded += 1
    ingestion = start_ingestion(bedrock, knowledge_base_id, data_source_id, client_token)
    return {"Uploaded": uploaded, "Ingestion": ingestion}


def iter_runbooks(knowledge_dir: Path) -> Iterable[tuple[Path, str]]:
    """(file, bucket key) for every Markdown runbook below ``knowledge_dir``.

    Keys keep the path relative to the knowledge root, so ``knowledge/runbooks/ko/x.md`` becomes
    ``runbooks/ko/x.md`` and doc ids match the ones the offline retriever computes; anything outside
    ``runbooks/`` is put under it. Hidden directories, a top-level README and oversized files are skipped.
    """
    if not knowledge_dir.is_dir():
        return
    for path in sorted(knowledge_dir.rglob("*.md"), key=lambda p: p.as_posix()):
        rel = path.relative_to(knowledge_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if len(rel.parts) == 1 and rel.name.lower() == "readme.md":
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            logger.warning("runbook skipped: too large", extra={"file": rel.as_posix()})
            continue
        key = rel.as_posix()
        yield path, key if key.startswith(RUNBOOKS_PREFIX) else RUNBOOKS_PREFIX + key


def runbook_metadata(body: bytes, key: str) -> dict[str, Any]:
    """Bedrock KB metadata for a runbook, from its front matter (kind, doc id, service, severity, title).

    Kept small on purpose: S3 Vectors limits the filterable metadata stored with each chunk. A runbook
    whose front matter does not parse is still uploaded, with the kind and doc id only.
    """
    doc_id = key[:-3] if key.endswith(".md") else key
    attrs: dict[str, Any] = {"kind": "runbook", "doc_id": doc_id}
    try:
        from opsloop.docs import parse_document  # the layer's parser, so offline and Bedrock agree

        doc = parse_document(body.decode("utf-8"), doc_id, key)
        for name, value in (("title", doc.title), ("service", doc.service), ("severity", doc.severity)):
            if value:
                attrs[name] = str(value)[:_TITLE_CHARS]
    except Exception as exc:  # noqa: BLE001 - a malformed runbook must not fail the stack
        logger.warning("runbook front matter not parsed", extra={"key": key, "error": type(exc).__name__})
    return {"metadataAttributes": attrs}


def start_ingestion(bedrock: Any, knowledge_base_id: str, data_source_id: str, client_token: str | None) -> str:
    """Start an ingestion job; a job that is already running counts as started."""
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"knowledgeBaseId": knowledge_base_id, "dataSourceId": data_source_id}
    if client_token and len(client_token) >= 33:
        kwargs["clientToken"] = client_token
    try:
        job = bedrock.start_ingestion_job(**kwargs)["ingestionJob"]
        return f"started {job.get('ingestionJobId', '')}".strip()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ConflictException", "ServiceQuotaExceededException"):
            return "already running"
        logger.warning("ingestion not started", extra={"error_code": code})
        return f"not started ({code or 'error'})"


def send_response(event: dict[str, Any], status: str, reason: str, physical_id: str, data: dict[str, Any],
                  opener: Callable[..., Any] | None = None) -> None:
    """PUT the result to CloudFormation's pre-signed URL (the cfn-response protocol, with urllib only).

    Raises if the PUT fails, so Lambda's retry runs the (idempotent) seeding again and answers again.
    """
    url = str(event.get("ResponseURL", ""))
    if not url.startswith("https://"):
        raise ValueError("ResponseURL is not an https URL")
    body = json.dumps({
        "Status": status,
        "Reason": _bound(reason) or status,
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": False,
        "Data": {k: str(v)[:200] for k, v in data.items()},
    }).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with (opener or urllib.request.urlopen)(request, timeout=10) as response:  # noqa: S310 - the scheme is checked above
        if getattr(response, "status", 200) >= 300:
            raise RuntimeError(f"CloudFormation response PUT returned HTTP {response.status}")


def _require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise KeyError(f"environment variable {name} is not set")
    return value


def _remaining_ms(context: Any) -> Callable[[], int] | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter if callable(getter) else None


def _bound(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"

