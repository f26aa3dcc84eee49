"""``callsheet replay``, ``why``, ``export`` and ``import``, run as a user runs them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from ulid import ULID

from tests.e2e.cli_support import cli, cli_env

pytestmark = pytest.mark.e2e

GOAL = "g-auth"


@pytest.fixture
def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    """A stream and root of the test's own, holding the demo goal."""
    result = cli_env(nats_url, tmp_path)
    # The real crew, fast: short steps and leases; a worker is still killed halfway.
    out = cli(result, "demo", "--goal", GOAL, "--step-seconds", "0.1", "--lease", "1")
    assert out.returncode == 0, out.stderr
    return result


@pytest.fixture
def other_env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    """A second, empty stream and root on the same server."""
    return cli_env(nats_url, tmp_path)


def events(env: dict[str, str]) -> list[dict[str, Any]]:
    out = cli(env, "events", "--json", "--goal", GOAL)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def board_at(env: dict[str, str], until: str | None = None) -> dict[str, Any]:
    args = ["replay", "board", "--goal", GOAL, "--json"]
    if until is not None:
        args += ["--until", until]
    out = cli(env, *args)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def first_running(log: list[dict[str, Any]]) -> dict[str, Any]:
    return next(line for line in log if line["event"]["type"] == "task.started")


def test_replay_until_seq_shows_intermediate_state(env: dict[str, str]) -> None:
    log = events(env)
    started = first_running(log)
    task = started["event"]["task_id"]
    middle = board_at(env, str(started["seq"]))
    assert middle["tasks"][task]["status"] == "running"
    assert middle["outcome"] is None
    assert middle["events"] == started["seq"]
    end = board_at(env)
    assert end["tasks"][task]["status"] == "done"
    assert end["outcome"] == "succeeded"
    assert end["events"] == len(log) > 20


def test_until_event_id_and_time_agree_with_seq(env: dict[str, str]) -> None:
    started = first_running(events(env))
    by_seq = board_at(env, str(started["seq"]))
    assert board_at(env, started["event"]["id"]) == by_seq
    out = cli(env, "why", started["event"]["id"], "--json")
    assert out.returncode == 0, out.stderr
    stored_at = json.loads(out.stdout)["chain"][-1]["stored_at"]
    assert board_at(env, stored_at) == by_seq
    assert board_at(env, "2999-01-01T00:00:00Z") == board_at(env)
    before = cli(
        env, "replay", "board", "--goal", GOAL, "--json", "--until", "2000-01-01T00:00:00Z"
    )
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) is None


def test_human_output(env: dict[str, str]) -> None:
    out = cli(env, "replay", "board", "--goal", GOAL, "--until", "5")
    assert out.returncode == 0, out.stderr
    assert "Build a user authentication system" in out.stdout
    assert "planned" in out.stdout
    for name in ("progress", "conflicts", "costs", "liveness", "context"):
        out = cli(env, "replay", name, "--goal", GOAL)
        assert out.returncode == 0, (name, out.stderr)
        out = cli(env, "replay", name, "--goal", GOAL, "--json")
        assert out.returncode == 0, (name, out.stderr)
        json.loads(out.stdout)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["replay", "nope", "--goal", GOAL], "unknown projection 'nope'"),
        (["replay", "board", "--goal", GOAL, "--until", "soon"], "--until 'soon'"),
        (["replay", "board", "--goal", GOAL, "--until", "2026-13-01T00:00:00"], "ISO 8601 time"),
        (["replay", "board", "--goal", GOAL, "--until", str(ULID())], "no event with id"),
        (["replay", "board", "--goal", "no-such-goal"], "goal 'no-such-goal' has no events"),
        (["export", "--goal", "no-such-goal", "-o", "x.jsonl"], "has no events"),
        (["why", "not-an-id"], "not an event id"),
        (["why", str(ULID())], "no event with id"),
    ],
)
def test_bad_input_exits_2_with_one_line(env: dict[str, str], args: list[str], needle: str) -> None:
    out = cli(env, *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]


def test_diff_shows_status_changes(env: dict[str, str]) -> None:
    out = cli(env, "replay", "board", "--goal", GOAL, "--diff")
    assert out.returncode == 0, out.stderr
    assert '.status: "assigned" -> "running"' in out.stdout
    assert '.status: "running" -> "done"' in out.stdout
    assert 'outcome: null -> "succeeded"' in out.stdout
    assert out.stdout.count("goal.submitted") == 1


def test_step_reads_enter_and_quits_on_q(env: dict[str, str]) -> None:
    out = cli(env, "replay", "board", "--goal", GOAL, "--step", input="\n\nq\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("-- Enter: next event, q: quit --") == 3
    assert "goal.submitted" in out.stdout
    assert "goal.completed" not in out.stdout


def test_why_prints_chain_from_goal_submitted(env: dict[str, str]) -> None:
    log = events(env)
    completed = next(line for line in log if line["event"]["type"] == "goal.completed")
    out = cli(env, "why", completed["event"]["id"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "goal.submitted" in lines[0]
    assert "goal.completed" in lines[-1]
    out = cli(env, "why", completed["event"]["id"], "--json")
    chain = json.loads(out.stdout)["chain"]
    assert chain[0]["type"] == "goal.submitted"
    assert chain[-1]["id"] == completed["event"]["id"]
    for cause, effect in itertools.pairwise(chain):
        assert effect["causation_id"] == cause["id"]


def test_export_then_import_twice(
    env: dict[str, str], other_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "goal.jsonl"
    out = cli(env, "export", "--goal", GOAL, "-o", str(path))
    assert out.returncode == 0, out.stderr
    header = json.loads(path.read_text().splitlines()[0])
    count = len(events(env))
    assert header["count"] == count and header["goal"] == GOAL
    assert header["stream"] == env["CALLSHEET_STREAM"]
    out = cli(other_env, "import", str(path))
    assert out.returncode == 0, out.stderr
    assert f"{count} new, 0 already present" in out.stdout
    source = [(line["seq"], line["event"]) for line in events(env)]
    assert [(line["seq"], line["event"]) for line in events(other_env)] == source
    again = cli(other_env, "import", str(path))
    assert again.returncode == 0, again.stderr
    assert f"0 new, {count} already present" in again.stdout
    assert len(events(other_env)) == count


@pytest.mark.parametrize("damage", ["header", "digest", "event"])
def test_tampered_export_is_refused(
    env: dict[str, str], other_env: dict[str, str], tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "goal.jsonl"
    assert cli(env, "export", "--goal", GOAL, "-o", str(path)).returncode == 0
    lines = path.read_text().splitlines()
    if damage == "header":
        lines[0] = "{not json"
        needle = "line 1:"
    elif damage == "digest":
        assert '"producer":"' in lines[5]
        lines[5] = lines[5].replace('"producer":"', '"producer":"x')
        needle = "digest mismatch"
    else:
        lines[7] = lines[7].replace('"type":"', '"type":"x')
        needle = "line 8: invalid event"
    path.write_text("\n".join(lines) + "\n")
    out = cli(other_env, "import", str(path))
    assert out.returncode == 2
    assert needle in out.stderr
    assert "nothing imported" in out.stderr
    assert cli(other_env, "events").stdout == ""


def test_redrive_of_the_workers(env: dict[str, str]) -> None:
    started = [e["event"] for e in events(env) if e["event"]["type"] == "task.started"]
    workers = sorted({e["data"]["worker"] for e in started})
    resumed = next(e["data"]["worker"] for e in started if e["data"]["attempt"] == 2)
    for worker in workers:  # the killed one too: re-driven up to where it stopped
        out = cli(
            env,
            *("redrive", "callsheet.crew:SpecialistWorker", "--goal", GOAL),
            *("--role", worker.rsplit("-", 1)[0], "--name", worker),
            *("--arg", "step_seconds=0.1"),
        )
        assert out.returncode == 0, (worker, out.stdout, out.stderr)
        assert "identical to the log" in out.stdout
    # A worker changed on purpose (it ignores checkpoints) parts at the resumed delivery.
    out = cli(
        env,
        *("redrive", "callsheet.examples.redrive.changed_worker:ForgetfulWorker", "--goal", GOAL),
        *("--role", resumed.rsplit("-", 1)[0], "--name", resumed),
        *("--arg", "step_seconds=0.1"),
    )
    assert out.returncode == 3, out.stderr
    assert "delivery 2): changed" in out.stdout
    assert "type: 'task.checkpoint' -> 'task.failed'" in out.stdout
    assert "error now: LookupError: no recorded work call" in out.stdout


IDLE_AGENT = """
from callsheet.agents import Agent, HandlerContext, on
from callsheet.events.catalog import AggregateRecorded


class Idle(Agent):
    @on()
    async def recorded(self, event: AggregateRecorded, ctx: HandlerContext) -> None:
        pass
"""


def test_redrive_of_nothing_is_an_error_naming_the_workers(
    env: dict[str, str], tmp_path: Path
) -> None:
    log = events(env)
    roles = {
        e["event"]["id"]: e["event"]["data"]["role"]
        for e in log
        if e["event"]["type"] == "task.assigned"
    }
    starts = [e["event"] for e in log if e["event"]["type"] == "task.started"]
    backend = list(
        dict.fromkeys(s["data"]["worker"] for s in starts if roles[s["causation_id"]] == "backend")
    )
    assert len(backend) == 2  # the killed worker and the one that took its task over

    def refused(*args: str) -> str:
        out = cli(env, "redrive", *args, "--goal", GOAL, cwd=tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        return lines[0]

    # Without --name the worker is named after its role: no such worker took a task.
    line = refused("callsheet.crew:SpecialistWorker", "--role", "backend")
    assert line == (
        f"callsheet: error: nothing to re-drive: no backend worker named 'backend' took a task "
        f"of goal '{GOAL}'; its backend workers were {', '.join(backend)} (name one with --name)"
    )
    line = refused("callsheet.crew:SpecialistWorker", "--role", "cook", "--name", "cook-1")
    assert f"no worker took a task of role 'cook' in goal '{GOAL}'" in line
    (tmp_path / "idle_agent.py").write_text(IDLE_AGENT)
    line = refused("idle_agent:Idle", "--name", "idle")
    assert f"no handler of 'idle' matches any of the {len(log)} events of goal '{GOAL}'" in line
