"""The Confluence adapter with the real atlassian-python-api client against a local HTTP server.

Every request the client sends is checked against Atlassian's published Confluence Cloud REST v1
OpenAPI description (vendored in tests/contracts/, see its README), then the tests assert what a user
would notice: one page per fingerprint, version + 1 on update, hostile text escaped, errors the state
machine can act on.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import socket
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from opsloop.confluence import ConfluenceWiki, fingerprint_label, make_client, page_title
from opsloop.errors import ConfigError, PermanentError, TransientError
from opsloop.models import Report, TimelineEntry

SPEC_PATH = Path(__file__).resolve().parents[1] / "contracts" / "confluence-cloud-v1.openapi.json"
SPEC_HOST = "https://your-domain.atlassian.net"
USER = "ops-bot@example.com"
TOKEN = "ATATT3xFfGF0-test-token-value-9c1d"  # not a real token
HOSTILE = '<b onmouseover=alert(1)>hi</b> <script>alert(2)</script> & "x" <ac:structured-macro ac:name="html"/>'


# -- contract helpers (also used by test_confluence_server.py) -------------------------------------------

@functools.lru_cache(maxsize=1)
def v1_spec() -> OpenAPI:
    """The vendored v1 description; its server becomes an absolute host so paths match with /wiki."""
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    spec["servers"] = [{"url": SPEC_HOST}]
    _move_array_enums_to_items(spec)
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))  # the published file is not fully valid


def _move_array_enums_to_items(node: Any) -> None:
    """Repair one defect of the published file in memory: array parameters such as ``status`` of
    ``GET /content`` declare their ``enum`` on the array, so even their own default ``["current"]`` fails.
    The enum belongs to the items; moving it keeps the value check."""
    if isinstance(node, dict):
        if node.get("type") == "array" and "enum" in node and isinstance(node.get("items"), dict):
            node["items"].setdefault("enum", node.pop("enum"))
        for value in node.values():
            _move_array_enums_to_items(value)
    elif isinstance(node, list):
        for value in node:
            _move_array_enums_to_items(value)


def contract_request(method: str, url_or_path: str, body: bytes | str | None, headers: dict[str, str] | None = None,
                     query: Any = None) -> MockRequest:
    parts = urlsplit(url_or_path)
    args = query if query is not None else {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
    data = body.encode() if isinstance(body, str) else body
    return MockRequest(SPEC_HOST, method.lower(), parts.path, args=args, headers=dict(headers or {}),
                       data=data or None, content_type="application/json")


def assert_request_in_contract(request: MockRequest) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Unsupported scheme type" for the OAuth2 scheme
        v1_spec().validate_request(request)


def assert_response_in_contract(request: MockRequest, status: int, data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        v1_spec().validate_response(request, MockResponse(data, status_code=status))


def assert_log_in_contract(server: HTTPServer) -> list[Request]:
    """Validate every request the client sent; returns them for further assertions."""
    requests_seen = [req for req, _ in server.log]
    assert requests_seen, "the client sent nothing"
    for req in requests_seen:
        assert_request_in_contract(contract_request(req.method, req.path, req.get_data() or None,
                                                    dict(req.headers), query=req.args))
    return requests_seen


def make_report(**overrides: Any) -> Report:
    base = dict(
        title="Orders API cannot get database connections", fingerprint="3fa2c1d09e1b4d2a8c7f",
        service="orders-api", severity="high", first_seen="2026-10-01T12:01:33Z",
        last_seen="2026-10-01T12:44:02Z", occurrences=3, symptoms="Connection is not available.",
        impact="Checkout failed.", root_cause="Pool too small.", resolution=["Raise the pool size"],
        prevention=["Alarm on pool wait"], timeline=[TimelineEntry(at="12:01", text="first error")],
        links=["https://grafana.example.com/d/orders"], tags=["database"], incidents=["inc-1"],
    )
    base.update(overrides)
    return Report(**base)


# -- a scripted Confluence ---------------------------------------------------------------------------------

class FakeConfluence:
    """Answers the v1 calls the client makes, like Confluence Cloud does, with failures on demand."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.pages: dict[str, dict[str, Any]] = {}
        self.next_id = 5001
        self.failures: list[tuple[str, str, int, dict[str, str]]] = []  # method, path regex, status, headers

    def add_page(self, title: str, version: int = 1, labels: tuple[str, ...] = (), page_id: str | None = None) -> str:
        pid = page_id or str(self.next_id)
        self.next_id += 1
        self.pages[pid] = {"id": pid, "title": title, "version": version, "body": "<p>old</p>", "labels": list(labels)}
        return pid

    def fail(self, method: str, path_regex: str, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        self.failures += [(method, path_regex, status, headers or {})] * times

    def content(self, page: dict[str, Any], body: bool = False) -> dict[str, Any]:
        out = {"id": page["id"], "type": "page", "status": "current", "title": page["title"],
               "version": {"number": page["version"], "when": "2026-10-01T12:00:00.000Z", "minorEdit": False},
               "_links": {"base": self.base, "webui": f"/spaces/OPS/pages/{page['id']}/x",
                          "self": f"{self.base}/rest/api/content/{page['id']}"}}
        if body:
            out["body"] = {"storage": {"value": page["body"], "representation": "storage"}}
        return out

    def handle(self, request: Request) -> Response:
        for i, (method, rx, status, headers) in enumerate(self.failures):
            if request.method == method and re.search(rx, request.path):
                del self.failures[i]
                return Response(json.dumps({"statusCode": status, "message": f"scripted {status}"}), status,
                                headers=headers, content_type="application/json")
        path, m = request.path, request.method
        data = request.get_json(silent=True)
        api = "/wiki/rest/api/"
        if m == "GET" and path == api + "search":
            label = re.search(r'label = "([^"]+)"', request.args.get("cql", ""))
            found = [p for p in self.pages.values() if label and label.group(1) in p["labels"]]
            return self.json({"results": [{"content": self.content(p), "title": p["title"]} for p in found],
                              "start": 0, "limit": 10, "size": len(found), "totalSize": len(found)})
        if m == "GET" and path == api + "content":
            found = [p for p in self.pages.values() if p["title"] == request.args.get("title")]
            return self.json({"results": [self.content(p) for p in found], "start": 0, "limit": 25, "size": len(found)})
        if m == "POST" and path == api + "content":
            pid = self.add_page(data["title"])
            self.pages[pid]["body"] = data["body"]["storage"]["value"]
            return self.json(self.content(self.pages[pid]))
        match = re.fullmatch(api + r"content/(\d+)(/history|/label)?", path)
        if match and match.group(1) in self.pages:
            page = self.pages[match.group(1)]
            if match.group(2) == "/history":
                return self.json({"latest": True, "lastUpdated": {"number": page["version"],
                                                                  "when": "2026-10-01T12:00:00.000Z", "minorEdit": False}})
            if match.group(2) == "/label":
                if m == "POST":
                    page["labels"].append(data["name"])
                results = [{"prefix": "global", "name": n, "id": str(i), "label": n} for i, n in enumerate(page["labels"])]
                return self.json({"results": results, "size": len(results)})
            if m == "GET":
                return self.json(self.content(page, body="body.storage" in request.args.get("expand", "")))
            if m == "PUT":
                if data["version"]["number"] != page["version"] + 1:
                    return Response('{"message":"Version must be incremented"}', 409, content_type="application/json")
                page.update(version=data["version"]["number"], body=data["body"]["storage"]["value"], title=data["title"])
                return self.json(self.content(page))
        return Response('{"message":"not found"}', 404, content_type="application/json")

    @staticmethod
    def json(payload: Any) -> Response:
        return Response(json.dumps(payload), 200, content_type="application/json")


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeConfluence:
    fake = FakeConfluence(httpserver.url_for("/wiki"))
    httpserver.expect_request(re.compile(r"^/wiki/")).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def wiki(httpserver: HTTPServer, fake: FakeConfluence) -> ConfluenceWiki:
    return ConfluenceWiki(make_client(httpserver.url_for("/wiki"), USER, TOKEN, timeout=5), "OPS", parent_id="42")


def sent(server: HTTPServer, method: str, path_regex: str) -> list[Request]:
    return [r for r, _ in server.log if r.method == method and re.fullmatch(path_regex, r.path)]


# -- behaviour -----------------------------------------------------------------------------------------------

def test_creates_a_labelled_page_when_none_exists(httpserver: HTTPServer, fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    # GIVEN an empty space  WHEN a report is published
    page = wiki.publish(make_report())
    # THEN a page is created under the parent, in storage format, and its URL is the page's web link
    assert page.created is True and page.version == 1
    assert page.url == f"{httpserver.url_for('/wiki')}/spaces/OPS/pages/{page.page_id}/x"
    requests_seen = assert_log_in_contract(httpserver)
    search = sent(httpserver, "GET", "/wiki/rest/api/search")[0]
    assert search.args["cql"] == 'label = "opsloop-fp-3fa2c1d09e1b" and space = "OPS" and type = page'
    by_title = sent(httpserver, "GET", "/wiki/rest/api/content")[0]
    assert (by_title.args["spaceKey"], by_title.args["title"]) == ("OPS", page_title(make_report()))
    (create,) = sent(httpserver, "POST", "/wiki/rest/api/content/?")
    body = create.get_json()
    assert body["type"] == "page" and body["space"] == {"key": "OPS"}
    assert body["title"] == "[opsloop] orders-api: Orders API cannot get database connections (fp 3fa2c1d0)"
    assert body["body"]["storage"]["representation"] == "storage"
    assert body["ancestors"] == [{"type": "page", "id": "42"}]
    labels = [r.get_json() for r in sent(httpserver, "POST", r"/wiki/rest/api/content/\d+/label")]
    assert [label["name"] for label in labels] == ["opsloop", "incident", "opsloop-fp-3fa2c1d09e1b", "orders-api",
                                                   "high", "database"]
    assert all(label["prefix"] == "global" for label in labels)
    # AND every request carried Basic auth for the configured user
    expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    assert {r.headers.get("Authorization") for r in requests_seen} == {expected}


def test_without_parent_no_ancestors_are_sent(httpserver: HTTPServer, fake: FakeConfluence) -> None:
    wiki = ConfluenceWiki(make_client(httpserver.url_for("/wiki"), USER, TOKEN), "OPS")
    wiki.publish(make_report())
    assert_log_in_contract(httpserver)
    assert "ancestors" not in sent(httpserver, "POST", "/wiki/rest/api/content/?")[0].get_json()


def test_updates_the_page_its_fingerprint_label_finds_with_version_plus_one(
        httpserver: HTTPServer, fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    # GIVEN a page of this fingerprint at version 4, with an older title
    pid = fake.add_page("[opsloop] orders-api: an older title (fp 3fa2c1d0)", version=4,
                        labels=("opsloop", "incident", fingerprint_label("3fa2c1d09e1b4d2a8c7f")))
    # WHEN the recurrence is published
    page = wiki.publish(make_report(occurrences=40))
    # THEN that page is updated to version 5 and no page is created
    assert (page.page_id, page.version, page.created) == (pid, 5, False)
    assert_log_in_contract(httpserver)
    assert not sent(httpserver, "POST", "/wiki/rest/api/content/?")
    (put,) = sent(httpserver, "PUT", rf"/wiki/rest/api/content/{pid}")
    body = put.get_json()
    assert body["version"]["number"] == 5 and body["type"] == "page"
    assert body["body"]["storage"]["representation"] == "storage" and ">40 occurrence(s) in this incident, 40 in total across" in body["body"]["storage"]["value"]
    # AND only the labels the page lacked are added
    added = [r.get_json()["name"] for r in sent(httpserver, "POST", rf"/wiki/rest/api/content/{pid}/label")]
    assert added == ["orders-api", "high", "database"]


def test_falls_back_to_the_title_when_search_has_not_indexed_the_page(
        httpserver: HTTPServer, fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    pid = fake.add_page(page_title(make_report()), version=1)  # no labels yet: search cannot see it
    page = wiki.publish(make_report(occurrences=7))
    assert (page.page_id, page.created, page.version) == (pid, False, 2)
    assert not sent(httpserver, "POST", "/wiki/rest/api/content/?")
    assert_log_in_contract(httpserver)


def test_republishing_the_same_report_keeps_one_page(httpserver: HTTPServer, fake: FakeConfluence,
                                                     wiki: ConfluenceWiki) -> None:
    first = wiki.publish(make_report())
    again = wiki.publish(make_report())
    assert len(fake.pages) == 1 and again.page_id == first.page_id and again.created is False
    assert len(sent(httpserver, "POST", "/wiki/rest/api/content/?")) == 1
    assert_log_in_contract(httpserver)


def test_hostile_report_text_reaches_confluence_as_escaped_text(httpserver: HTTPServer, fake: FakeConfluence,
                                                                wiki: ConfluenceWiki) -> None:
    wiki.publish(make_report(title=HOSTILE, symptoms=HOSTILE, root_cause=HOSTILE, resolution=[HOSTILE],
                             tags=[HOSTILE], links=["javascript:alert(3)"]))
    assert_log_in_contract(httpserver)
    value = sent(httpserver, "POST", "/wiki/rest/api/content/?")[0].get_json()["body"]["storage"]["value"]
    root = ET.fromstring(f'<r xmlns:ac="urn:ac" xmlns:ri="urn:ri">{value}</r>')
    assert not any(el.get("onmouseover") is not None for el in root.iter())
    assert not any(el.tag in ("script", "b") for el in root.iter())
    assert [el.get("{urn:ac}name") for el in root.iter("{urn:ac}structured-macro")] == ["info"]
    assert not any((a.get("href") or "").startswith("javascript") for a in root.iter("a"))
    assert "<script>alert(2)</script>" in "".join(root.itertext())
    labels = [r.get_json()["name"] for r in sent(httpserver, "POST", r"/wiki/rest/api/content/\d+/label")]
    assert all(re.fullmatch(r"[a-z0-9_\-]+", label) for label in labels)


# -- error mapping -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_are_permanent_and_never_echo_the_token(
        status: int, fake: FakeConfluence, wiki: ConfluenceWiki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("GET", "/search", status)
    with pytest.raises(PermanentError) as err:
        wiki.publish(make_report())
    assert f"Confluence rejected the credentials (HTTP {status})" in str(err.value)
    assert TOKEN not in str(err.value) and TOKEN not in caplog.text
    assert base64.b64encode(f"{USER}:{TOKEN}".encode()).decode() not in caplog.text


def test_missing_space_or_parent_is_permanent_and_named(fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    fake.fail("POST", r"/content/?$", 404)
    with pytest.raises(PermanentError) as err:
        wiki.publish(make_report())
    assert not isinstance(err.value, TransientError)
    assert "'OPS'" in str(err.value) and "'42'" in str(err.value) and "404" in str(err.value)


def test_a_version_conflict_is_retried_once_after_rereading(httpserver: HTTPServer, fake: FakeConfluence,
                                                            wiki: ConfluenceWiki) -> None:
    pid = fake.add_page(page_title(make_report()), version=2, labels=(fingerprint_label("3fa2c1d09e1b4d2a8c7f"),))
    fake.fail("PUT", rf"/content/{pid}$", 409)
    page = wiki.publish(make_report(occurrences=5))
    assert (page.version, page.created) == (3, False)
    assert len(sent(httpserver, "PUT", rf"/wiki/rest/api/content/{pid}")) == 2
    assert len(sent(httpserver, "GET", rf"/wiki/rest/api/content/{pid}/history")) == 2


def test_a_second_conflict_is_transient(httpserver: HTTPServer, fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    pid = fake.add_page(page_title(make_report()), version=2, labels=(fingerprint_label("3fa2c1d09e1b4d2a8c7f"),))
    fake.fail("PUT", rf"/content/{pid}$", 409, times=2)
    with pytest.raises(TransientError, match="409"):
        wiki.publish(make_report(occurrences=5))
    assert len(sent(httpserver, "PUT", rf"/wiki/rest/api/content/{pid}")) == 2


def test_rate_limit_is_transient_names_retry_after_and_does_not_sleep(
        httpserver: HTTPServer, fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    fake.fail("GET", "/search", 429, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(TransientError) as err:
        wiki.publish(make_report())
    assert time.monotonic() - started < 5  # the state machine waits, not the Lambda
    assert "HTTP 429" in str(err.value) and "retry after 30 s" in str(err.value)
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int, fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    fake.fail("POST", r"/content/?$", status)
    with pytest.raises(TransientError, match=f"HTTP {status}"):
        wiki.publish(make_report())


def test_a_bad_request_is_permanent(fake: FakeConfluence, wiki: ConfluenceWiki) -> None:
    fake.fail("POST", r"/content/?$", 400)
    with pytest.raises(PermanentError) as err:
        wiki.publish(make_report())
    assert not isinstance(err.value, TransientError) and "HTTP 400" in str(err.value)


def test_an_unreachable_site_is_transient() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wiki = ConfluenceWiki(make_client(f"http://127.0.0.1:{port}", USER, TOKEN, timeout=2), "OPS")
    with pytest.raises(TransientError, match="could not be reached") as err:
        wiki.publish(make_report())
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize("kwargs", [dict(space_key="OPS SPACE"), dict(space_key='OPS" or space = "X'),
                                    dict(space_key="OPS", parent_id="12; drop")])
def test_bad_configuration_is_refused_up_front(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ConfluenceWiki(object(), **kwargs)


def test_make_client_targets_the_v1_api_under_wiki() -> None:
    client = make_client("https://example.atlassian.net", USER, TOKEN)
    assert client.url == "https://example.atlassian.net/wiki"
    for method in ("cql", "get_page_by_title", "create_page", "update_page", "set_page_label", "get_page_labels"):
        assert callable(getattr(client, method))
    with pytest.raises(ConfigError):
        make_client("example.atlassian.net", USER, TOKEN)


def test_the_contract_check_rejects_a_request_confluence_would_refuse() -> None:
    """Guard against a vacuous check: an update without title/version violates ContentUpdate."""
    with pytest.raises(OpenAPIError):
        assert_request_in_contract(contract_request("PUT", "/wiki/rest/api/content/1", json.dumps({"type": "page"})))
    with pytest.raises(OpenAPIError):
        assert_request_in_contract(contract_request("POST", "/wiki/rest/api/content/1/label", json.dumps({"name": "x"})))
