"""``callsheet review`` as a user runs it, on a real nats-server with the offline model.

The example shop (examples/review/shop) marks each planted problem with a
``# planted: RULE`` comment on the line where a tool reports it: the review must
find every one there, and nothing at error level in the clean module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from callsheet.events.catalog import TaskCheckpoint, TaskStarted, ToolCalled
from callsheet.events.envelope import Event
from tests.e2e.cli_support import CLI, Processes, cli, cli_env
from tests.e2e.test_crew_failures import open_log

pytestmark = pytest.mark.e2e

SHOP = Path(__file__).parents[2] / "examples" / "review" / "shop"
SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json").read_text())
PLANTED = re.compile(r"#\s*planted:\s*(?P<rule>[A-Za-z0-9-]+)")
TOOLS = ("RUFF", "BANDIT", "RADON", "MYPY", "PYTEST")


def planted(root: Path) -> set[tuple[str, int, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = PLANTED.search(line)
            if match:
                found.add((path.relative_to(root).as_posix(), number, match["rule"]))
    return found


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def results(sarif: dict[str, Any]) -> list[Any]:
    return [r for run in sarif["runs"] for r in run["results"]]


def places(sarif: dict[str, Any]) -> set[tuple[str, int, str]]:
    """Every (path, line, rule) the log names, the rules merged into a result included."""
    found = set()
    for r in results(sarif):
        where = r["locations"][0]["physicalLocation"]
        path, line = where["artifactLocation"]["uri"], where["region"]["startLine"]
        found.add((path, line, r["ruleId"]))
        for other in r["properties"]["alsoReportedBy"]:
            found.add((path, line, other.split("/", 1)[1]))
    return found


def comparable(sarif: dict[str, Any]) -> set[tuple[object, ...]]:
    """A log's results without what differs between runs (event ids)."""
    out: set[tuple[object, ...]] = set()
    for r in results(sarif):
        where = r["locations"][0]["physicalLocation"]
        props = r["properties"]
        out.add(
            (
                r["ruleId"],
                r["level"],
                r["message"]["text"],
                where["artifactLocation"]["uri"],
                where["region"]["startLine"],
                tuple(props["alsoReportedBy"]),
            )
        )
    return out


@pytest.fixture
def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(nats_url, tmp_path / "home")


def test_the_main_job_finds_every_planted_problem_at_its_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    tree = tmp_path / "shop"
    shutil.copytree(SHOP, tree, ignore=shutil.ignore_patterns("__pycache__", ".*cache*"))
    before = tree_digest(tree)
    out = cli(env, "review", str(tree), "--sarif", "out.sarif", cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    goal = re.match(r"goal (review-\w+): reviewing", out.stdout)
    assert goal is not None, out.stdout
    assert tree_digest(tree) == before, "the reviewed tree was modified"
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(sarif)
    expected = planted(tree)
    assert len(expected) == 16
    assert expected <= places(sarif), sorted(expected - places(sarif))
    clean = [r for r in results(sarif) if "shop/money.py" in json.dumps(r["locations"])]
    assert not [r for r in clean if r["level"] == "error"]
    report = (tmp_path / "callsheet-review.md").read_text()
    assert report.startswith(f"# Code review of `{tree}`")
    assert "Everything was analysed." in report
    assert "The project's own configuration: ruff: pyproject.toml" in report
    assert re.search(r"`callsheet why \w{26}`", report)
    # Every worker re-drives as printed, identical, with no tree and no tool left.
    redrives = [line.strip() for line in out.stdout.splitlines() if "callsheet redrive" in line]
    assert len(redrives) >= 5
    shutil.rmtree(tree)
    quiet = {**env, **{f"CALLSHEET_TOOL_{t}": str(tmp_path / "gone") for t in TOOLS}}
    for command in redrives:
        again = cli(quiet, *command.split()[1:], timeout=120)
        assert again.returncode == 0, (command, again.stdout, again.stderr)
        assert "identical to the log" in again.stdout, command
    replayed = cli(env, "replay", "findings", "--goal", goal[1], "--json")
    assert replayed.returncode == 0 and '"status":"confirmed"' in replayed.stdout.replace(" ", "")


def test_fail_on_gives_exit_1_when_a_finding_at_that_level_remains(
    env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "one.py"
    target.write_text("def run(text):\n    return eval(text)\n")
    failing = cli(env, "review", str(target), "--fail-on", "error", cwd=tmp_path, timeout=300)
    assert failing.returncode == 1, failing.stderr
    assert "1 errors" in failing.stdout or "errors," in failing.stdout
    passing = cli(
        env, "review", str(target), "--fail-on", "error", "--perspectives", "style",
        "--report", "style.md", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert passing.returncode == 0, passing.stderr


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["missing"], "missing does not exist"),
        ("notes.txt", ["notes.txt"], "is not a Python file (.py) or a folder"),
        ("src/a.py", ["src", "--perspectives", "security,wizardry"], "--perspectives: unknown"),
        ("src/a.py", ["src", "--report", "nowhere/r.md"], "--report: folder"),
        ("src/a.py", ["src", "--python", "/no/such/python"], "--python: /no/such/python"),
    ],
)
def test_bad_input_is_a_one_line_error_with_exit_2(
    env: dict[str, str], tmp_path: Path, setup: str | None, args: list[str], message: str
) -> None:
    if setup is not None:
        (tmp_path / setup).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / setup).write_text("x = 1\n")
    out = cli(env, "review", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_a_folder_with_nothing_to_review_says_so_in_the_report_and_exits_2(
    env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("no code here\n")
    out = cli(env, "review", str(empty), cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "no Python file to review" in out.stderr
    report = (tmp_path / "callsheet-review.md").read_text()
    assert "No Python file was found to review." in report
    assert "1 other files not reviewed" in report


def test_files_that_do_not_parse_are_findings_not_crashes(
    env: dict[str, str], tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok.py").write_text("x = 1\n")
    (tree / "bad.py").write_text("def broken(:\n    pass\n")
    (tree / "binary.py").write_bytes(b"\x00\x01garbage")
    out = cli(env, "review", str(tree), "--sarif", "s.sarif", cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert ("bad.py", 1, "syntax-error") in places(json.loads((tmp_path / "s.sarif").read_text()))
    report = (tmp_path / "callsheet-review.md").read_text()
    assert "binary content (NUL bytes): `binary.py`" in report


def module(n: int, functions: int = 60) -> str:
    """A module of about 8 lines a function, with problems of several perspectives."""
    body = [f'"""Generated module {n}."""', "import subprocess", ""]
    for i in range(functions):
        body += [
            "",
            f"def run_{i}(cmd, items=[]):",
            "    subprocess.call(cmd, shell=True)",
            f"    query = 'SELECT * FROM t WHERE id = ' + str(cmd) + ' and n = {i}'",
            "    items.append(query)",
            "    unused = 1",
            "    return items",
            "",
        ]
    return "\n".join(body) + "\n"


async def _kill_mid_task(
    env: dict[str, str], analysts: dict[str, subprocess.Popen[str]], other: str
) -> tuple[str, str, str]:
    """At an analyst's first checkpoint of a task with more to do, SIGKILL that analyst."""
    nc, store = await open_log(env)
    try:
        async with store.subscribe(types=["task.checkpoint"]) as sub:
            async for stored in sub:
                event = stored.event
                assert isinstance(event, TaskCheckpoint)
                state = event.data.state
                worker = event.data.worker
                security = (event.task_id or "").startswith("analyze-security")
                mine = event.goal_id != other and worker in analysts and security
                if mine and isinstance(state, dict) and state.get("batch") == 1:
                    analysts[worker].send_signal(signal.SIGKILL)
                    return event.goal_id, event.task_id or "", worker
    finally:
        await nc.close()
    raise AssertionError("unreachable")


async def _goal_log(env: dict[str, str], goal: str, types: list[str]) -> list[Any]:
    nc, store = await open_log(env)
    try:
        return [s.event async for s in store.read(goal_id=goal, types=types)]
    finally:
        await nc.close()


async def _task_log(env: dict[str, str], goal: str, task: str) -> list[Event]:
    nc, store = await open_log(env)
    try:
        return [s.event async for s in store.read(goal_id=goal, task_id=task)]
    finally:
        await nc.close()


def test_a_worker_killed_mid_review_gives_the_same_report_as_an_undisturbed_run(
    env: dict[str, str], tmp_path: Path
) -> None:
    tree = tmp_path / "code"
    tree.mkdir()
    for n in range(6):  # 8,700 lines: two batches a task
        (tree / f"mod{n}.py").write_text(module(n, functions=180))
    common = ["review", str(tree), "--lease", "3", "--perspectives", "security,bugs,complexity"]
    common += ["--lines-per-task", "20000"]
    calm = cli(
        env, *common, "--sarif", "calm.sarif", "--report", "calm.md", cwd=tmp_path, timeout=300
    )
    assert calm.returncode == 0, calm.stderr
    # bandit, made to take a second a batch: the kill lands while the task has work left.
    slow = tmp_path / "slow-bandit"
    slow.write_text(f'#!/bin/sh\nsleep 1\nexec {sys.executable} -m bandit "$@"\n')
    slow.chmod(0o755)
    procs = Processes({**env, "CALLSHEET_TOOL_BANDIT": str(slow)})
    try:
        review = subprocess.Popen(
            [*CLI, *common, "--workers", "0", "--sarif", "hit.sarif", "--report", "hit.md"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        analysts = {
            name: procs.start(
                "agent", "run", "callsheet.review:AnalystWorker", "--name", name, "--lease", "3"
            )
            for name in ("analyst-1", "analyst-2")
        }
        calm_goal = calm.stdout.split()[1].rstrip(":")  # goal review-...: reviewing
        killing = _kill_mid_task(env, analysts, calm_goal)
        goal, task, victim = asyncio.run(asyncio.wait_for(killing, 240))
        out, err = review.communicate(timeout=300)
        assert review.returncode == 0, err
    finally:
        procs.stop()
    history = asyncio.run(_task_log(env, goal, task))
    starts = [e for e in history if isinstance(e, TaskStarted)]
    assert starts[0].data.worker == victim
    assert not any(e.event_type == "task.result" and e.producer == victim for e in history)
    assert starts[-1].data.attempt == 2 and starts[-1].data.worker != victim
    # The supervisor records the failover, with who took the task over and from where.
    replans = asyncio.run(_goal_log(env, goal, ["plan.replanned"]))
    (failover,) = [
        r
        for r in replans
        if r.data.trigger == "worker_failed" and r.data.reason.startswith(f"{task} ")
    ]
    assert f"{task} delivered again (delivery 2)" in failover.data.reason
    assert f"{starts[-1].data.worker} took it over and resumes from checkpoint" in (
        failover.data.reason
    )
    # The second delivery resumed after the checkpoint: it never ran a tool on the first batch.
    runs = [e for e in history if isinstance(e, ToolCalled) and e.data.command]
    before = [r for r in runs if r.producer == victim]
    after = [r for r in runs if r.producer != victim]
    batch_one = {a for a in before[0].data.command if a.endswith(".py")}
    assert batch_one and after
    assert all(not batch_one & set(r.data.command) for r in after)
    calm_log = json.loads((tmp_path / "calm.sarif").read_text())
    hit_log = json.loads((tmp_path / "hit.sarif").read_text())
    assert comparable(hit_log) == comparable(calm_log)
    assert len(comparable(calm_log)) > 100
    summary = re.compile(r"^\d+ findings: .*$", re.MULTILINE)
    assert summary.findall(out) == summary.findall(calm.stdout)


def test_with_no_analyst_running_the_review_says_how_to_start_one(
    env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "one.py"
    target.write_text("x = 1\n")
    review = subprocess.Popen(
        [*CLI, "review", str(target), "--workers", "0", "--no-progress"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert review.stderr is not None
        said = []
        for line in review.stderr:  # the hint comes some 15 s after the analysis is assigned
            said.append(line)
            if "no analyst has taken a task yet" in line:
                break
        assert "callsheet agent run callsheet.review:AnalystWorker" in said[-1], said
    finally:
        review.kill()
        review.wait()
