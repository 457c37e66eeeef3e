"""What is deployed never names what is not: the layer ships opsloop without opsloop/local (the offline
stand-ins) and without cli.py (the workstation command), so no deployed module may import the stand-ins,
not even lazily inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from opsloop import wiring
from opsloop.config import load_settings
from opsloop.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "opsloop" / "opsloop"


def _deployed_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py")
            if "local" not in p.relative_to(PACKAGE).parts and p.relative_to(PACKAGE).as_posix() != "cli.py"]


def _imports_local(path: Path) -> list[str]:
    module_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("opsloop.local")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                base = list(module_parts[:-node.level]) if node.level <= len(module_parts) else []
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [n for n in names if n == "opsloop.local" or n.startswith("opsloop.local.")]
    return found


def test_no_deployed_module_imports_the_offline_stand_ins() -> None:
    modules = _deployed_modules()
    assert len(modules) > 20
    offenders = {str(p.relative_to(PACKAGE)): names for p in modules if (names := _imports_local(p))}
    assert offenders == {}


def test_the_scan_sees_a_lazy_relative_import(tmp_path: Path) -> None:
    probe = PACKAGE / "bedrock" / "_probe_for_boundary_test.py"
    probe.write_text("def f():\n    from ..local.ingestion import LocalIngestion\n    return LocalIngestion\n")
    try:
        assert _imports_local(probe) == ["opsloop.local.ingestion", "opsloop.local.ingestion.LocalIngestion"]
    finally:
        probe.unlink()


def test_a_deployed_function_configured_for_a_local_stand_in_gets_a_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wiring, "_offline", {})  # as in Lambda, where opsloop.local does not exist
    monkeypatch.setattr(wiring, "get_settings", lambda: load_settings({"OPSLOOP_INGESTION": "local"}))
    with pytest.raises(ConfigError, match="OPSLOOP_INGESTION=local is only available in the offline run"):
        wiring.ingestion()


#: Modules that talk to AWS themselves: the adapters behind the ports, the wiring that builds them, and the
#: operator's tools (doctor checks a deployment with the real clients; cli runs on a workstation).
AWS_ADAPTERS = {"aws_errors.py", "archive.py", "eventbus.py", "callbacks.py", "wiring.py", "doctor.py", "cli.py",
                "knowledge_seed.py", "bedrock"}


def _imports_boto(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        found += [n for n in names if n.split(".")[0] in ("boto3", "botocore")]
    return found


def test_domain_modules_reach_aws_only_through_ports() -> None:
    domain = [p for p in _deployed_modules() if p.relative_to(PACKAGE).parts[0] not in AWS_ADAPTERS]
    assert {"intake.py", "lifecycle.py", "wait.py", "questions.py", "incidents.py"} <= {p.name for p in domain}
    offenders = {str(p.relative_to(PACKAGE)): names for p in domain if (names := _imports_boto(p))}
    assert offenders == {}
