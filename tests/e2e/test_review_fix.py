"""``callsheet review --fix`` as a user runs it, on a real nats-server with the offline model.

One project made here holds every meeting of fixes the crew must handle: two
perspectives fixing one file in independent hunks (``pkg/a.py``: merged) and in
overlapping ones (``pkg/b.py``: bugs wins, style is made again on top of it), a
fix that changes a signature another module calls (``collect``, in the module's
contract), and a file with an error-level security finding (``pkg/run.py``:
the other perspectives' fixes wait for security's). The patch must apply with
``git apply`` and the fixed tree pass its own tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_support import cli, cli_env
from tests.e2e.test_review_cli import TOOLS, tree_digest

pytestmark = pytest.mark.e2e

FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": '''"""Items."""
import sys
import os


def where(name):
    return os.path.join(sys.prefix, name)


def collect(item, items=[]):
    items.append(item)
    return items
''',
    "pkg/b.py": '''"""Labels."""


def label(parts=[]):
    text = str("label")
    return text + ":" + ",".join(parts)
''',
    "pkg/use.py": '''"""Uses the items."""
from pkg.a import collect


def two():
    return collect(2, [])
''',
    "pkg/run.py": '''"""Runs a command."""
import subprocess
import shlex


def run(command):
    return subprocess.call(shlex.quote(command), shell=True)
''',
    "tests/test_pkg.py": """from pkg.a import collect, where
from pkg.b import label
from pkg.use import two


def test_collect():
    assert collect(1, []) == [1]
    collect(1)
    assert collect(1) == [1]


def test_label():
    assert label(["x"]) == "label:x"


def test_two():
    assert two() == [2]


def test_where():
    assert where("x").endswith("x")
""",
}


def make_project(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(nats_url, tmp_path / "home")


def events_of(env: dict[str, str], goal: str) -> list[dict[str, Any]]:
    out = cli(env, "events", "--goal", goal, "--json", timeout=120)
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["event"] for line in out.stdout.splitlines() if line.strip()]


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def pytest_in(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fixes_meet_are_settled_merged_verified_and_the_patch_applies(
    env: dict[str, str], tmp_path: Path
) -> None:
    tree = make_project(tmp_path / "proj")
    assert "1 failed" in pytest_in(tree).stdout  # collect()'s shared default list
    before = tree_digest(tree)
    out = cli(
        env,
        *("review", str(tree), "--fix", "--split", "perspective", "--workers", "1"),
        *("--perspectives", "security,bugs,style", "--no-progress"),
        cwd=tmp_path,
        timeout=400,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert tree_digest(tree) == before, "--fix without --apply changed the user's tree"
    goal = re.match(r"goal (review-\w+): reviewing", out.stdout)
    assert goal is not None, out.stdout
    assert "verified: nothing new breaks" in out.stdout, out.stdout
    events = events_of(env, goal[1])

    # Every conflict is detected, then settled by the supervisor, with its decision in the context.
    detected = {e["data"]["conflict_id"]: e for e in of_type(events, "conflict.detected")}
    resolved = {e["data"]["conflict_id"]: e["data"] for e in of_type(events, "conflict.resolved")}
    assert set(detected) == set(resolved)
    decisions = {
        e["data"]["key"]
        for e in of_type(events, "context.updated")
        if e["data"]["kind"] == "decision"
    }
    assert {f"decision.{c}" for c in detected} <= decisions

    def settled(kind: str, subject: str) -> list[dict[str, Any]]:
        return [
            resolved[c]
            for c, e in detected.items()
            if e["data"]["kind"] == kind and e["data"]["subject"] == subject
        ]

    # Independent hunks of pkg/a.py: merged; overlapping ones of pkg/b.py: bugs wins.
    assert {r["resolution"] for r in settled("file", "pkg/a.py")} == {"auto_merged"}
    (overlap,) = settled("file", "pkg/b.py")
    assert overlap["resolution"] == "one_wins" and overlap["winner"].startswith("fix-bugs-")
    again = [
        e
        for e in of_type(events, "task.assigned")
        if e["task_id"] == "fix-style" and e["data"]["attempt"] == 2
    ]
    assert again and again[0]["data"]["inputs"]["rebase_on"] == [overlap["winner"]]
    # The signature of collect changes; pkg/use.py calls it, and calls still work.
    (design,) = settled("design", "pkg/a.py:collect")
    assert design["resolution"] == "adapted"
    contract = [
        e["data"]["value"]
        for e in of_type(events, "context.updated")
        if e["data"]["key"] == "contract.pkg/a.py"
    ]
    assert contract[0]["used_by"] == {"collect": ["pkg/use.py"]}
    assert contract[-1]["functions"]["collect"] == "def collect(item, items=None)"
    # The security finding of pkg/run.py holds the other fixes until security's is settled.
    held = settled("priority", "pkg/run.py")
    assert {r["resolution"] for r in held} == {"queued"} and len(held) == 2
    seqs = {(e["type"], e["task_id"]): i for i, e in enumerate(events)}
    assert seqs[("task.result", "fix-security")] < seqs[("task.assigned", "fix-bugs")]
    assert seqs[("task.result", "fix-security")] < seqs[("task.assigned", "fix-style")]

    # The patch applies with git apply, and the fixed tree passes its own tests.
    patch = tmp_path / "callsheet-review.patch"
    assert "+def collect(item, items=None):" in patch.read_text()
    fixed = tmp_path / "fixed"
    shutil.copytree(tree, fixed)
    applied = subprocess.run(
        ["git", "-C", str(fixed), "apply", str(patch)], capture_output=True, text=True, check=False
    )
    assert applied.returncode == 0, applied.stderr
    assert "4 passed" in pytest_in(fixed).stdout
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "I001,B006,UP018", "."],
        cwd=fixed,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout

    # The report says what was fixed, what was not and why, and how conflicts went.
    report = (tmp_path / "callsheet-review.md").read_text()
    fixes = report[report.index("## Fixes") :]
    assert "verified" in fixes and "| pkg/b.py | 5 | ruff UP018 | style |" in fixes
    assert "| ruff S602 | 1 | no tool fix for this rule |" in fixes
    assert "one_wins: fix-bugs's bugs fix of pkg/b.py wins" in fixes

    # Visible in the tools: conflicts replayed, decisions searched, the chain of a decision.
    replayed = cli(env, "replay", "conflicts", "--goal", goal[1], "--json")
    assert replayed.returncode == 0 and '"auto_merged"' in replayed.stdout
    found = cli(env, "context", "search", "merge3", "--goal", goal[1], "--kind", "decision")
    assert found.returncode == 0 and "decision." in found.stdout, found.stdout + found.stderr
    overlap_id = next(
        c
        for c, e in detected.items()
        if e["data"]["kind"] == "file" and e["data"]["subject"] == "pkg/b.py"
    )
    winner_id = next(
        e["id"]
        for e in of_type(events, "conflict.resolved")
        if e["data"]["conflict_id"] == overlap_id
    )
    chain = cli(env, "why", winner_id)
    assert chain.returncode == 0 and "conflict.detected" in chain.stdout, chain.stdout

    # Every agent re-drives to the same events with the tree and the tools gone.
    redrives = [line.strip() for line in out.stdout.splitlines() if "callsheet redrive" in line]
    assert any("FixerWorker" in r for r in redrives) and any("Integrator" in r for r in redrives)
    assert any("PatchReviewer" in r for r in redrives)
    shutil.rmtree(tree)
    quiet = {**env, **{f"CALLSHEET_TOOL_{t}": str(tmp_path / "gone") for t in (*TOOLS, "GIT")}}
    for command in redrives:
        replay = cli(quiet, *command.split()[1:], timeout=120)
        assert replay.returncode == 0, (command, replay.stdout, replay.stderr)
        assert "identical to the log" in replay.stdout, command


def test_apply_writes_the_verified_patch_into_the_tree(env: dict[str, str], tmp_path: Path) -> None:
    tree = make_project(tmp_path / "proj")
    out = cli(
        env,
        *("review", str(tree), "--fix", "--apply", "--perspectives", "bugs,style"),
        *("--workers", "1", "--no-progress"),
        cwd=tmp_path,
        timeout=400,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"applied callsheet-review.patch to {tree}" in out.stdout
    assert "def collect(item, items=None):" in (tree / "pkg/a.py").read_text()
    assert "4 passed" in pytest_in(tree).stdout


def test_bad_fix_options_are_one_line_errors(env: dict[str, str], tmp_path: Path) -> None:
    tree = make_project(tmp_path / "proj")
    out = cli(env, "review", str(tree), "--apply", cwd=tmp_path)
    assert out.returncode == 2 and "--apply needs --fix" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    (tmp_path / "folder").mkdir()
    out = cli(env, "review", str(tree), "--fix", "--patch", str(tmp_path / "folder"), cwd=tmp_path)
    assert out.returncode == 2 and "--patch" in out.stderr and "is a folder" in out.stderr
    out = cli(env, "review", str(tree), "--fix", "--max-review-rounds", "0", cwd=tmp_path)
    assert out.returncode == 2 and "--max-review-rounds" in out.stderr


def test_a_fix_whose_last_round_makes_nothing_does_not_hold_the_merge(
    env: dict[str, str], tmp_path: Path
) -> None:
    # On the shop, one task per perspective: fix-bugs' B006 fix is sent back (mypy refuses
    # it), and its second round makes nothing. The merge waited for that sent-back patch
    # to be checked, forever.
    shop = Path(__file__).parents[2] / "examples" / "review" / "shop"
    run = cli(
        env, "review", str(shop), "--fix", "--split", "perspective", "--no-progress",
        cwd=tmp_path, timeout=400,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "fix-bugs" in (tmp_path / "callsheet-review.md").read_text()
    assert (tmp_path / "callsheet-review.patch").read_text().startswith("--- a/")
