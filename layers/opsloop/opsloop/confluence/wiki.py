"""The :class:`opsloop.ports.Wiki` adapter for Confluence Cloud, over atlassian-python-api 5.0.5.

One page per fingerprint: a recurrence updates the page the first occurrence created. The page is found
by its fingerprint label (CQL), or by its deterministic title when search has not indexed it yet (a retry
seconds after creation), so re-publishing never creates a second page.

Which client class: in atlassian-python-api 5.0.5, ``atlassian.Confluence(url, cloud=True)`` resolves to a
client rooted at the REST v2 API that has no ``create_page``/``update_page``/``set_page_label``. The REST v1
methods this adapter needs (``/wiki/rest/api/content``, ``/search``, ``/content/{id}/label``) are on the
class the library exports as ``ConfluenceServer``; Confluence Cloud serves that API under ``/wiki``, so
:func:`make_client` builds that class with ``cloud=True``.

Vendor errors become :mod:`opsloop.errors`: credentials (401/403) and missing space/parent (404) are
permanent, rate limits (429), 5xx, timeouts and connection failures are transient, and a version conflict
(409) is retried once after re-reading the page. Messages never contain the API token or the page body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError, OpsloopError, PermanentError, TransientError
from ..models import Report, Source
from ..ports import PublishedPage
from .storage import fingerprint_label, page_title, render_report, report_labels

log = logging.getLogger(__name__)

T = TypeVar("T")

# Space keys are letters/digits (or "~" + account id for personal spaces); anything else would need
# quoting inside CQL, so it is refused up front.
_SPACE_KEY = re.compile(r"^~?[A-Za-z0-9_:\-]{1,255}$")
_PAGE_ID = re.compile(r"^[0-9]{1,30}$")
_MAX_DETAIL = 300


def make_client(url: str, username: str, api_token: str, timeout: float = 15.0) -> Any:
    """Build the REST v1 Confluence client for ``url`` (``https://<site>.atlassian.net`` or ``…/wiki``).

    The client does not sleep on ``Retry-After`` or retry on its own: a 429 becomes a TransientError and
    the state machine's retry (with jitter and a cap) decides when to try again, inside its own budget.
    """
    if not url or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ConfigError("CONFLUENCE_URL must be an absolute http(s) URL, e.g. https://example.atlassian.net")
    if not username or not api_token:
        raise ConfigError("Confluence username and API token are both required")
    return confluence_client_class()(
        normalise_base_url(url),
        username=username,
        password=api_token,
        cloud=True,
        timeout=max(1, int(round(timeout))),
        backoff_and_retry=False,
        retry_with_header=False,
    )


def confluence_client_class() -> Any:
    """atlassian-python-api's REST v1 Confluence client (``atlassian.ConfluenceServer``), imported alone.

    ``import atlassian`` (and so ``from atlassian.confluence import …``) runs the package's ``__init__``, which
    imports every product's client: Jira, Bitbucket, Bamboo, Assets, Tempo, Xray… The Confluence subpackage
    needs none of them, only atlassian's own helper modules. So while it loads, ``atlassian`` is the package
    module with its ``__init__`` not run, and is removed again afterwards: a later ``import atlassian``
    anywhere in the process runs the real ``__init__``, which reuses the loaded Confluence modules, so
    ``atlassian.ConfluenceServer`` is this same class.

    The client also imports BeautifulSoup, whose CSS-selector support imports soupsieve, which compiles its
    grammar's regular expressions at import (about 45 ms of a 3.13 cold start). opsloop never selects by CSS,
    so soupsieve is imported on first use instead. Both gains are measured by
    benchmarks/cold_start.py.
    """
    import importlib.util
    import sys

    loaded = sys.modules.get("atlassian.confluence")
    if loaded is not None:
        return loaded.ConfluenceServer
    if "atlassian" in sys.modules:  # the whole package is already imported: nothing left to save
        from atlassian.confluence import ConfluenceServer

        return ConfluenceServer
    spec = importlib.util.find_spec("atlassian")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        raise ConfigError("atlassian-python-api is not installed (it is part of the opsloop layer)")
    _import_bs4_without_css()
    sys.modules["atlassian"] = importlib.util.module_from_spec(spec)  # __path__ set, __init__ not run
    try:
        from atlassian.confluence import ConfluenceServer
    finally:
        del sys.modules["atlassian"]
    return ConfluenceServer


def _import_bs4_without_css() -> None:
    """Import BeautifulSoup with its CSS-selector module pointing at a stand-in that imports soupsieve on
    first use. bs4.css runs ``import soupsieve`` at import time and keeps the module in its global
    ``soupsieve``; the import system reads a module's ``__spec__`` even when it is in sys.modules, so a
    LazyLoader module would be executed at once. Blocking the import and then handing bs4.css the stand-in
    keeps ``.select()`` working (tests/adapters/test_confluence_server.py) for code that uses it."""
    import sys
    import types
    import warnings

    if "bs4" in sys.modules or "soupsieve" in sys.modules:
        return

    class Deferred(types.ModuleType):
        def __getattr__(self, attr: str) -> Any:
            import importlib

            return getattr(importlib.import_module(self.__name__), attr)

    sys.modules["soupsieve"] = None  # type: ignore[assignment]  # makes `import soupsieve` raise ImportError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bs4.css warns that soupsieve is missing
            import bs4.css
    finally:
        del sys.modules["soupsieve"]
    bs4.css.soupsieve = Deferred("soupsieve")


def normalise_base_url(url: str) -> str:
    """Confluence Cloud lives under ``/wiki``; accept the bare site URL too."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if not path:
        path = "/wiki"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class ConfluenceWiki:
    """Publishes incident reports as Confluence pages in ``space_key``, under ``parent_id`` if given."""

    def __init__(self, client: Any, space_key: str, parent_id: str | None = None) -> None:
        if not space_key or not _SPACE_KEY.match(space_key):
            raise ConfigError(f"CONFLUENCE_SPACE_KEY {space_key!r} is not a Confluence space key")
        if parent_id is not None and not _PAGE_ID.match(str(parent_id)):
            raise ConfigError(f"CONFLUENCE_PARENT_PAGE_ID {parent_id!r} is not a page id (digits)")
        self._client = client
        self.space_key = space_key
        self.parent_id = str(parent_id) if parent_id is not None else None

    # -- the port -------------------------------------------------------------------------------------

    def publish(self, report: Report, *, analysis_sources: Sequence[Source] = ()) -> PublishedPage:
        """Create or update the fingerprint's page, label it, and say where it is."""
        title = page_title(report)
        body = render_report(report, analysis_sources=analysis_sources)
        existing = self._find(report, title)
        if existing is None:
            page = self._call("creating the page", lambda: self._client.create_page(
                space=self.space_key, title=title, body=body, parent_id=self.parent_id, type="page",
                representation="storage", version_comment="opsloop: incident report"))
            created = True
        else:
            page = self._update(existing, title, body)
            created = False
        page_id = str(page.get("id") or (existing or {}).get("id") or "")
        if not page_id:
            raise TransientError("Confluence answered without a page id")
        self._label(page_id, report_labels(report), known=not created)
        version = _version(page)
        if version is None:
            page = self._call("reading the page version", lambda: self._client.get_page_by_id(page_id, expand="version"))
            version = _version(page) or 1
        url = self._page_url(page, page_id)
        log.info("confluence page published", extra={"page_id": page_id, "page_created": created, "version": version})
        return PublishedPage(page_id=page_id, url=url, version=version, created=created)

    # -- steps ----------------------------------------------------------------------------------------

    def _find(self, report: Report, title: str) -> dict[str, Any] | None:
        """The existing page for this fingerprint: by label first, then by title."""
        cql = f'label = "{fingerprint_label(report.fingerprint)}" and space = "{self.space_key}" and type = page'
        found = self._call("searching for the page", lambda: self._client.cql(cql, limit=10))
        pages = [r.get("content") or {} for r in _results(found)]
        pages = [p for p in pages if p.get("id") and p.get("type", "page") == "page"]
        if pages:
            # Oldest first: if a past race made two pages, keep updating the first one.
            return min(pages, key=lambda p: (len(str(p["id"])), str(p["id"])))
        by_title = self._call("looking the page up by title",
                              lambda: self._client.get_page_by_title(self.space_key, title))
        if isinstance(by_title, dict) and by_title.get("id") and "results" not in by_title:
            return by_title
        candidates = [p for p in _results(by_title) if p.get("id")]
        return candidates[0] if candidates else None

    def _update(self, existing: dict[str, Any], title: str, body: str) -> dict[str, Any]:
        """Update the page; the library reads the current version and sends version + 1.

        A 409 means someone saved in between: the second attempt re-reads the version. A second 409 is
        left to the state machine's retry.
        """
        page_id = str(existing["id"])

        def attempt() -> Any:
            return self._client.update_page(page_id=page_id, title=title, body=body, representation="storage",
                                            minor_edit=False, version_comment="opsloop: incident recurred")

        try:
            return self._call("updating the page", attempt, conflict_ok=True)
        except _Conflict:
            log.warning("confluence version conflict, retrying once", extra={"page_id": page_id})
        try:
            return self._call("updating the page", attempt, conflict_ok=True)
        except _Conflict as exc:
            raise TransientError(
                f"Confluence page {page_id} kept changing while it was updated (HTTP 409 twice); try again") from exc

    def _label(self, page_id: str, labels: list[str], *, known: bool) -> None:
        """Add the labels the page lacks (one request each, as the client sends them).

        For an existing page the current labels are read first, so a re-publish costs one GET, not a
        POST per label.
        """
        present: set[str] = set()
        if known:
            listed = self._call("reading the page labels", lambda: self._client.get_page_labels(page_id, limit=200))
            present = {str(r.get("name", "")).lower() for r in _results(listed)}
        for label in labels:
            if label not in present:
                self._call("labelling the page", lambda label=label: self._client.set_page_label(page_id, label))

    def _page_url(self, page: dict[str, Any], page_id: str) -> str:
        links = page.get("_links") or {}
        base = links.get("base") or normalise_base_url(str(getattr(self._client, "url", "") or ""))
        webui = links.get("webui")
        if isinstance(webui, str) and webui.startswith("/"):
            return base.rstrip("/") + webui
        return f"{base.rstrip('/')}/pages/viewpage.action?pageId={page_id}"

    # -- error mapping --------------------------------------------------------------------------------

    def _call(self, action: str, fn: Callable[[], T], *, conflict_ok: bool = False) -> T:
        try:
            result = fn()
        except OpsloopError:
            raise
        except Exception as exc:  # noqa: BLE001 - every vendor error is mapped below
            mapped = self._map_error(exc, action, conflict_ok)
            raise mapped from exc
        if result is None or isinstance(result, (str, bytes)):
            raise TransientError(f"Confluence answered {action} with no JSON (a proxy or maintenance page?)")
        return result

    def _map_error(self, exc: BaseException, action: str, conflict_ok: bool) -> Exception:
        import requests  # lazy: comes with atlassian-python-api

        response = _response_of(exc)
        status = getattr(response, "status_code", None)
        detail = self._scrub(_detail(exc))
        if status is None:
            if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
                return TransientError(f"Confluence could not be reached while {action}: {type(exc).__name__}")
            if isinstance(exc, requests.RequestException):
                return TransientError(f"Confluence request failed while {action}: {type(exc).__name__}")
            return PermanentError(f"Confluence client failed while {action}: {type(exc).__name__}: {detail}")
        where = f"space {self.space_key!r}" + (f" or parent page {self.parent_id!r}" if self.parent_id else "")
        if status in (401, 403):
            return PermanentError(
                f"Confluence rejected the credentials (HTTP {status}) while {action}: check the API token, the "
                f"user and its permission to add pages in {where}")
        if status == 404:
            return PermanentError(
                f"Confluence answered HTTP 404 while {action}: {where} does not exist or the API user cannot "
                f"see it")
        if status == 409:
            if conflict_ok:
                return _Conflict(detail)
            return TransientError(f"Confluence reported a conflict (HTTP 409) while {action}")
        if status == 429:
            retry_after = _retry_after(response)
            hint = f"; retry after {retry_after} s (Retry-After)" if retry_after else ""
            return TransientError(f"Confluence is rate limiting (HTTP 429) while {action}{hint}")
        if status >= 500 or status in (408, 425):
            return TransientError(f"Confluence failed (HTTP {status}) while {action}; try again")
        return PermanentError(f"Confluence refused the request (HTTP {status}) while {action}: {detail}")

    def _scrub(self, text: str) -> str:
        secret = getattr(self._client, "password", None)
        if isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, "***")
        return text


class _Conflict(Exception):
    """Internal: an update hit a version conflict (HTTP 409)."""


def _results(found: Any) -> list[dict[str, Any]]:
    if isinstance(found, dict):
        results = found.get("results")
        if isinstance(results, list):
            return [r for r in results if isinstance(r, dict)]
    return []


def _version(page: Any) -> int | None:
    if isinstance(page, dict):
        number = (page.get("version") or {}).get("number")
        if isinstance(number, int) and not isinstance(number, bool):
            return number
    return None


def _response_of(exc: BaseException) -> Any:
    """atlassian raises requests.HTTPError, or its own ApiError whose ``reason`` is the HTTPError."""
    seen = 0
    current: Any = exc
    while current is not None and seen < 4:
        response = getattr(current, "response", None)
        if response is not None and getattr(response, "status_code", None) is not None:
            return response
        current = getattr(current, "reason", None) or current.__cause__ or current.__context__
        seen += 1
    return None


def _retry_after(response: Any) -> str | None:
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    if not value:
        return None
    value = str(value).strip()
    return value[:40] if re.fullmatch(r"[0-9]{1,6}|[A-Za-z0-9 ,:]{1,40}", value) else None


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:_MAX_DETAIL] + ("\u2026" if len(text) > _MAX_DETAIL else "")


__all__ = ["ConfluenceWiki", "make_client", "normalise_base_url"]
