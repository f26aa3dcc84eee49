"""The wheel a user installs ships the examples the README runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def readme_targets() -> set[str]:
    """Every MODULE:CLASS that a ``callsheet redrive`` or ``agent run`` of the README names."""
    text = (ROOT / "README.md").read_text()
    found = set(re.findall(r"callsheet (?:redrive|agent run) ([\w.]+:\w+)", text))
    return {t for t in found if not t.startswith(("MODULE:", "mymodule:"))}  # placeholders


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built (as pip builds it) from a copy of the package's sources."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "callsheet", src / "callsheet", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(work / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (built,) = (work / "dist").glob("callsheet-*.whl")
    return built


def test_the_wheel_ships_every_example_the_readme_runs(wheel: Path, tmp_path: Path) -> None:
    targets = readme_targets()
    modules = {t.split(":")[0] for t in targets}
    assert {m for m in modules if "examples." in m} == {
        "callsheet.examples.redrive.changed_supervisor",
        "callsheet.examples.redrive.changed_worker",
    }
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in modules:
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, module
    # Installed (unpacked) away from the checkout, each class loads from the wheel's files.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import importlib, sys\n"
        "for target in sys.argv[1:]:\n"
        "    module, _, name = target.partition(':')\n"
        "    loaded = importlib.import_module(module)\n"
        "    getattr(loaded, name)\n"
        "    print(loaded.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", probe, *sorted(targets)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    files = out.stdout.split()
    assert len(files) == len(targets)
    assert all(Path(f).is_relative_to(site) for f in files), files
