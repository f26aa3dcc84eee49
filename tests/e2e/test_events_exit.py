"""``callsheet events`` exits as soon as it has printed, however it stops before the log's end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nats
import pytest

from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from tests.e2e.cli_support import CLI, cli, cli_env
from tests.integration.agent_support import submitted

pytestmark = pytest.mark.e2e

EVENTS = 2000
"""Enough lines (~300 kB) that a reader gone after the first finds the pipe closed."""
QUICK = 15.0
"""Seconds within which each command must end: a 30 s wait for the connection to drain fails."""


@pytest.fixture
async def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    result = cli_env(nats_url, tmp_path)
    nc = await nats.connect(nats_url)
    try:
        config = StoreConfig(
            stream=result["CALLSHEET_STREAM"], root=result["CALLSHEET_SUBJECT_ROOT"]
        )
        store = await EventStore.open(nc, config)
        for start in range(0, EVENTS, 500):
            await store.append_many([submitted(f"g{i}") for i in range(start, start + 500)])
    finally:
        await nc.close()
    return result


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (["--limit", "3"], 3),
        (["--until-seq", "2"], 2),
        (["--goal", "g7"], 1),
        (["--type", "goal.submitted", "--from-seq", "10", "--limit", "1"], 1),
        (["--until", "2000-01-01T00:00:00"], 0),
    ],
)
def test_events_exits_at_once_when_it_stops_early(
    env: dict[str, str], args: list[str], lines: int
) -> None:
    out = cli(env, "events", *args, timeout=QUICK)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == lines


def test_events_piped_into_head_exits_at_once_and_quietly(env: dict[str, str]) -> None:
    command = " ".join(CLI) + " events | head -n 1"
    out = subprocess.run(
        ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=QUICK, check=False
    )
    assert out.returncode == 0
    assert len(out.stdout.splitlines()) == 1
    assert "goal.submitted" in out.stdout
    assert out.stderr == ""  # no traceback, no "Exception ignored" about the closed pipe
