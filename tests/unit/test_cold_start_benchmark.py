"""The cold start benchmark measures every function, on events the handlers accept, with credentials the
handlers accept (a refused placeholder token once made the benchmark fail before measuring anything)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from opsloop.slack.credentials import checked_bot_token, checked_signing_secret
from opsloop.slack.interactions import parse_interaction, verify_api_event

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "cold_start.py"


def _bench():
    spec = importlib.util.spec_from_file_location("cold_start_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_function_has_a_first_call_and_every_handler_call_a_sample_event() -> None:
    bench = _bench()
    functions = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    assert set(bench.FIRST_CALL) == functions
    calls = {name for name, stmts in bench.FIRST_CALL.items() if bench.CALL in stmts}
    assert calls == set(bench.SAMPLE)
    for name in calls:
        assert json.loads((ROOT / "events" / bench.SAMPLE[name]).read_text(encoding="utf-8"))


def test_the_seeded_secret_holds_credentials_the_handlers_accept() -> None:
    bench = _bench()
    assert checked_bot_token(bench.TOKEN) == bench.TOKEN
    assert checked_signing_secret(bench.SIGNING_SECRET) == bench.SIGNING_SECRET


def test_the_resolve_click_it_sends_is_signed_so_the_router_verifies_it() -> None:
    import time

    bench = _bench()
    sample = json.loads((ROOT / "events" / bench.SAMPLE["slack_interactions"]).read_text(encoding="utf-8"))
    event = bench.signed_click(sample, "20261125T091403-3f9c2a71b0de", "1795598100.000100")
    body = verify_api_event(event, bench.SIGNING_SECRET, now=time.time())
    click = parse_interaction(body)
    assert (click.action_id, click.incident_id, click.user_id) == ("resolve_incident", "20261125T091403-3f9c2a71b0de",
                                                                   bench.ONCALL)
