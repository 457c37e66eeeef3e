"""The local Confluence stand-in, driven by the real adapter and client.

It must behave like Confluence where the adapter can tell (auth, versions, one page per fingerprint), keep
its state between runs, record what it received without credentials, and answer in the shapes the
published v1 description (and so the client) expects.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests

from opsloop.confluence import ConfluenceWiki, make_client
from opsloop.errors import PermanentError
from opsloop.local.confluence_server import ConfluenceStandIn

from .test_confluence_wiki import (
    HOSTILE,
    TOKEN,
    USER,
    assert_request_in_contract,
    assert_response_in_contract,
    contract_request,
    make_report,
)


@pytest.fixture
def stand_in(tmp_path: Path):
    with ConfluenceStandIn(tmp_path, USER, TOKEN, "OPS") as server:
        yield server


def recording_client(base_url: str, exchanges: list[tuple[requests.PreparedRequest, requests.Response]]) -> Any:
    """A real client whose every request/response pair is kept for the contract checks."""
    client = make_client(base_url, USER, TOKEN, timeout=5)
    client._session.hooks["response"].append(lambda r, *a, **k: exchanges.append((r.request, r)))
    return client


def page_files(out: Path) -> list[Path]:
    return sorted((out / "confluence" / "pages").glob("*.html"))


def parse(body: str) -> ET.Element:
    return ET.fromstring(f'<r xmlns:ac="urn:ac" xmlns:ri="urn:ri">{body}</r>')


def test_create_then_update_keeps_one_well_formed_page(tmp_path: Path, stand_in: ConfluenceStandIn) -> None:
    exchanges: list[tuple[requests.PreparedRequest, requests.Response]] = []
    wiki = ConfluenceWiki(recording_client(stand_in.base_url, exchanges), "OPS")
    # GIVEN a first occurrence with hostile log text  WHEN it is published
    first = wiki.publish(make_report(symptoms=HOSTILE))
    assert first.created and first.version == 1
    assert first.url.startswith(stand_in.base_url + "/spaces/OPS/pages/" + first.page_id)
    # AND a recurrence of the same fingerprint is published
    second = wiki.publish(make_report(symptoms=HOSTILE, occurrences=12, last_seen="2026-10-02T09:00:00Z"))
    # THEN the same page was updated, not duplicated
    assert (second.page_id, second.version, second.created) == (first.page_id, 2, False)
    (page,) = stand_in.pages()
    assert page["version"] == 2
    assert {"opsloop", "incident", "opsloop-fp-3fa2c1d09e1b", "orders-api", "high", "database"} <= set(page["labels"])
    # AND pages/<id>.html holds the latest body, well-formed, with the log's markup as text
    (html_file,) = page_files(tmp_path)
    assert html_file.name == f"{first.page_id}.html"
    root = parse(html_file.read_text(encoding="utf-8"))
    assert "2026-10-02T09:00:00Z" in "".join(root.itertext())
    assert not any(el.get("onmouseover") is not None for el in root.iter())
    # AND every exchange satisfies the published contract, requests and responses alike
    assert exchanges
    for prepared, response in exchanges:
        request = contract_request(prepared.method or "GET", prepared.url or "", prepared.body,
                                   dict(prepared.headers))
        assert_request_in_contract(request)
        assert response.status_code == 200
        assert_response_in_contract(request, response.status_code, response.content)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with ConfluenceStandIn(tmp_path, USER, TOKEN, "OPS") as server:
        first = ConfluenceWiki(make_client(server.base_url, USER, TOKEN), "OPS").publish(make_report())
    # a later run, a new process-like stand-in on another port, same out dir
    with ConfluenceStandIn(tmp_path, USER, TOKEN, "OPS") as server:
        again = ConfluenceWiki(make_client(server.base_url, USER, TOKEN), "OPS").publish(make_report(occurrences=9))
        assert len(server.pages()) == 1
    assert (again.page_id, again.created, again.version) == (first.page_id, False, 2)
    assert len(page_files(tmp_path)) == 1
    names = sorted(p.name for p in (tmp_path / "confluence").glob("[0-9]*.json"))
    assert len(names) == len(set(n[:4] for n in names))  # request numbering continued, nothing overwritten


def test_requests_are_recorded_without_credentials(tmp_path: Path, stand_in: ConfluenceStandIn) -> None:
    ConfluenceWiki(make_client(stand_in.base_url, USER, TOKEN), "OPS").publish(make_report())
    records = sorted((tmp_path / "confluence").glob("[0-9][0-9][0-9][0-9]-*.json"))
    assert [p.name.split("-", 1)[1] for p in records[:3]] == ["GET-search.json", "GET-content.json", "POST-content.json"]
    first = json.loads(records[0].read_text())
    assert set(first) == {"method", "path", "query", "body"}
    assert first["path"] == "/wiki/rest/api/search" and "opsloop-fp-3fa2c1d09e1b" in first["query"]["cql"]
    create = json.loads(records[2].read_text())
    assert create["body"]["space"] == {"key": "OPS"}
    secret = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    for path in (tmp_path / "confluence").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert TOKEN not in text and secret not in text


def test_wrong_token_is_refused_and_the_adapter_says_so(stand_in: ConfluenceStandIn) -> None:
    wiki = ConfluenceWiki(make_client(stand_in.base_url, USER, "not-the-token"), "OPS")
    with pytest.raises(PermanentError, match=r"rejected the credentials \(HTTP 401\)"):
        wiki.publish(make_report())
    assert stand_in.pages() == []
    assert requests.get(stand_in.base_url + "/rest/api/search", params={"cql": "type = page"}, timeout=5).status_code == 401


def test_an_update_must_carry_the_next_version(stand_in: ConfluenceStandIn) -> None:
    page = ConfluenceWiki(make_client(stand_in.base_url, USER, TOKEN), "OPS").publish(make_report())
    url = f"{stand_in.base_url}/rest/api/content/{page.page_id}"
    body = {"type": "page", "title": "t", "version": {"number": 1},
            "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}}}
    stale = requests.put(url, json=body, auth=(USER, TOKEN), timeout=5)
    assert stale.status_code == 409 and "Current version is: 1" in stale.json()["message"]
    body["version"] = {"number": 2}
    assert requests.put(url, json=body, auth=(USER, TOKEN), timeout=5).status_code == 200
    assert stand_in.pages()[0]["version"] == 2


def test_malformed_storage_and_duplicate_titles_are_refused(stand_in: ConfluenceStandIn) -> None:
    url = f"{stand_in.base_url}/rest/api/content"
    page = {"type": "page", "title": "Same", "space": {"key": "OPS"},
            "body": {"storage": {"value": "<p>unclosed", "representation": "storage"}}}
    assert requests.post(url, json=page, auth=(USER, TOKEN), timeout=5).status_code == 400
    page["body"]["storage"]["value"] = "<p>ok &amp; fine</p>"
    assert requests.post(url, json=page, auth=(USER, TOKEN), timeout=5).status_code == 200
    assert requests.post(url, json=page, auth=(USER, TOKEN), timeout=5).status_code == 400  # same title
    page["space"] = {"key": "NOPE"}
    page["title"] = "Other"
    assert requests.post(url, json=page, auth=(USER, TOKEN), timeout=5).status_code == 404


def test_an_unknown_parent_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    with ConfluenceStandIn(tmp_path, USER, TOKEN, "OPS", parent_ids=["42"]) as server:
        client = make_client(server.base_url, USER, TOKEN)
        with pytest.raises(PermanentError, match="'999'"):
            ConfluenceWiki(client, "OPS", parent_id="999").publish(make_report())
        page = ConfluenceWiki(client, "OPS", parent_id="42").publish(make_report())
        assert server.pages()[0]["ancestors"] == ["42"] and page.created


def test_the_library_reads_what_the_stand_in_returns(stand_in: ConfluenceStandIn) -> None:
    """The client's own readers (title lookup, history, labels, content) work on the stand-in's answers."""
    client = make_client(stand_in.base_url, USER, TOKEN)
    created = client.create_page(space="OPS", title="Runbook", body="<p>v1</p>", representation="storage")
    assert client.get_page_id("OPS", "Runbook") == created["id"]
    assert client.page_exists("OPS", "Runbook") is True
    assert client.history(created["id"])["lastUpdated"]["number"] == 1
    updated = client.update_page(created["id"], "Runbook", "<p>v2</p>")
    assert updated["version"]["number"] == 2
    assert client.get_page_by_id(created["id"], expand="body.storage")["body"]["storage"]["value"] == "<p>v2</p>"
    # an unchanged body is detected by the library itself: no new version
    assert client.update_page(created["id"], "Runbook", "<p>v2</p>")["version"]["number"] == 2
    client.set_page_label(created["id"], "runbook")
    assert [label["name"] for label in client.get_page_labels(created["id"])["results"]] == ["runbook"]
    assert client.cql('label = "runbook" and space = "OPS"')["results"][0]["content"]["id"] == created["id"]


def test_pages_returns_copies(stand_in: ConfluenceStandIn) -> None:
    ConfluenceWiki(make_client(stand_in.base_url, USER, TOKEN), "OPS").publish(make_report())
    snapshot = stand_in.pages()
    snapshot[0]["title"] = "changed"
    assert stand_in.pages()[0]["title"] != "changed"


def test_publishing_in_a_fresh_process_loads_only_the_confluence_client(tmp_path: Path,
                                                                         stand_in: ConfluenceStandIn) -> None:
    """The publish function's cold start does not pay for atlassian's Jira, Bitbucket, Bamboo… clients nor for
    soupsieve's CSS grammar, and code that imports the whole package afterwards still gets the same client
    class, and CSS selectors still work when something uses them."""
    import subprocess
    import sys

    layer = Path(__file__).resolve().parents[2] / "layers" / "opsloop"
    tests = Path(__file__).resolve().parents[2]
    code = f"""
import sys
sys.path[:0] = [{str(layer)!r}, {str(tests.parent)!r}]
from opsloop.confluence import ConfluenceWiki, make_client
from tests.adapters.test_confluence_wiki import make_report
client = make_client({stand_in.base_url!r}, {USER!r}, {TOKEN!r}, timeout=5)
page = ConfluenceWiki(client, "OPS").publish(make_report())
others = sorted(m for m in sys.modules if m.split(".")[:2][-1] in ("jira", "bitbucket", "bamboo", "service_desk"))
css_loaded = "soupsieve.css_parser" in sys.modules
import atlassian
from bs4 import BeautifulSoup
selected = len(BeautifulSoup('<p class="a">x</p><p>y</p>', "html.parser").select("p.a"))
print(page.created, others, atlassian.ConfluenceServer is type(client), "atlassian.jira" in sys.modules,
      css_loaded, selected)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "[]", "True", "True", "False", "1"]
    assert len(stand_in.pages()) == 1
