"""``callsheet board``: printed once, and live in a terminal (a pty) as events are appended."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from callsheet.events.catalog import AnyEvent
from tests.e2e.cli_support import CLI, cli, cli_env
from tests.e2e.test_crew_failures import open_log
from tests.views_support import goal_events

pytestmark = pytest.mark.e2e


async def append(env: dict[str, str], events: list[AnyEvent]) -> None:
    nc, store = await open_log(env)
    try:
        for event in events:
            await store.append(event)
    finally:
        await nc.close()


async def test_board_once_prints_the_goal_and_an_unknown_goal_is_an_error(
    nats_url: str, tmp_path: Path
) -> None:
    env = cli_env(nats_url, tmp_path)
    await append(env, goal_events("g-once"))
    out = await asyncio.to_thread(cli, env, "board", "--goal", "g-once", "--once")
    assert out.returncode == 0, out.stderr
    assert "g-once Ship it (running, 22 events)" in out.stdout
    assert "3 of 5 done, 1 assigned, 1 blocked" in out.stdout
    assert "question q1 from backend-1 on t4: Markdown or reST?" in out.stdout
    assert "spent 0.5000 USD of 2.00, 379 tokens of 5000" in out.stdout
    every = await asyncio.to_thread(cli, env, "board", "--once")
    assert every.returncode == 0 and "3 of 5 done" in every.stdout
    unknown = await asyncio.to_thread(cli, env, "board", "--goal", "nope", "--once")
    assert unknown.returncode == 2
    assert "no events of goal 'nope'" in unknown.stderr


def read_until(fd: int, needle: str, timeout: float) -> str:
    """Read a pty until ``needle`` appears in what it showed, or fail at the deadline."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} never shown; the screen had: {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the board exited
                raise AssertionError(f"the board exited: {seen[-2000:]!r}") from None
    return seen.decode(errors="replace")


async def test_the_live_board_changes_as_events_are_appended(nats_url: str, tmp_path: Path) -> None:
    env = cli_env(nats_url, tmp_path)
    env.update(COLUMNS="140", LINES="60", TERM="xterm")
    events = goal_events("g-live")
    first = [e for e in events if e.event_type in ("goal.submitted", "task.planned")]
    await append(env, first)
    master, slave = pty.openpty()
    proc = subprocess.Popen(  # noqa: ASYNC220 (started, not waited for)
        [*CLI, "board", "--goal", "g-live"], env=env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    try:
        await asyncio.to_thread(read_until, master, "0 of 5 done, 5 planned", 30)
        await append(env, [e for e in events if e not in first])
        await asyncio.to_thread(read_until, master, "3 of 5 done, 1 assigned, 1 blocked", 30)
        assert proc.poll() is None  # still following
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(master)
