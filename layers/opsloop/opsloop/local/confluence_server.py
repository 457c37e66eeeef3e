"""A small local Confluence: the REST v1 subset opsloop's Confluence adapter uses, on 127.0.0.1.

It lets the offline run, and the adapter tests, drive the real atlassian-python-api client end to end
without an Atlassian site. It behaves like Confluence Cloud where the adapter can notice: Basic auth with
the configured user and API token (else 401), one space, unique titles per space, storage bodies that
must be well-formed XHTML (else 400), and an update whose ``version.number`` is not current + 1 is
refused with 409.

Everything it sees is written under ``<out>/confluence/``: ``state.json`` (pages, so a second run finds
the first run's page), one ``NNNN-METHOD-path.json`` per request (method, path, query, JSON body; never
the Authorization header) and ``pages/<id>.html``, the storage body as stored.

Endpoints (all under ``/wiki/rest/api``): ``GET search?cql=``, ``GET content/search?cql=``,
``GET content?spaceKey&title&type``, ``POST content``, ``GET|PUT content/{id}``,
``GET content/{id}/history``, ``GET|POST content/{id}/label``, ``GET space/{key}``.
CQL understands ``label``, ``space``, ``type``, ``title`` and ``id`` with ``=``, joined by ``and``.

A fault plan (:mod:`opsloop.local.faults`) can make an operation (create, update, search, read, label)
answer 409, 429 (with ``Retry-After``) or a 5xx before it is recorded or applied.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
import threading
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .loopback import LoopbackServer

API = "/wiki/rest/api"
MAX_BODY = 5 * 1024 * 1024
FIRST_PAGE_ID = 100001
_LABEL_OK = re.compile(r"^[^\s:;,.?&\[\]()#^*@!<>]{1,255}$")
_CQL_CLAUSE = re.compile(r'^\s*(label|space|type|title|id)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_~\-]+))\s*$')
_STORAGE_DTD = ('<!DOCTYPE r [<!ENTITY nbsp "&#160;"><!ENTITY mdash "&#8212;"><!ENTITY ndash "&#8211;">'
                '<!ENTITY rarr "&#8594;"><!ENTITY hellip "&#8230;">]>')
_USER = {"type": "known", "accountId": "local-opsloop", "accountType": "atlassian",
         "displayName": "opsloop (local)", "publicName": "opsloop (local)"}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def storage_is_well_formed(body: str) -> bool:
    """Confluence rejects storage bodies that are not XHTML; so does the stand-in."""
    doc = f'{_STORAGE_DTD}<r xmlns:ac="urn:ac" xmlns:ri="urn:ri">{body}</r>'
    try:
        ET.fromstring(doc)
    except ET.ParseError:
        return False
    return True


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConfluenceStandIn(LoopbackServer):
    """A local Confluence Cloud REST v1 subset. ``start()`` returns the base URL to give the client."""

    def __init__(self, out_dir: Path, username: str, token: str, space_key: str,
                 parent_ids: Iterable[str] | None = None, faults: Any = None, can_update: bool = True) -> None:
        """``parent_ids``: page ids outside the stand-in that may be used as parents; None accepts any.
        ``faults``: an :class:`opsloop.local.faults.FaultPlan`, or None.
        ``can_update``: what ``content/{id}/permission/check`` answers for ``update`` (a read-only user)."""
        self.can_update = can_update
        self.root = Path(out_dir) / "confluence"
        self.faults = faults
        self.username = username
        self._token = token
        self.space_key = space_key
        self.parent_ids = None if parent_ids is None else {str(p) for p in parent_ids}
        self._lock = threading.RLock()
        self.base_url = ""
        self._state: dict[str, Any] = {"space_key": space_key, "next_id": FIRST_PAGE_ID, "pages": {}}
        self._request_no = 0

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> str:
        """Load state, listen on 127.0.0.1 (a free port) and return e.g. ``http://127.0.0.1:PORT/wiki``."""
        (self.root / "pages").mkdir(parents=True, exist_ok=True)
        state_file = self.root / "state.json"
        if state_file.exists():
            loaded = json.loads(state_file.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and isinstance(loaded.get("pages"), dict):
                self._state = loaded
        numbers = [int(p.name[:4]) for p in self.root.glob("[0-9][0-9][0-9][0-9]-*.json") if p.name[:4].isdigit()]
        self._request_no = max(numbers, default=0)
        handler = type("Handler", (_Handler,), {"stand_in": self})
        self.base_url = self._serve(handler, "/wiki", "confluence-stand-in")
        return self.base_url

    def pages(self) -> list[dict[str, Any]]:
        """A copy of every stored page: id, title, version, labels, ancestors, body."""
        with self._lock:
            return json.loads(json.dumps(list(self._state["pages"].values())))

    # -- request plumbing -----------------------------------------------------------------------------

    def authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, token = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        return hmac.compare_digest(user.encode(), self.username.encode()) and \
            hmac.compare_digest(token.encode(), self._token.encode())

    def record(self, method: str, path: str, query: dict[str, Any], body: Any) -> None:
        with self._lock:
            self._request_no += 1
            short = path[len(API):] if path.startswith(API) else path
            short = re.sub(r"[^A-Za-z0-9]+", "-", short).strip("-")[:60] or "root"
            name = f"{self._request_no:04d}-{method}-{short}.json"
            _write_json(self.root / name, {"method": method, "path": path, "query": query, "body": body})

    def _save(self) -> None:
        _write_json(self.root / "state.json", self._state)

    # -- content model --------------------------------------------------------------------------------

    def _links(self, page: dict[str, Any]) -> dict[str, str]:
        slug = quote(re.sub(r"\s+", "+", page["title"]), safe="+")
        return {
            "webui": f"/spaces/{self.space_key}/pages/{page['id']}/{slug}",
            "edit": f"/pages/resumedraft.action?draftId={page['id']}",
            "tinyui": f"/x/{page['id']}",
            "self": f"{self.base_url}/rest/api/content/{page['id']}",
            "base": self.base_url,
            "context": "/wiki",
            "collection": "/rest/api/content",
        }

    def _space(self) -> dict[str, Any]:
        return {"id": 1, "key": self.space_key, "name": self.space_key, "type": "global", "status": "current",
                "_expandable": {}, "_links": {"webui": f"/spaces/{self.space_key}", "base": self.base_url}}

    def _version(self, page: dict[str, Any]) -> dict[str, Any]:
        return {"by": _USER, "when": page["updated"], "number": page["version"], "minorEdit": page["minor_edit"],
                "message": page.get("message", ""), "_links": {"base": self.base_url}}

    def content(self, page: dict[str, Any], expand: str = "") -> dict[str, Any]:
        """The v1 Content JSON; like Confluence, space/version/history are always there, the body on request."""
        wanted = {e.strip() for e in expand.split(",") if e.strip()}
        out: dict[str, Any] = {
            "id": page["id"], "type": "page", "status": "current", "title": page["title"],
            "space": self._space(), "version": self._version(page),
            "history": {"latest": True, "createdBy": _USER, "createdDate": page["created"]},
            "ancestors": [{"id": a, "type": "page", "status": "current"} for a in page["ancestors"]],
            "extensions": {"position": "none"},
            "_expandable": {"children": f"/rest/api/content/{page['id']}/child",
                            "body": "" if "body.storage" in wanted else f"/rest/api/content/{page['id']}?expand=body"},
            "_links": self._links(page),
        }
        if "body.storage" in wanted or "body" in wanted:
            out["body"] = {"storage": {"value": page["body"], "representation": "storage",
                                       "_expandable": {"content": f"/rest/api/content/{page['id']}"}}}
        if "metadata.labels" in wanted:
            out["metadata"] = {"labels": self._label_array(page)}
        return out

    def _label_array(self, page: dict[str, Any]) -> dict[str, Any]:
        results = [{"prefix": "global", "name": n, "label": n, "id": str(zlib.crc32(n.encode()))} for n in page["labels"]]
        return {"results": results, "start": 0, "limit": 200, "size": len(results)}

    def page(self, page_id: str) -> dict[str, Any]:
        page = self._state["pages"].get(page_id)
        if page is None:
            raise _HttpError(404, f"No content found with id: ContentId{{id={page_id}}}")
        return page

    def _check_body(self, data: dict[str, Any]) -> str:
        storage = ((data.get("body") or {}).get("storage") or {}) if isinstance(data.get("body"), dict) else {}
        value = storage.get("value")
        if not isinstance(value, str) or storage.get("representation") != "storage":
            raise _HttpError(400, "body.storage with representation 'storage' is required")
        if not storage_is_well_formed(value):
            raise _HttpError(400, "Error parsing xhtml: the storage body is not well-formed")
        return value

    def _check_title(self, data: dict[str, Any], page_id: str | None) -> str:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _HttpError(400, "A page must have a title")
        if len(title) > 255:
            raise _HttpError(400, "Title cannot be longer than 255 characters")
        for other in self._state["pages"].values():
            if other["title"] == title and other["id"] != page_id:
                raise _HttpError(400, "A page with this title already exists: A page already exists with the "
                                      "same TITLE in this space")
        return title

    def _check_ancestors(self, data: dict[str, Any]) -> list[str] | None:
        ancestors = data.get("ancestors")
        if not ancestors:
            return None
        parent = str((ancestors[-1] or {}).get("id", ""))
        known = parent in self._state["pages"] or self.parent_ids is None or parent in self.parent_ids
        if not known:
            raise _HttpError(404, f"No content found with id: ContentId{{id={parent}}}")
        return [parent]

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("type") != "page":
            raise _HttpError(400, "Only pages are supported by this stand-in")
        key = (data.get("space") or {}).get("key")
        if key != self.space_key:
            raise _HttpError(404, f"No space with key : {key}")
        with self._lock:
            title = self._check_title(data, None)
            body = self._check_body(data)
            ancestors = self._check_ancestors(data) or []
            page_id = str(self._state["next_id"])
            self._state["next_id"] += 1
            now = _now()
            page = {"id": page_id, "title": title, "version": 1, "minor_edit": False, "body": body,
                    "ancestors": ancestors, "labels": [], "created": now, "updated": now,
                    "message": str((data.get("version") or {}).get("message", ""))[:500]}
            self._state["pages"][page_id] = page
            self._write_page(page)
            self._save()
            return self.content(page)

    def update(self, page_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            page = self.page(page_id)
            number = (data.get("version") or {}).get("number")
            if not isinstance(number, int) or number != page["version"] + 1:
                raise _HttpError(409, f"Version must be incremented on update. Current version is: {page['version']}")
            title = self._check_title(data, page_id)
            body = self._check_body(data) if data.get("body") is not None else page["body"]
            ancestors = self._check_ancestors(data)
            page.update(title=title, body=body, version=number, updated=_now(),
                        minor_edit=bool((data.get("version") or {}).get("minorEdit", False)),
                        message=str((data.get("version") or {}).get("message", ""))[:500])
            if ancestors is not None:
                page["ancestors"] = ancestors
            self._write_page(page)
            self._save()
            return self.content(page)

    def add_labels(self, page_id: str, data: Any) -> dict[str, Any]:
        items = data if isinstance(data, list) else [data]
        with self._lock:
            page = self.page(page_id)
            for item in items:
                name = (item or {}).get("name") if isinstance(item, dict) else None
                if not isinstance(name, str) or not _LABEL_OK.match(name):
                    raise _HttpError(400, f"Invalid label name: {str(name)[:80]!r}")
                name = name.lower()
                if name not in page["labels"]:
                    page["labels"].append(name)
            self._save()
            return self._label_array(page)

    def search(self, cql: str) -> list[dict[str, Any]]:
        clauses = [c for c in re.split(r"\s+and\s+", cql.strip(), flags=re.IGNORECASE) if c.strip()]
        if not clauses:
            raise _HttpError(400, "Could not parse cql : empty query")
        tests = []
        for clause in clauses:
            m = _CQL_CLAUSE.match(clause)
            if not m:
                raise _HttpError(400, f"Could not parse cql : {cql[:200]}")
            field, quoted, bare = m.group(1).lower(), m.group(2), m.group(3)
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            tests.append((field, value))
        with self._lock:
            found = []
            for page in sorted(self._state["pages"].values(), key=lambda p: int(p["id"])):
                ok = all(
                    (f == "label" and v.lower() in page["labels"]) or (f == "space" and v == self.space_key)
                    or (f == "type" and v == "page") or (f == "title" and v == page["title"])
                    or (f == "id" and v == page["id"])
                    for f, v in tests
                )
                if ok:
                    found.append(page)
            return found

    def by_title(self, space_key: str | None, title: str | None) -> list[dict[str, Any]]:
        with self._lock:
            if space_key not in (None, self.space_key):
                return []
            return [p for p in self._state["pages"].values() if title is None or p["title"] == title]

    def _write_page(self, page: dict[str, Any]) -> None:
        path = self.root / "pages" / f"{page['id']}.html"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(page["body"], encoding="utf-8")
        os.replace(tmp, path)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


class _Handler(BaseHTTPRequestHandler):
    stand_in: ConfluenceStandIn
    protocol_version = "HTTP/1.1"
    server_version = "opsloop-confluence-stand-in"
    # Headers and body leave in one segment (flushed after each request), and without Nagle, so the
    # keep-alive client never waits on a delayed ACK.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: every request is already recorded as a file."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        s = self.stand_in
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            s.record(method, path, query, None)
            self.close_connection = True
            self._send(413, {"statusCode": 413, "message": "Request entity too large"})
            return
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                body = {"unparsed_bytes": len(raw)}
        if s.faults is not None and path.startswith(API + "/"):
            from .faults import RETRY_AFTER_SECONDS, confluence_op

            fault = s.faults.take(f"confluence.{confluence_op(method, path)}")
            if fault is not None:
                status = int(fault.kind)
                message = {409: "Conflict: the content was changed by someone else", 429: "Rate limit exceeded"}
                extra = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 429 else None
                self._send(status, {"statusCode": status, "message": message.get(status, "Internal Server Error"),
                                    "data": {}}, extra=extra)
                return
        s.record(method, path, query, body)
        if not s.authorised(self.headers.get("Authorization")):
            self._send(401, {"statusCode": 401, "message": "Client must be authenticated to access this resource."},
                       extra={"WWW-Authenticate": 'Basic realm="Confluence"'})
            return
        try:
            status, payload = self._route(method, path, query, body)
        except _HttpError as exc:
            status, payload = exc.status, {"statusCode": exc.status, "message": exc.message, "data": {}}
        self._send(status, payload)

    def _route(self, method: str, path: str, query: dict[str, Any], body: Any) -> tuple[int, Any]:
        s = self.stand_in
        if not path.startswith(API + "/"):
            raise _HttpError(404, "Not found")
        rest = path[len(API) + 1:].strip("/").split("/")
        expand = str(query.get("expand") or "")
        start, limit = _int(query.get("start"), 0), max(1, min(_int(query.get("limit"), 25), 200))
        if method == "GET" and rest in (["search"], ["content", "search"]):
            cql = query.get("cql")
            if not isinstance(cql, str):
                raise _HttpError(400, "cql is required")
            found = s.search(cql)
            window = found[start:start + limit]
            if rest == ["content", "search"]:
                return 200, _array([s.content(p, expand) for p in window], start, limit, s.base_url)
            results = [_search_result(s, p, expand) for p in window]
            return 200, {"results": results, "start": start, "limit": limit, "size": len(results),
                         "totalSize": len(found), "cqlQuery": cql, "searchDuration": 1,
                         "_links": {"base": s.base_url, "context": "/wiki"}}
        if rest == ["content"]:
            if method == "GET":
                if query.get("type", "page") != "page":
                    return 200, _array([], start, limit, s.base_url)
                found = s.by_title(query.get("spaceKey"), query.get("title"))
                return 200, _array([s.content(p, expand) for p in found[start:start + limit]], start, limit, s.base_url)
            if method == "POST":
                return 200, s.create(_object(body))
        if len(rest) == 2 and rest[0] == "content":
            if method == "GET":
                with s._lock:
                    return 200, s.content(s.page(rest[1]), expand)
            if method == "PUT":
                return 200, s.update(rest[1], _object(body))
        if len(rest) == 3 and rest[0] == "content" and rest[2] == "history":
            with s._lock:
                page = s.page(rest[1])
                return 200, {"latest": True, "createdBy": _USER, "createdDate": page["created"],
                             "lastUpdated": s._version(page), "_links": {"base": s.base_url}}
        if len(rest) == 3 and rest[0] == "content" and rest[2] == "label":
            if method == "POST":
                return 200, s.add_labels(rest[1], body)
            if method == "GET":
                with s._lock:
                    return 200, s._label_array(s.page(rest[1]))
        if method == "GET" and rest == ["user", "current"]:
            return 200, dict(_USER)
        if method == "POST" and len(rest) == 4 and rest[0] == "content" and rest[2:] == ["permission", "check"]:
            request = _object(body)
            if request.get("operation") not in ("read", "update", "delete") or not isinstance(request.get("subject"), dict):
                raise _HttpError(400, "operation (read, update, delete) and subject are required")
            with s._lock:
                s.page(rest[1])
            allowed = request["operation"] == "read" or s.can_update
            return 200, {"hasPermission": allowed, "errors": [] if allowed else [
                {"translation": "User does not have permission to the content", "args": []}]}
        if method == "GET" and len(rest) == 2 and rest[0] == "space":
            if rest[1] != s.space_key:
                raise _HttpError(404, f"No space with key : {rest[1]}")
            return 200, s._space()
        raise _HttpError(404 if method == "GET" else 405, f"{method} {path} is not supported by the stand-in")

    def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _HttpError(400, "A JSON object body is required")
    return body


def _array(results: list[dict[str, Any]], start: int, limit: int, base: str) -> dict[str, Any]:
    return {"results": results, "start": start, "limit": limit, "size": len(results),
            "_links": {"base": base, "context": "/wiki", "self": f"{base}/rest/api/content"}}


def _search_result(s: ConfluenceStandIn, page: dict[str, Any], expand: str) -> dict[str, Any]:
    content = s.content(page, expand)
    return {"content": content, "title": page["title"], "excerpt": "", "url": content["_links"]["webui"],
            "resultGlobalContainer": {"title": s.space_key, "displayUrl": f"/spaces/{s.space_key}"},
            "breadcrumbs": [], "entityType": "content", "iconCssClass": "aui-icon content-type-page",
            "lastModified": page["updated"], "friendlyLastModified": page["updated"], "score": 1.0}


__all__ = ["ConfluenceStandIn", "storage_is_well_formed"]
