"""A real `sam build` (no Docker): the layer carries opsloop and its pinned dependencies for Lambda, with
Python 3.13 bytecode where a Python 3.13 is installed, and nothing that must not ship; the seed function
carries the runbooks.

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
    foreign = [p for p in build_dir.rglob("*.pyc") if not p.name.endswith(".cpython-313.pyc")]
    assert not foreign, f"bytecode of the build machine's Python: {foreign[:3]}"
    assert not list(build_dir.rglob("Makefile"))


def pyc_python() -> str:
    """The Python 3.13 the layer's Makefile compiles bytecode with ('' when the machine has none)."""
    out = subprocess.run(["make", "-s", "-C", str(ROOT / "layers" / "opsloop"), "pyc-python"],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_layer_ships_python313_bytecode_for_every_module(build_dir: Path) -> None:
    """Lambda's /opt is read-only: without bytecode in the layer, every cold start compiles each imported
    module from source. Each module gets unchecked-hash 3.13 bytecode that Python 3.13 loads as it is."""
    site = build_dir / "OpsloopLayer" / "python"
    python = pyc_python()
    if not python:
        assert not list(site.rglob("*.pyc"))
        pytest.skip("no Python 3.13 on this machine: the layer ships without bytecode (the build says so)")
    magic = subprocess.run([python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
                           capture_output=True, text=True, check=True).stdout
    sources = [p for p in site.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 500
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), f"no bytecode for {source.relative_to(site)}"
        header = pyc.read_bytes()[:8]
        assert header[:4].hex() == magic and int.from_bytes(header[4:8], "little") == 0b01, pyc
    # -v names each code object's origin: 3.13 loads these modules from the shipped bytecode, not the source
    out = subprocess.run([python, "-B", "-v", "-c", "import sys; sys.path[:0] = [sys.argv[1]]; import opsloop.models",
                          str(site)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"code object from '{site / 'opsloop' / '__pycache__' / 'models.cpython-313.pyc'}'" in out.stderr


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
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # read-only on Lambda; and the build checks above stay true
        result = subprocess.run([sys.executable, "-c", code], cwd=build_dir / name, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
