"""Helpers for the agent runtime's integration tests: events, log reads, dying runtimes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.aio.client import Client

from callsheet.agents import Agent, AgentRuntime
from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
    TaskPlanned,
    TaskPlannedData,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.stream import StoreConfig
from tests.support import assert_eventually

WAIT = 20.0
"""Seconds a test waits for asynchronous work at most (the machine is shared and small)."""


def payload(event: Event) -> Any:
    """An event's data, untyped (the tests know which type they hold)."""
    return getattr(event, "data")  # noqa: B009 - declared by each event class


def submitted(goal: str, title: str = "t") -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title=title), goal_id=goal, producer="test")


def planned(task: str, goal: str = "g", parent: str | None = None) -> TaskPlanned:
    return TaskPlanned.new(
        data=TaskPlannedData(title=f"task {task}", role="writer", parent_task_id=parent),
        goal_id=goal,
        task_id=task,
        producer="test",
    )


def assigned(task: str, role: str = "writer", goal: str = "g", **data: Any) -> TaskAssigned:
    return TaskAssigned.new(
        data=TaskAssignedData(role=role, **data), goal_id=goal, task_id=task, producer="test"
    )


async def stored_log(store: EventStore, goal: str | None = None) -> list[StoredEvent]:
    return [s async for s in store.read(goal_id=goal)]


async def log(store: EventStore, goal: str | None = None) -> list[Event]:
    return [s.event for s in await stored_log(store, goal)]


async def of_type(store: EventStore, event_type: str, task: str | None = None) -> list[Event]:
    return [
        e
        for e in await log(store)
        if e.event_type == event_type and (task is None or e.task_id == task)
    ]


async def wait_for_type(
    store: EventStore,
    event_type: str,
    count: int = 1,
    *,
    task: str | None = None,
    timeout: float = WAIT,
) -> list[Event]:
    """Wait until the log holds at least ``count`` events of a type; return them."""

    async def enough() -> bool:
        return len(await of_type(store, event_type, task)) >= count

    await assert_eventually(
        enough, timeout=timeout, message=f"fewer than {count} {event_type} (task {task})"
    )
    return await of_type(store, event_type, task)


async def wait_set(event: asyncio.Event, what: str, timeout: float = WAIT) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout}s") from None


@contextlib.asynccontextmanager
async def doomed_runtime(
    nats_url: str, config: StoreConfig, agents: list[Agent]
) -> AsyncIterator[tuple[AgentRuntime, Client]]:
    """A runtime on a connection of its own, which the test can cut to make it "die".

    Cutting the connection stops its heartbeats and acks at once, as a crash
    would; whatever the runtime still runs is cancelled when the block ends.
    """
    client = await nats.connect(
        servers=nats_url.split(","), connect_timeout=5, allow_reconnect=False
    )
    runtime = AgentRuntime(await EventStore.open(client, config), agents)
    await runtime.start()
    try:
        yield runtime, client
    finally:
        await kill(runtime)
        if not client.is_closed:
            await client.close()


async def kill(runtime: AgentRuntime) -> None:
    """Stop a runtime abruptly: no grace, nothing finished (as if its process died)."""
    runtime.stopping.set()
    tasks = list(runtime._tasks)
    for loop in runtime.workers:
        tasks.extend(loop.running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    runtime._tasks.clear()
