"""What the pattern examples share: running agents until a goal ends, and a ``main``."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import nats

from callsheet.agents import Agent, AgentRuntime
from callsheet.broker.process import NatsServerProcess
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.stream import StoreConfig

__all__ = ["ENDINGS", "run_goal", "run_main"]

T = TypeVar("T")

ENDINGS = frozenset({"goal.completed", "goal.rejected", "goal.cancelled"})


async def run_goal(
    store: EventStore,
    agents: Sequence[Agent],
    goal_id: str,
    start: Sequence[Event],
    *,
    until: Callable[[list[StoredEvent]], bool] | None = None,
    timeout: float = 30.0,
) -> list[StoredEvent]:
    """Run ``agents``, append ``start``, and return the goal's events once it has ended.

    Args:
        store: The log.
        agents: The crew.
        goal_id: The goal to watch.
        start: Events that set things going (appended once the agents are ready).
        until: When the run is over; by default, when the goal completed, was
            rejected or cancelled.
        timeout: Seconds to wait at most.

    Raises:
        TimeoutError: The goal did not end in time.
    """
    done = until or (lambda events: any(s.event.event_type in ENDINGS for s in events))
    async with AgentRuntime(store, agents):
        for event in start:
            await store.append(event)
        deadline = time.monotonic() + timeout
        while True:
            events = [s async for s in store.read(goal_id=goal_id)]
            if done(events):
                return events
            if time.monotonic() > deadline:
                raise TimeoutError(f"goal {goal_id} did not end within {timeout} s")
            await asyncio.sleep(0.05)  # polling the log, bounded by the deadline


def run_main(body: Callable[[EventStore], Awaitable[T]], show: Callable[[T], None]) -> None:
    """Run ``body`` on ``CALLSHEET_NATS_URL``, or on a private nats-server, and show its result."""

    async def go(url: str) -> T:
        nc = await nats.connect(url)
        try:
            uid = os.urandom(4).hex()
            config = StoreConfig(stream=f"PATTERN_{uid}", root=f"p{uid}", blob_bucket=f"PB_{uid}")
            return await body(await EventStore.open(nc, config))
        finally:
            await nc.close()

    url = os.environ.get("CALLSHEET_NATS_URL")
    if url:
        show(asyncio.run(go(url)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServerProcess(store_dir=Path(tmp))
        server.start()
        try:
            show(asyncio.run(go(server.url)))
        finally:
            server.stop()
    sys.stdout.flush()
