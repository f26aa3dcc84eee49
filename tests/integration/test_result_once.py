"""One result per assignment, even when a dead worker's result lands after its redelivery began.

A worker killed while its ``task.result`` was on its way (published, not yet
stored: the stream was electing a leader) comes back under the same name and
takes the redelivery. The old result is stored meanwhile. The new delivery must
see it as the task having moved on, not as its own report, and stop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from nats.aio.client import Client

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.events.catalog import TaskAssigned, TaskResult, TaskResultData
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from tests.integration.agent_support import WAIT, assigned, kill, of_type, wait_set
from tests.support import assert_eventually


class Shared:
    """What both lives of the worker share with the test."""

    def __init__(self) -> None:
        self.late: Event | None = None
        self.dead = asyncio.Event()
        self.second = asyncio.Event()
        self.gate = asyncio.Event()
        self.client: Client | None = None


class Writer(Agent):
    """Life 1 dies with its result unsent; life 2 waits until the test lets it finish."""

    kind = "worker"
    role = "writer"
    lease_seconds = 1.0

    def __init__(self, shared: Shared) -> None:
        super().__init__("writer-1")  # the same name in both lives, as a restarted process
        self.shared = shared

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        shared = self.shared
        if ctx.delivery == 1:
            data = TaskResultData(worker=self.name, output={"life": 1})
            shared.late = ctx.make(TaskResult, data)  # published as the process died
            assert shared.client is not None
            await shared.client.close()
            shared.dead.set()
            await asyncio.Event().wait()
        shared.second.set()
        await shared.gate.wait()
        return {"life": 2}


async def test_a_late_result_of_a_dead_life_of_the_worker_is_the_only_result(
    nats_url: str, store: EventStore
) -> None:
    shared = Shared()
    shared.client = await nats.connect(nats_url, allow_reconnect=False, connect_timeout=5)
    first = AgentRuntime(await EventStore.open(shared.client, store.config), [Writer(shared)])
    await first.start()
    await store.append(assigned("t1", max_attempts=5))
    await wait_set(shared.dead, "the first life's death")
    await kill(first)
    async with AgentRuntime(store, [Writer(shared)]) as second:
        await wait_set(shared.second, "the redelivery to the second life")
        assert shared.late is not None
        await store.append(shared.late)  # the first life's result is stored now
        shared.gate.set()
        loop = second.workers[0]

        async def settled() -> bool:
            return not loop.running

        await assert_eventually(settled, timeout=WAIT, message="the second life never ended")
    results = await of_type(store, "task.result")
    assert [getattr(r, "data").output for r in results] == [{"life": 1}]  # noqa: B009
