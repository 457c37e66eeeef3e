"""``opsloop local serve``: the offline lifecycle with the deployed Slack handler behind a loopback endpoint.

It listens on 127.0.0.1 first (and says so on its first line), then runs the event's lifecycle exactly as
``opsloop local run`` does, up to the human wait. From then on a test, or a real Slack app through a tunnel,
clicks and asks: ``POST /slack/interactions``, ``/slack/events`` and ``/slack/commands`` are handed to
``functions/slack_interactions/app.py`` as API Gateway HTTP API (payload 2.0) events, and its
``statusCode``/``headers``/``body`` become the HTTP response, so signature checks, authorisation and
idempotence are the deployed code's. When every execution reaches a terminal state (a valid Resolve, or the
reminder and escalation path, or a failure), it writes execution.json and exits: 0 when the incident was
resolved, 1 when it ended otherwise.

Like API Gateway, it base64-encodes bodies that are not text or JSON (Slack's form posts included) and
answers 500 ``Internal Server Error`` when the handler raises, 413 above the 10 MB payload limit.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from .runner import CHANNEL, RESOLVER, Execution, Printer, RunError, RunOptions, Session

ROUTES = ("/slack/interactions", "/slack/events", "/slack/commands")
HANDLER = "SlackInteractionsFunction"
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway HTTP API's request payload limit
READY_WAIT_SECONDS = 120.0  # a request that arrives while the lifecycle is starting waits this long
SLACK_ACK_SECONDS = 3.0
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")


def api_event(path: str, query: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event for a request, as the handler receives it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").lower()
    text: str | None = None
    if content_type.startswith(_TEXT_TYPES) or content_type.endswith("+json"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    now = time.time()
    route = f"POST {path}"
    return {
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": query, "headers": lowered,
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": text is None,
        "requestContext": {
            "accountId": "111122223333", "apiId": "local", "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local", "requestId": uuid.uuid4().hex, "routeKey": route, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
        },
    }


class SlackEndpoint:
    """The loopback HTTP server in front of the Slack handler; requests wait until a session is attached."""

    def __init__(self, port: int, say: Callable[[str], None]) -> None:
        self.say = say
        self.session: Session | None = None
        self.ready = threading.Event()
        self.closed = threading.Event()
        endpoint = self

        class Handler(_Handler):
            owner = endpoint

        try:
            self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise RunError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="slack-endpoint", daemon=True)

    def start(self) -> str:
        self._thread.start()
        return self.url

    def attach(self, session: Session) -> None:
        self.session = session
        self.ready.set()

    def detach(self) -> None:
        """Requests from now on are answered 503 (the stack behind them is going away)."""
        self.closed.set()
        self.ready.set()

    def stop(self) -> None:
        self.detach()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def dispatch(self, path: str, query: str, headers: dict[str, str], body: bytes,
                 source_ip: str) -> tuple[int, dict[str, str], bytes]:
        if not self.ready.wait(READY_WAIT_SECONDS) or self.closed.is_set() or self.session is None:
            return 503, {"Content-Type": "application/json", "Retry-After": "5"}, \
                b'{"message":"Service Unavailable"}'
        event = api_event(path, query, headers, body, source_ip)
        try:
            result = self.session.dispatcher.call(HANDLER, event)
        except Exception as exc:  # noqa: BLE001 - what API Gateway answers for a function error
            self.say(f"  ✗ {path}: the handler raised {type(exc).__name__}: {str(exc)[:200]}")
            return 500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}'
        return _http_response(result)


def _http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's mapping of a payload-2.0 handler result onto the HTTP response."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # a bare value is answered 200 with it as a JSON body, as API Gateway does for format 2.0
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode("utf-8")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return 500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}'
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(str(raw))
    else:
        body = (raw if isinstance(raw, str) else json.dumps(raw)).encode("utf-8")
    return status, headers, body


class _Handler(BaseHTTPRequestHandler):
    owner: SlackEndpoint
    protocol_version = "HTTP/1.1"
    server_version = "opsloop-local-serve"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - each request is printed below
        return

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        started = time.monotonic()
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_PAYLOAD:
            self.close_connection = True
            self._send(413, {"Content-Type": "application/json"}, b'{"message":"Request Entity Too Large"}')
            return
        body = self.rfile.read(length) if length else b""
        if path not in ROUTES:
            self._send(404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}')
            return
        status, headers, data = self.owner.dispatch(path, parts.query, dict(self.headers.items()), body,
                                                    self.client_address[0])
        self._send(status, headers, data)
        ms = (time.monotonic() - started) * 1000
        late = f" (over Slack's {SLACK_ACK_SECONDS:.0f} s ack limit)" if ms > SLACK_ACK_SECONDS * 1000 else ""
        self.owner.say(f"  ← POST {path} → {status} in {ms:.0f} ms{late}")

    def do_GET(self) -> None:  # noqa: N802
        self._send(405 if urlsplit(self.path).path.rstrip("/") in ROUTES else 404,
                   {"Content-Type": "application/json"}, b'{"message":"Not Found"}')

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _announce(session: Session, execution: Execution, url: str) -> None:
    ref = session.slack_ref(execution)
    say = session.say
    say(f"incident {execution.incident_id} waits for Resolve")
    say(f"  incident id: {execution.incident_id}")
    say(f"  channel: {ref.get('channel', CHANNEL)}")
    say(f"  message ts: {ref.get('ts', '')}")
    say(f"  resolver: {RESOLVER} (OPSLOOP_ALLOWED_RESOLVERS)")
    say(f"  click: POST {url}/slack/interactions, a signed block_actions payload with action_id "
        f"resolve_incident and value {execution.incident_id}")


def serve(opts: RunOptions, port: int = 3000, say: Callable[[str], None] | None = None,
          stop: threading.Event | None = None) -> int:
    """Listen, run the lifecycle up to the wait, serve Slack's requests until every execution ends.

    Returns the exit status: 0 resolved, 1 ended otherwise (or nothing to wait for), 130 stopped.
    ``stop`` (tests) ends the wait like Ctrl-C or SIGTERM do.
    """
    say = say or Printer()
    endpoint = SlackEndpoint(port, say)
    url = endpoint.start()
    say(f"listening on {url}")
    stop = stop or threading.Event()
    previous = _on_sigterm(stop)
    try:
        with Session(opts, say) as session:
            try:
                endpoint.attach(session)
                if not opts.signing_secret:
                    say(f"signing secret: {session.signing_secret} (generated for this run; sign requests with it, "
                        "or pass --signing-secret)")
                executions = [session.start_execution(i) for i in session.inputs]
                if not executions:
                    session.finish()
                    say("the event opened no incident: nothing to wait for")
                    return 1
                stopped = _wait(session, executions, url, stop)
                if stopped:
                    for e in executions:
                        session.abort(e, "LocalServeStopped", "opsloop local serve was stopped")
                    session.finish()
                    say("stopped before every incident ended: execution.json records where each one was")
                    return 130
                result = session.finish()
                return 0 if result.status == "SUCCEEDED" else 1
            finally:
                endpoint.detach()
    finally:
        endpoint.stop()
        _restore_sigterm(previous)


def _wait(session: Session, executions: list[Execution], url: str, stop: threading.Event) -> bool:
    """Poll until every execution is terminal; True when stopped first."""
    try:
        while not stop.is_set():
            done = True
            for e in executions:
                if session.poll(e):
                    continue
                done = False
                if not e.announced and session.waiting(e):
                    session.seed_thread(e)
                    _announce(session, e, url)
                    e.announced = True
            if done:
                return False
            stop.wait(0.1)
    except KeyboardInterrupt:
        pass
    return True


def _on_sigterm(stop: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _restore_sigterm(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


__all__ = ["ROUTES", "SlackEndpoint", "api_event", "serve"]
