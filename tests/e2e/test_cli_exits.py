"""Exit codes and waits a user relies on: submit, trace, an unreachable server, bad agents."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_support import cli, cli_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(nats_url, tmp_path)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


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
