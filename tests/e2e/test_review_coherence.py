"""Coherence in ``callsheet review --fix``, on a real nats-server with the offline model.

The project made here asks for single quotes (its ruff formatter's
``quote-style``) and writes them. Ruff's fix of C408 (``dict(verbose=1)``) writes
``{"verbose": 1}`` in a file that holds no one-line string of its own: the
patch reviewer sees the drift from ``convention.quotes``, the finding goes back
to the fixer, which makes the fix again with Q000 and the project's quote. In
``pkg/wide.py`` the same fix makes a line longer than the project allows, in a
file that does not follow the formatter: no tool fixes that safely, so the file
is left and the report says why, instead of another round.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli_support import cli, cli_env
from tests.e2e.test_review_fix import events_of, of_type, pytest_in

pytestmark = pytest.mark.e2e

FILES = {
    "pyproject.toml": """[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "C4"]

[tool.ruff.format]
quote-style = "single"
""",
    "pkg/__init__.py": "",
    "pkg/opts.py": '''"""Options."""


def options():
    return dict(verbose=1)
''',
    "pkg/names.py": '''"""Names."""

NAMES = ['a', 'b']


def first():
    return NAMES[0]
''',
    "pkg/wide.py": '''"""Limits."""
LIMITS = dict(alpha=1, beta=2, gamma=3, delta=4, epsilon=5, zeta=6, eta=7, theta=8, io=9)
''',
    "tests/test_pkg.py": """from pkg.names import first
from pkg.opts import options
from pkg.wide import LIMITS


def test_first():
    assert first() == 'a'


def test_options():
    assert options() == {'verbose': 1}


def test_limits():
    assert LIMITS['io'] == 9
""",
}


@pytest.fixture
def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(nats_url, tmp_path / "home")


def test_a_fix_that_drifts_goes_back_to_its_author_and_is_fixed_or_reported(
    env: dict[str, str], tmp_path: Path
) -> None:
    tree = tmp_path / "proj"
    for rel, text in FILES.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    out = cli(
        env,
        *("review", str(tree), "--fix", "--perspectives", "style", "--workers", "1"),
        "--no-progress",
        cwd=tmp_path,
        timeout=400,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: nothing new breaks" in out.stdout, out.stdout
    goal = re.search(r"goal (review-\w+): reviewing", out.stdout)
    assert goal is not None, out.stdout
    events = events_of(env, goal[1])
    quotes = next(
        e for e in of_type(events, "context.updated") if e["data"]["key"] == "convention.quotes"
    )
    assert quotes["data"]["value"]["value"] == "single"

    # Round 1's review finds the drift and names what fixes it.
    first, second = of_type(events, "review.completed")
    assert first["data"]["verdict"] == "changes_requested"
    drift = {
        f["location"]: f["message"]
        for f in first["data"]["findings"]
        if f["message"].startswith("drift from ")
    }
    assert drift["pkg/opts.py:5"].startswith("drift from convention.quotes")
    assert (
        "ruff Q000 fixes it (with lint.flake8-quotes.inline-quotes = 'single')"
        in drift["pkg/opts.py:5"]
    )
    wide = next(
        m for loc, m in drift.items() if loc.startswith("pkg/wide.py") and "line_length" in m
    )
    assert "no tool fixes it safely" in wide

    # It goes back to its author, whose second round follows the convention.
    (again,) = [
        e
        for e in of_type(events, "task.assigned")
        if e["task_id"] == "fix" and e["data"]["attempt"] == 2
    ]
    assert drift["pkg/opts.py:5"] in [r["message"] for r in again["data"]["inputs"]["review"]]
    round_two = [e["data"] for e in of_type(events, "patch.proposed") if e["data"]["round"] == 2]
    assert [p["path"] for p in round_two] == ["pkg/opts.py"]  # wide.py is left as it was
    assert "{'verbose': 1}" in round_two[0]["after"] and "Q000" in round_two[0]["rationale"]
    assert second["data"]["verdict"] == "approved"
    assert not [
        e
        for e in of_type(events, "task.assigned")
        if e["task_id"] == "fix" and e["data"]["attempt"] > 2
    ]

    # The patch applies with git apply and the fixed tree passes its tests.
    patch = (tmp_path / "callsheet-review.patch").read_text()
    assert "+    return {'verbose': 1}" in patch and '"verbose"' not in patch
    assert "pkg/wide.py" not in patch
    fixed = tmp_path / "fixed"
    shutil.copytree(tree, fixed)
    applied = subprocess.run(
        ["git", "-C", str(fixed), "apply", str(tmp_path / "callsheet-review.patch")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    assert "3 passed" in pytest_in(fixed).stdout

    # The report says why wide.py's finding is not fixed.
    report = (tmp_path / "callsheet-review.md").read_text()
    fixes = report[report.index("## Fixes") :]
    assert "| pkg/opts.py | 5 | ruff C408 | style |" in fixes
    assert "| ruff C408 | 1 | not fixed: drift from convention.line_length (100)" in fixes

    # The reviewer re-drives from the log to the same events.
    (redrive,) = [line.strip() for line in out.stdout.splitlines() if "PatchReviewer" in line]
    replay = cli(env, *redrive.split()[1:], timeout=120)
    assert replay.returncode == 0 and "identical to the log" in replay.stdout, replay.stdout
