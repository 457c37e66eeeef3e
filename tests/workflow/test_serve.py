"""`opsloop local serve`: the offline stack behind a loopback Slack endpoint, driven over real HTTP.

GIVEN `opsloop local serve` started as a user starts it (a subprocess) WHEN Slack-shaped requests arrive
over loopback, signed with the app's signing secret THEN the deployed handler answers them (forged ones
refused, unauthorised clicks changing nothing) and a valid Resolve finishes the lifecycle: execution.json
is written and the process exits 0.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from opsloop.local.serve import api_event
from opsloop.slack.interactions import interaction_body, sign_request

ROOT = Path(__file__).resolve().parents[2]
SECRET = "8f14e45fceea167a5a36dedd4bea2543"
pytestmark = pytest.mark.slow


class Served:
    """A running `opsloop local serve`, its stdout read line by line on a thread."""

    def __init__(self, out: Path, *args: str) -> None:
        cmd = [sys.executable, "-m", "opsloop.cli", "local", "serve", "--port", "0", "--out", str(out), *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "opsloop"), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def expect(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.lines))

    def drain(self) -> None:
        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def post(base: str, path: str, body: str, *, secret: str | None = SECRET, ts: int | None = None,
         content_type: str = "application/x-www-form-urlencoded") -> tuple[int, str]:
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers.update(sign_request(body, secret, ts or int(time.time())))
    req = urllib.request.Request(base + path, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _confirm_modal_if_opened(out: Path, base: str, incident_id: str) -> None:
    """Where Resolve opens a confirmation modal (views.open), submit it as Slack would: the view as opened,
    its inputs left as pre-filled, by the same user."""
    opened = sorted((out / "slack").glob("*-views.open.json"))
    if not opened:
        return
    view = json.loads(opened[-1].read_text())["payload"].get("view") or {}
    if isinstance(view, str):
        view = json.loads(view)
    values: dict[str, dict] = {}
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        if block.get("type") == "input" and element.get("action_id"):
            values[block.get("block_id", "")] = {element["action_id"]: {
                "type": element.get("type", "plain_text_input"), "value": element.get("initial_value", "")}}
    payload = {"type": "view_submission", "team": {"id": "T0LOCAL"}, "api_app_id": "A0LOCAL",
               "user": {"id": "U0ONCALL01", "username": "oncall", "name": "oncall", "team_id": "T0LOCAL"},
               "view": {**view, "id": "V0LOCAL", "state": {"values": values}}, "trigger_id": "1.1.local"}
    status, _ = post(base, "/slack/interactions", "payload=" + urllib.parse.quote(json.dumps(payload)))
    assert status == 200


def test_serve_answers_through_the_deployed_handler_and_a_resolve_finishes_the_lifecycle(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # (with a Slack 5xx injected when the message is marked resolved: serve takes --faults like run)
    served = Served(out, "--signing-secret", SECRET, "--faults", "slack.chat.update=503")
    try:
        first = served.expect(r".", timeout=60)
        # THEN the very first line says where it listens (loopback only, the port picked for --port 0)
        assert re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)", first.string), first.string
        base = first.string.split("listening on ", 1)[1]
        incident_id = served.expect(r"incident id: (\S+)").group(1)
        channel = served.expect(r"channel: (\S+)").group(1)
        ts = served.expect(r"message ts: (\S+)").group(1)
        assert SECRET not in "\n".join(served.lines), "a secret given on the command line is not echoed"

        click = interaction_body(incident_id=incident_id, user_id="U0ONCALL01", channel_id=channel, message_ts=ts,
                                response_url="")
        # a forged, a stale and a tampered click are refused before anything happens
        assert post(base, "/slack/interactions", click, secret=None)[0] == 401
        assert post(base, "/slack/interactions", click, secret="0" * 32)[0] == 401
        assert post(base, "/slack/interactions", click, ts=int(time.time()) - 600)[0] == 401
        assert post(base, "/slack/other", click)[0] == 404
        # someone who is not on the resolver list is told so, and the incident keeps waiting
        stranger = interaction_body(incident_id=incident_id, user_id="U0STRANGER", channel_id=channel, message_ts=ts,
                                response_url="")
        status, body = post(base, "/slack/interactions", stranger)
        assert status == 200 and "forbidden" in body
        time.sleep(1)
        assert served.proc.poll() is None, "an unauthorised click must not end the wait"

        # WHEN the on-call engineer clicks Resolve (signed like Slack signs it)
        status, body = post(base, "/slack/interactions", click)
        assert status == 200, body
        time.sleep(1)
        _confirm_modal_if_opened(out, base, incident_id)

        # THEN the lifecycle completes and the process exits 0 with execution.json written
        code = served.proc.wait(120)
        served.drain()
        assert code == 0, "\n".join(served.lines)
    finally:
        served.stop()
    doc = json.loads((out / "execution.json").read_text())
    assert doc["incident_id"] == incident_id and doc["status"] == "SUCCEEDED"
    assert doc["states"][-2:] == ["Post Outcome in Thread", "Incident Closed"]
    assert len(list((out / "confluence" / "pages").glob("*.html"))) == 1
    assert len(list((out / "knowledge").glob("*.md"))) == 1
    assert [f["target"] for f in doc["faults"]["injected"]] == ["slack.chat.update"]
    log = "\n".join(served.lines)
    assert re.search(r"← POST /slack/interactions → 401", log), "each request is shown with its status"


def test_serve_without_a_secret_prints_a_generated_one_and_stops_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    served = Served(out)
    try:
        base = served.expect(r"^listening on (http://127\.0\.0\.1:\d+)$", timeout=60).group(1)
        secret = served.expect(r"signing secret: ([0-9a-f]{32})").group(1)
        incident_id = served.expect(r"incident id: (\S+)").group(1)
        channel = served.expect(r"channel: (\S+)").group(1)
        ts = served.expect(r"message ts: (\S+)").group(1)
        click = interaction_body(incident_id=incident_id, user_id="U0STRANGER", channel_id=channel, message_ts=ts,
                                response_url="")
        assert post(base, "/slack/interactions", click, secret=secret)[0] == 200  # verified with the printed one
        # WHEN it is stopped (SIGTERM) before anyone resolves
        served.proc.terminate()
        code = served.proc.wait(30)
        served.drain()
    finally:
        served.stop()
    # THEN it says so, exits non-zero and leaves no incident open for the next run to be swallowed by
    assert code != 0
    doc = json.loads((out / "execution.json").read_text())
    assert doc["incident_id"] == incident_id and doc["status"] == "ABORTED" and doc["error"] == "LocalServeStopped"
    items = json.loads((out / "state" / "incidents.json").read_text())
    statuses = {i["pk"]["S"]: i.get("status", {}).get("S") for i in items}
    assert statuses[f"INC#{incident_id}"] == "ABORTED"


def test_the_api_gateway_event_is_what_the_deployed_handler_receives() -> None:
    form = api_event("/slack/interactions", "", {"Content-Type": "application/x-www-form-urlencoded",
                                                 "X-Slack-Signature": "v0=ab"}, b"payload=%7B%7D", "127.0.0.1")
    assert form["version"] == "2.0" and form["routeKey"] == "POST /slack/interactions"
    assert form["rawPath"] == "/slack/interactions" and form["headers"]["x-slack-signature"] == "v0=ab"
    assert form["isBase64Encoded"] is True and form["body"] == "cGF5bG9hZD0lN0IlN0Q="  # as HTTP APIs send forms
    assert form["requestContext"]["http"]["method"] == "POST"
    js = api_event("/slack/events", "", {"content-type": "application/json"}, b'{"type":"x"}', "127.0.0.1")
    assert js["isBase64Encoded"] is False and js["body"] == '{"type":"x"}'


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "layers" / "opsloop"))
        proc = subprocess.run([sys.executable, "-m", "opsloop.cli", "local", "serve", "--port", str(port),
                               "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
                              env=env, timeout=60)
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
