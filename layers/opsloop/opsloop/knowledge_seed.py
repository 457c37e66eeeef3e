"""Seeding the knowledge bucket with the team's runbooks: the logic of the ``Custom::SeedKnowledge`` resource.

Why it exists: a fresh stack should explain its very first incident from the team's runbooks, so on
Create/Update the runbooks packaged with the seed function (``knowledge/`` is copied in at ``sam build``
time) go to ``runbooks/`` in the knowledge bucket, each with a Bedrock Knowledge Base metadata sidecar, and an
ingestion job starts (one that is already running is joined, as every other ingestion does: see
:class:`opsloop.bedrock.ingestion.BedrockIngestion`). Delete succeeds without touching data: runbooks and
incident reports outlive the stack on purpose.

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

from .aws_errors import aws_call, error_code

logger = logging.getLogger("opsloop.knowledge_seed")

RUNBOOKS_PREFIX = "runbooks/"
#: Runbooks are human-written Markdown; a bigger file is a mistake and would crowd the index.
MAX_FILE_BYTES = 1_000_000
#: CloudFormation rejects response bodies over 4 KiB; the reason is the only free-text part.
MAX_REASON_CHARS = 1_000
#: Stop uploading and answer while there is still time for the HTTP PUT.
SAFETY_MARGIN_MS = 15_000
_TITLE_CHARS = 200


def answer_custom_resource(event: dict[str, Any], context: Any, *, clients: Callable[[], tuple[Any, Any]],
                           knowledge_dir: Path) -> dict[str, Any]:
    """Handle one ``Custom::SeedKnowledge`` request and always answer CloudFormation.

    ``clients`` returns the (s3, bedrock-agent) clients and is only called for Create/Update.
    """
    request_type = str(event.get("RequestType", ""))
    physical_id = str(event.get("PhysicalResourceId") or f"opsloop-seed-{event.get('LogicalResourceId', 'runbooks')}")
    remaining = _remaining_ms(context)
    status, reason, data = "SUCCESS", "", {}
    try:
        if request_type in ("Create", "Update"):
            s3, bedrock = clients()
            data = seed(
                s3,
                bedrock,
                bucket=require_env("OPSLOOP_KNOWLEDGE_BUCKET"),
                knowledge_base_id=require_env("OPSLOOP_KNOWLEDGE_BASE_ID"),
                data_source_id=require_env("OPSLOOP_DATA_SOURCE_ID"),
                client_token=str(event.get("RequestId", ""))[:64] or None,
                knowledge_dir=knowledge_dir,
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
    knowledge_dir: Path,
    remaining_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Upload the packaged runbooks (and their metadata) and start an ingestion job.

    Returns CloudFormation ``Data``: how many objects were written and what happened to the ingestion.
    An ingestion that cannot start is reported in ``Data`` rather than failing the stack: the runbooks
    are already in the bucket and the next ingestion (after the first resolved incident) picks them up.
    """
    files = list(iter_runbooks(knowledge_dir))
    if not files:
        raise FileNotFoundError(f"no runbooks packaged under {knowledge_dir.name}/ (was the function built with sam build?)")
    uploaded = 0
    for path, key in files:
        if remaining_ms is not None and remaining_ms() < SAFETY_MARGIN_MS:
            raise TimeoutError(f"ran out of time after {uploaded} of {len(files)} runbook(s)")
        body = path.read_bytes()
        aws_call(f"S3 PutObject to s3://{bucket}/{key}", s3.put_object, Bucket=bucket, Key=key, Body=body,
                 ContentType="text/markdown; charset=utf-8")
        sidecar = path.with_name(path.name + ".metadata.json")
        meta = sidecar.read_bytes() if sidecar.is_file() else json.dumps(runbook_metadata(body, key)).encode("utf-8")
        aws_call(f"S3 PutObject to s3://{bucket}/{key}.metadata.json", s3.put_object, Bucket=bucket,
                 Key=key + ".metadata.json", Body=meta, ContentType="application/json")
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
        from .knowledge_docs import parse_document  # the layer's parser, so offline and Bedrock agree

        doc = parse_document(body.decode("utf-8"), doc_id, key)
        for name, value in (("title", doc.title), ("service", doc.service), ("severity", doc.severity)):
            if value:
                attrs[name] = str(value)[:_TITLE_CHARS]
    except Exception as exc:  # noqa: BLE001 - a malformed runbook must not fail the stack
        logger.warning("runbook front matter not parsed", extra={"key": key, "error": type(exc).__name__})
    return {"metadataAttributes": attrs}


def start_ingestion(bedrock: Any, knowledge_base_id: str, data_source_id: str, client_token: str | None) -> str:
    """Start an ingestion job (a running one is joined) and say what happened; never raises.

    An ingestion that cannot start is reported rather than failing the stack: the runbooks are already in the
    bucket, and the next ingestion (after the first resolved incident) picks them up.
    """
    from .bedrock.ingestion import BedrockIngestion
    from .errors import OpsloopError

    try:
        status = BedrockIngestion(bedrock, knowledge_base_id, data_source_id).start(
            client_token or f"opsloop-seed-{knowledge_base_id}-{data_source_id}")
    except OpsloopError as exc:
        code = error_code(exc.__cause__) if exc.__cause__ is not None else ""
        logger.warning("ingestion not started", extra={"error_code": code or type(exc).__name__})
        return f"not started ({code or 'error'})"
    if status.joined:
        return "already running"
    return f"started {status.job_id}".strip()


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


def require_env(name: str) -> str:
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

