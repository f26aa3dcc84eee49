"""Exit codes and waits a user relies on: submit, trace, an unreachable server, bad agents."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.cli_support import Processes, cli

pytestmark = pytest.mark.e2e


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_submit_exits_0_when_the_goal_succeeds_and_2_when_it_is_rejected(
    env: dict[str, str], procs: Processes
) -> None:
    procs.start("crew", "--lease", "2", "--step-seconds", "0")
    done = cli(env, "submit", "Build a user authentication system", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    assert "goal.completed" in done.stdout
    rejected = cli(env, "submit", "Blank constraint", "--constraint", " ", "--timeout", "60")
    assert rejected.returncode == 2, rejected.stdout + rejected.stderr
    assert "goal.rejected" in rejected.stdout
    line = one_line(rejected.stderr)
    assert "was rejected: a constraint is blank" in line


def test_submit_with_no_crew_says_so_and_gives_up_at_its_timeout(env: dict[str, str]) -> None:
    out = cli(
        env, "submit", "Nobody is listening", "--goal", "lonely", "--timeout", "6", timeout=30
    )
    assert out.returncode == 1
    assert "goal lonely submitted" in out.stdout
    hint, error = out.stderr.strip().splitlines()
    assert "no controller has taken goal lonely after 5 s: is a crew running?" in hint
    assert error.startswith("callsheet: error: goal lonely did not end within 6 s; no controller")
    assert "callsheet events --goal lonely -f" in error


def test_trace_of_an_unknown_goal_exits_2(env: dict[str, str]) -> None:
    out = cli(env, "trace", "--goal", "no-such-goal", "--endpoint", "http://127.0.0.1:9/v1/traces")
    assert out.returncode == 2
    assert "goal 'no-such-goal' has no events" in one_line(out.stderr)


def test_an_unreachable_nats_url_fails_at_once(env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        env = {**env, "CALLSHEET_NATS_URL": f"nats://127.0.0.1:{port}"}
        out = cli(env, "events", timeout=5)  # the client alone would retry for 10 s
    assert out.returncode == 1
    line = one_line(out.stderr)
    assert (
        line
        == f"callsheet: error: cannot reach NATS at nats://127.0.0.1:{port}: connection refused"
    )


BAD_AGENT = """
from callsheet.agents import Agent, HandlerContext, on


class Bad(Agent):
    @on()
    async def noted(self, event, ctx: HandlerContext) -> None:
        pass
"""


@pytest.mark.parametrize(
    "command", [["agent", "run", "bad_agent:Bad"], ["redrive", "bad_agent:Bad", "--goal", "g"]]
)
def test_a_handler_without_an_event_annotation_is_a_one_line_error(
    env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "bad_agent.py").write_text(BAD_AGENT)
    out = cli(env, *command, cwd=tmp_path)
    assert out.returncode == 2
    line = one_line(out.stderr)
    assert line == (
        "callsheet: error: cannot load bad_agent:Bad: handler noted names no event type: "
        "pass types to @on or annotate its event"
    )


def test_demo_refuses_a_goal_that_already_has_events(env: dict[str, str]) -> None:
    data = '{"title": "an earlier run"}'
    assert cli(env, "publish", "goal.submitted", "--goal", "g1", "--data", data).returncode == 0
    out = cli(env, "demo", "--goal", "g1", "--timeout", "30")
    assert out.returncode == 2, out.stdout
    assert one_line(out.stderr) == (
        "callsheet: error: goal 'g1' already has events (an earlier run): leave --goal out for "
        "a fresh goal, or look at that run with `callsheet events --goal g1`"
    )
    assert out.stdout == ""  # no crew was started, nothing was submitted
    assert len(cli(env, "events", "--goal", "g1").stdout.splitlines()) == 1
