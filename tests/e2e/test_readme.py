"""The README's recipes, run as written: the demo, the commands its summary prints, the Notary."""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_support import Processes, cli

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_GOAL = "demo-20261123T104200123456"
"""The goal id the README's sample commands show."""
EXAMPLE_WORKER = "backend-2"
"""The worker name they show."""


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n{title}\n")
    end = text.find("\n#", start + len(title) + 2)
    return text[start : end if end != -1 else len(text)]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def callsheet_args(line: str) -> list[str]:
    """The arguments of a ``callsheet ...`` command line (a trailing comment aside)."""
    words = shlex.split(line, comments=True)
    assert words[0] == "callsheet", line
    return words[1:]


def demo(env: dict[str, str], command: list[str], cwd: Path) -> tuple[str, list[str]]:
    """Run the README's demo command; return its goal and the commands its summary prints."""
    out = cli(env, *command, cwd=cwd, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "outcome: succeeded" in out.stdout
    goal = re.search(r"goal (demo-\S+) submitted", out.stdout)
    assert goal is not None, out.stdout
    printed = [line.strip() for line in out.stdout.splitlines()]
    return goal.group(1), [line for line in printed if line.startswith("callsheet ")]


def events(env: dict[str, str], goal: str, *args: str) -> list[dict[str, Any]]:
    out = cli(env, "events", "--goal", goal, "--json", *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["event"] for line in out.stdout.splitlines()]


def test_the_redrive_recipe_as_written(env: dict[str, str], tmp_path: Path) -> None:
    recipe = blocks(section("### Debugging a decision without spending a token"), "sh")
    (command,) = recipe[0].strip().splitlines()
    # Run outside the checkout, as from an installed package: the changed agents the
    # summary names must be importable from there.
    goal, printed = demo(env, callsheet_args(command), tmp_path)
    redrives = [line for line in printed if line.startswith("callsheet redrive")]
    started = events(env, goal, "--type", "task.started")
    resumed = next(e["data"]["worker"] for e in started if e["data"]["attempt"] == 2)
    # The README shows the summary's commands, for its sample goal and worker.
    shown = recipe[1].strip().splitlines()
    assert [
        line.replace(EXAMPLE_GOAL, goal).replace(f"--name {EXAMPLE_WORKER}", f"--name {resumed}")
        for line in shown
    ] == redrives
    for line in printed:
        args = callsheet_args(line)
        out = cli(env, *args, cwd=tmp_path)
        changed = args[0] == "redrive" and args[1].startswith("callsheet.examples.")
        assert out.returncode == (3 if changed else 0), (line, out.stdout, out.stderr)
        if args[0] == "redrive":
            assert ("divergences" if changed else "identical to the log") in out.stdout, line
    # The same recipe works again: a second demo is a goal of its own; an old id is refused.
    again, _ = demo(env, callsheet_args(command), tmp_path)
    assert again != goal
    refused = cli(env, *callsheet_args(command), "--goal", goal, cwd=tmp_path)
    assert refused.returncode == 2
    assert f"goal {goal!r} already has events" in refused.stderr


def test_the_notary_added_to_a_running_system_notes_only_new_goals(
    env: dict[str, str], procs: Processes, tmp_path: Path
) -> None:
    (code,) = [b for b in blocks(section("## Agents"), "python") if "class Notary" in b]
    (tmp_path / "notary.py").write_text(code)
    quick = ["demo", "--step-seconds", "0.05", "--no-kill"]  # the crew at work, faster
    old, _ = demo(env, quick, tmp_path)  # a goal that ended before the Notary first ran
    procs.start("agent", "run", "notary:Notary", cwd=tmp_path)
    new, _ = demo(env, quick, tmp_path)
    results = {e["task_id"] for e in events(env, new, "--type", "task.result")}
    assert len(results) == 4

    def notes(goal: str) -> dict[str, Any]:
        return {
            e["data"]["key"]: e["data"]["value"]
            for e in events(env, goal, "--type", "context.updated")
            if e["producer"].startswith("notary")
        }

    deadline = time.monotonic() + 30
    while set(notes(new)) != {f"done.{task}" for task in results}:
        assert time.monotonic() < deadline, f"the Notary noted {notes(new)} of {results}"
    # Its board view was folded from the whole log: the title of the goal it noted.
    assert set(notes(new).values()) == {"Build a user authentication system"}
    assert notes(old) == {}  # nothing noted into the goal that had ended before it started


def test_the_main_job_as_written(env: dict[str, str], tmp_path: Path) -> None:
    text = section("## Set-up: two commands")
    main_job = blocks(text, "sh")[0].strip()
    assert main_job.startswith("python3 -m venv .venv && ")
    command = main_job.rsplit(" && ", 1)[1]
    assert command == "callsheet review examples/review/shop"
    # As from the checkout's root, without writing the report into the checkout.
    (tmp_path / "examples").symlink_to(README.parent / "examples")
    out = cli(env, *callsheet_args(command), cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.match(r"goal review-\w+: reviewing .*examples/review/shop", out.stdout)
    report = (tmp_path / "callsheet-review.md").read_text()
    assert "## Findings" in report and "### Errors" in report
    assert "callsheet replay findings --goal review-" in out.stdout
