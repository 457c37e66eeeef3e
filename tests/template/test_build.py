"""A real `sam build` (no Docker, no python3.13 here): the layer carries opsloop and its pinned dependencies
for Lambda, and nothing that must not ship; the seed function carries the runbooks.

Needs the package index for the layer's wheels (pip's cache makes repeat runs fast). Measured on a 2-core
machine: about 8 s with a warm pip cache, so it is not marked slow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from . import ROOT, TEMPLATE, functions, tool, tool_env


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam")
    result = subprocess.run(
        [tool("sam"), "build", "--template-file", str(TEMPLATE), "--build-dir", str(out / "build"),
         "--cache-dir", str(out / "cache"), "--parallel"],
        cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "build"


def test_layer_has_opsloop_and_its_dependencies(build_dir: Path) -> None:
    site = build_dir / "OpsloopLayer" / "python"
    for package in ("opsloop", "slack_sdk", "atlassian", "aws_lambda_powertools"):
        assert (site / package / "__init__.py").is_file(), package
    assert (site / "opsloop" / "models.py").is_file()


def test_layer_installs_the_locked_versions(build_dir: Path) -> None:
    """Transitive dependencies are the ones the tests ran with, not the newest ones for Python 3.13."""
    locked = dict(line.strip().lower().replace("_", "-").split("==", 1)
                  for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    site = build_dir / "OpsloopLayer" / "python"
    installed = [d.name[: -len(".dist-info")].rsplit("-", 1) for d in site.glob("*.dist-info")]
    assert len(installed) >= 10
    for name, version in installed:
        key = name.lower().replace("_", "-")
        assert locked.get(key) == version, f"{name} {version} is not the locked {locked.get(key)}"


def test_layer_leaves_out_the_offline_stand_ins_and_build_leftovers(build_dir: Path) -> None:
    site = build_dir / "OpsloopLayer" / "python"
    assert not (site / "opsloop" / "local").exists(), "opsloop/local is for the offline run only"
    assert not (site / "opsloop" / "cli.py").exists(), "the opsloop command runs on workstations, not in Lambda"
    assert not list(build_dir.rglob("__pycache__")), "bytecode compiled by the build machine's Python"
    assert not list(build_dir.rglob("*.pyc"))
    assert not list(build_dir.rglob("Makefile"))


def test_layer_binaries_are_for_python313_on_arm64(build_dir: Path) -> None:
    extensions = list((build_dir / "OpsloopLayer").rglob("*.so"))
    assert extensions, "expected at least one compiled dependency (wrapt)"
    for so in extensions:
        assert "cpython-313-aarch64" in so.name or "abi3" in so.name, so.name


def test_every_function_package_holds_its_handler(build_dir: Path) -> None:
    for name, fn in functions().items():
        source = sorted(p.name for p in (ROOT / fn["Properties"]["CodeUri"]).glob("*.py"))
        built = sorted(p.name for p in (build_dir / name).glob("*.py"))
        assert "app.py" in built and built == source, name


def test_seed_function_package_carries_every_runbook(build_dir: Path) -> None:
    knowledge = ROOT / "knowledge"
    runbooks = sorted(p.relative_to(knowledge).as_posix() for p in knowledge.rglob("*.md")
                      if not any(part.startswith(".") for part in p.relative_to(knowledge).parts))
    packaged = build_dir / "SeedKnowledgeFunction" / "knowledge"
    assert runbooks, "knowledge/ has no runbooks"
    assert sorted(p.relative_to(packaged).as_posix() for p in packaged.rglob("*.md")) == runbooks
    assert not (packaged / "runbooks").is_symlink()


def test_handlers_import_from_the_built_artifacts(build_dir: Path) -> None:
    """Each handler module imports with only its package and the layer on the path (boto3 comes from the
    runtime, as on Lambda), and opsloop resolves from the layer, not from the source tree."""
    layer = build_dir / "OpsloopLayer" / "python"
    for name in functions():
        code = (
            "import sys, app, opsloop; "
            f"assert opsloop.__file__.startswith({str(layer)!r}), opsloop.__file__"
        )
        env = tool_env()
        env["PYTHONPATH"] = f"{build_dir / name}:{layer}"
        result = subprocess.run([sys.executable, "-c", code], cwd=build_dir / name, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
