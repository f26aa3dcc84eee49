"""Every command takes times the same way: ISO 8601 with Z or an offset; naive means local."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cli_support import cli, cli_env

pytestmark = pytest.mark.e2e

LOCAL_OFFSET = timedelta(hours=9)
"""The CLI runs with local time 9 hours ahead of UTC, so local and UTC readings differ."""


@pytest.fixture
def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    result = cli_env(nats_url, tmp_path)
    result["TZ"] = "XST-9"  # a POSIX rule: UTC+9, with no tz database needed
    for goal in ("g1", "g2"):
        out = cli(result, "publish", "goal.submitted", "--goal", goal, "--data", '{"title": "t"}')
        assert out.returncode == 0, out.stderr
    return result


def local(delta: timedelta) -> str:
    """The local wall-clock time (no offset written) ``delta`` from now."""
    return (datetime.now(UTC) + LOCAL_OFFSET + delta).strftime("%Y-%m-%dT%H:%M:%S")


def goals(env: dict[str, str], *args: str) -> list[str]:
    out = cli(env, "events", "--json", *args, timeout=30)
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["event"]["goal_id"] for line in out.stdout.splitlines()]


def test_events_since_and_until_take_z_and_offsets(env: dict[str, str]) -> None:
    assert goals(env, "--since", "2000-01-01T00:00:00Z") == ["g1", "g2"]
    assert goals(env, "--until", "2000-01-01T00:00:00Z") == []
    assert goals(env, "--since", "2000-01-01T09:00:00+09:00", "--until", "2999-01-01T00:00Z") == [
        "g1",
        "g2",
    ]


def test_events_read_a_time_without_offset_as_local(env: dict[str, str]) -> None:
    # Read as UTC, an hour ahead in local time would be 8 hours ago: both events would show.
    assert goals(env, "--since", local(timedelta(hours=1))) == []
    assert goals(env, "--until", local(timedelta(hours=1))) == ["g1", "g2"]
    assert goals(env, "--since", local(-timedelta(hours=1))) == ["g1", "g2"]


def test_replay_until_takes_the_same_times(env: dict[str, str]) -> None:
    def board(until: str) -> object:
        out = cli(env, "replay", "board", "--goal", "g1", "--json", "--until", until)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert board("2000-01-01T00:00:00Z") is None
    assert board(local(-timedelta(hours=1))) is None
    full = board(local(timedelta(hours=1)))
    assert isinstance(full, dict) and full["goal_id"] == "g1"
    assert board("2999-01-01T00:00:00+01:00") == full


@pytest.mark.parametrize(
    "args",
    [
        ["events", "--since", "soon"],
        ["events", "--until", "23/11/2026"],
        ["publish", "goal.submitted", "--goal", "g", "--data", "{}", "--occurred-at", "now"],
    ],
)
def test_a_bad_time_exits_2_with_one_line(env: dict[str, str], args: list[str]) -> None:
    out = cli(env, *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "is not an ISO 8601 time (e.g. 2026-11-23T10:42:00Z" in lines[0]
    assert lines[0].startswith(f"callsheet: error: {args[-2]} ")
