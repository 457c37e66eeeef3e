"""Checks of the deployable application: template.yaml, the state machine definition and `sam build`.

Shared helpers live here: the template as plain data (CloudFormation tags decoded by cfn-lint's loader),
the template after the SAM transform (run offline, so generated roles can be inspected too), and the
SAM CLI / cfn-lint executables of the running virtualenv.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "incident.asl.json"


@functools.lru_cache(maxsize=1)
def _template() -> str:
    from cfnlint.decode import cfn_yaml

    return json.dumps(cfn_yaml.load(str(TEMPLATE)))


def template() -> dict[str, Any]:
    """template.yaml as plain JSON data (a fresh copy: tests may not alter each other's view)."""
    return json.loads(_template())


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    res = template()["Resources"]
    return {k: v for k, v in res.items() if kind is None or v["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Serverless::Function")


@functools.lru_cache(maxsize=1)
def _transformed() -> str:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    tpl = template()
    for res in tpl["Resources"].values():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):  # what `sam package` does, without uploading anything
                props[key] = "s3://artifacts/" + props[key].strip("/")
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    out = translator.translate(tpl, parameter_values={}, get_managed_policy_map=lambda: {})
    return json.dumps(out)


def transformed() -> dict[str, Any]:
    """The CloudFormation template the SAM transform produces (generated function roles included)."""
    return json.loads(_transformed())


def tool(name: str) -> str:
    """An executable of the running virtualenv (sam, cfn-lint), else from PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (pip install -r requirements/dev.txt)")
    return found


def tool_env() -> dict[str, str]:
    """Environment for SAM CLI subprocesses: no telemetry, this virtualenv's python first on PATH."""
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return env
