"""The README's Python API example, run as written, as a test of a user's own project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_readme import blocks, section

pytestmark = pytest.mark.e2e


def test_the_python_api_example_runs_as_a_users_test(tmp_path: Path) -> None:
    (example,) = blocks(section("## The Python API"), "python")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_example.py").write_text(example)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSHEET_", "PYTEST_"))}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout
