"""statemachine/incident.asl.json against template.yaml: neither cfn-lint nor sam validate reads the ASL file
behind DefinitionUri, so these checks are the only thing between a typo and a failed deploy or a stuck
incident."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest

from . import ASL, resources, template

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
LAMBDA_SERVICE_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                         "Lambda.TooManyRequestsException"}
MAX_ATTEMPTS_CAP = 10


def _substitutions() -> dict[str, Any]:
    sm = resources("AWS::Serverless::StateMachine")["IncidentStateMachine"]["Properties"]
    return sm["DefinitionSubstitutions"]


def _definition() -> dict[str, Any]:
    """The ASL with every placeholder replaced as Step Functions would (numbers stay numbers)."""
    params = template()["Parameters"]
    values = {}
    for key, value in _substitutions().items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in params and params[ref]["Type"] == "Number":
            values[key] = str(params[ref]["Default"])
        else:
            values[key] = f"arn:aws:lambda:us-east-1:123456789012:function:{key}"
    # An unknown placeholder becomes null (valid JSON quoted or not): the substitution test names it.
    text = PLACEHOLDER.sub(lambda m: values.get(m.group(1), "null"), ASL.read_text())
    return json.loads(text)


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, state, sibling states) for every state, nested Parallel branches and Map processors included."""
    for name, state in states.items():
        yield name, state, states
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _states(state[key]["States"])


def _task_states() -> list[tuple[str, dict[str, Any]]]:
    return [(n, s) for n, s, _ in _states(_definition()["States"]) if s["Type"] == "Task"]


def _is_lambda_task(state: dict[str, Any]) -> bool:
    resource = state["Resource"]
    return ":lambda:" in resource or resource.startswith("arn:aws:states:::lambda:")


def test_asl_exists_and_is_valid_json_once_substituted() -> None:
    assert ASL.is_file(), "statemachine/incident.asl.json is missing"
    definition = _definition()
    assert definition["StartAt"] in definition["States"]


def test_every_placeholder_has_a_substitution_and_every_substitution_is_used() -> None:
    used = set(PLACEHOLDER.findall(ASL.read_text()))
    defined = set(_substitutions())
    assert used - defined == set(), f"placeholders without a DefinitionSubstitution: {sorted(used - defined)}"
    assert defined - used == set(), f"substitutions the ASL never uses: {sorted(defined - used)}"


def test_function_substitutions_are_named_after_the_function_they_point_to() -> None:
    fns = resources("AWS::Serverless::Function")
    for key, value in _substitutions().items():
        if key.endswith("FunctionArn"):
            logical_id = key[: -len("Arn")]
            assert logical_id in fns, key
            assert value == {"Fn::GetAtt": [logical_id, "Arn"]}, key


def test_the_state_machine_may_invoke_every_function_it_calls() -> None:
    sm = resources("AWS::Serverless::StateMachine")["IncidentStateMachine"]["Properties"]
    allowed = {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in sm["Policies"]
               if isinstance(p, dict) and "LambdaInvokePolicy" in p}
    called = {k[: -len("Arn")] for k in _substitutions() if k.endswith("FunctionArn")}
    assert called == allowed


def test_every_transition_target_exists() -> None:
    for name, state, siblings in _states(_definition()["States"]):
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Catch", [])]
        targets += [c.get("Next") for c in state.get("Choices", [])]
        for target in filter(None, targets):
            assert target in siblings, f"{name!r} goes to {target!r}, which does not exist"
        if state["Type"] not in ("Choice", "Succeed", "Fail") and not state.get("End"):
            assert state.get("Next"), f"{name!r} has neither Next nor End"


def test_every_state_is_reachable() -> None:
    definition = _definition()
    states = definition["States"]
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo += [t for t in [state.get("Next"), state.get("Default")] if t]
        todo += [c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])]
    assert set(states) - seen == set(), f"unreachable states: {sorted(set(states) - seen)}"


@pytest.mark.parametrize("name,state", _task_states() if ASL.is_file() else [], ids=lambda v: v if isinstance(v, str) else "")
def test_task_retries_with_full_jitter_and_a_cap_and_catches_the_rest(name: str, state: dict[str, Any]) -> None:
    retries = state.get("Retry", [])
    assert retries, f"{name!r} has no Retry"
    for r in retries:
        assert r.get("JitterStrategy") == "FULL", f"{name!r}: retry without full jitter"
        assert 1 <= r.get("MaxAttempts", 3) <= MAX_ATTEMPTS_CAP, f"{name!r}: MaxAttempts not capped"
        assert not {"States.ALL", "States.TaskFailed"} & set(r["ErrorEquals"]), \
            f"{name!r} retries every error, bugs included"
    if _is_lambda_task(state):
        retried = set().union(*(set(r["ErrorEquals"]) for r in retries))
        assert LAMBDA_SERVICE_ERRORS <= retried, f"{name!r} does not retry {LAMBDA_SERVICE_ERRORS - retried}"
    catches = state.get("Catch", [])
    assert any("States.ALL" in c["ErrorEquals"] for c in catches), f"{name!r} has no catch-all"
    if _is_lambda_task(state) and name != "Report Failure":
        # a Lambda timeout after the step's calls went out: every step is idempotent, so once more, then
        # the failure path (Report Failure itself posts each time it runs, so it is not retried)
        timeouts = [r for r in retries if {"Sandbox.Timedout", "Lambda.Unknown"} <= set(r["ErrorEquals"])]
        assert len(timeouts) == 1 and timeouts[0]["MaxAttempts"] == 1, f"{name!r}: a timeout is not retried once"
        assert "States.Timeout" not in timeouts[0]["ErrorEquals"], "a human wait's timeout must reach its Catch"


def test_human_waits_time_out_into_a_catch_and_fit_in_the_execution() -> None:
    definition = _definition()
    params = template()["Parameters"]
    waits = [(n, s) for n, s in _task_states() if s["Resource"].endswith(".waitForTaskToken")]
    assert waits, "no task-token wait: who resolves the incident?"
    total = 0
    for name, state in waits:
        assert isinstance(state.get("TimeoutSeconds"), int), f"{name!r} waits forever"
        assert any("States.Timeout" in c["ErrorEquals"] for c in state["Catch"]), f"{name!r}: timeout not caught"
        total += state["TimeoutSeconds"]
    assert definition["TimeoutSeconds"] == params["ExecutionTimeoutSeconds"]["Default"]
    assert total < definition["TimeoutSeconds"], "the waits alone would exceed the execution timeout"
    raw = ASL.read_text()
    assert '"TimeoutSeconds": ${ExecutionTimeoutSeconds}' in raw


def test_the_task_token_never_reaches_slack_payload_fields_other_than_task_token() -> None:
    """The Resolve button carries the incident id only; the token goes to the function, which stores it."""
    for name, state in _task_states():
        if not state["Resource"].endswith(".waitForTaskToken"):
            continue
        payload = state["Parameters"]["Payload"]
        holders = [k for k, v in payload.items() if v == "$$.Task.Token"]
        assert holders == ["task_token.$"], f"{name!r} passes the token as {holders}"
