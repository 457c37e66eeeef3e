"""Account-wide intake and member accounts in template.yaml, and the member-account template."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from . import ROOT, resources, template, tool, tool_env

MEMBER = ROOT / "member" / "template.yaml"


def _own_groups() -> list[str]:
    env = template()["Resources"]["IntakeFunction"]["Properties"]["Environment"]["Variables"]
    return env["OPSLOOP_OWN_LOG_GROUPS"]["Fn::Sub"].split(",")


def test_account_wide_intake_is_the_default_and_excludes_every_own_log_group() -> None:
    assert template()["Parameters"]["IntakeMode"]["Default"] == "account"
    policy = resources("AWS::Logs::AccountPolicy")["IntakeAccountPolicy"]
    assert policy["Condition"] == "IntakeAccountMode"
    props = policy["Properties"]
    assert props["PolicyType"] == "SUBSCRIPTION_FILTER_POLICY" and props["Scope"] == "ALL"
    doc_template = props["PolicyDocument"]["Fn::Sub"][0]
    doc = json.loads(doc_template.replace("${Arn}", "arn").replace("${Pattern}", "p"))
    assert set(doc) == {"DestinationArn", "FilterPattern", "Distribution"}
    criteria = props["SelectionCriteria"]["Fn::Sub"]
    excluded = json.loads(criteria.removeprefix("LogGroupName NOT IN "))
    # every log group the stack creates (bar the demo's, which exists to be watched) is excluded ...
    declared = {v["Properties"]["LogGroupName"]["Fn::Sub"] for v in resources("AWS::Logs::LogGroup").values()
                if isinstance(v["Properties"].get("LogGroupName"), dict) and "Fn::Sub" in v["Properties"]["LogGroupName"]}
    assert declared - {"/aws/lambda/${AWS::StackName}-demo-errors"} == set(excluded)
    # ... and the intake loop guard drops exactly the same groups
    assert set(_own_groups()) == set(excluded)
    assert len(criteria) < 25 * 1024  # the service's limit on selection criteria


def test_list_mode_keeps_the_five_named_slots_and_the_demo_subscription() -> None:
    conditions = template()["Conditions"]
    for i in range(1, 6):
        assert {"Condition": "IntakeListMode"} in conditions[f"HasLogGroup{i}"]["Fn::And"]
    sub = resources("AWS::Logs::SubscriptionFilter")["DemoErrorsSubscription"]
    assert sub["Condition"] == "DemoErrorsSubscribed"


def test_member_accounts_get_a_destination_on_kinesis_and_a_bus_policy() -> None:
    dest = resources("AWS::Logs::Destination")["MemberLogsDestination"]
    assert dest["Properties"]["TargetArn"] == {"Fn::GetAtt": ["MemberLogStream", "Arn"]}
    mapping = resources("AWS::Lambda::EventSourceMapping")["MemberLogsToIntake"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BisectBatchOnFunctionError"]
    bus = resources("AWS::Events::EventBusPolicy")["MemberAlarmsBusPolicy"]
    assert bus["Properties"]["EventBusName"] == "default"
    for accounts in ("111111111111", "111111111111,222222222222"):
        assert re.fullmatch(template()["Parameters"]["MemberAccountIds"]["AllowedPattern"], accounts)
    assert not re.fullmatch(template()["Parameters"]["MemberAccountIds"]["AllowedPattern"], "prod")
    read = resources("AWS::IAM::Policy")["IntakeMemberLogsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert all(s["Resource"] != "*" for s in read)


def _member() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.Loader, suffix: str, node: yaml.Node) -> object:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}

    Loader.add_multi_constructor("!", construct)
    return yaml.load(MEMBER.read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass


def test_member_template_lints_clean() -> None:
    r = subprocess.run([tool("cfn-lint"), str(MEMBER)], capture_output=True, text=True, env=tool_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_member_template_subscribes_to_the_central_destination_and_forwards_alarms() -> None:
    res = _member()["Resources"]
    policy = res["MemberAccountPolicy"]["Properties"]
    assert policy["PolicyType"] == "SUBSCRIPTION_FILTER_POLICY"
    rule = res["ForwardAlarms"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["CloudWatch Alarm State Change"]
    assert rule["EventPattern"]["detail"]["state"]["value"] == ["ALARM"]
