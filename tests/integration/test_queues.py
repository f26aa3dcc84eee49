"""What ``callsheet queues`` counts: one idle worker is one waiting pull; crews' workers differ."""

from __future__ import annotations

import asyncio
from collections import Counter

from callsheet.agents import AgentRuntime, queue_depth
from callsheet.crew import build_crew, worker_class
from callsheet.events.store import EventStore
from tests.integration.agent_support import WAIT
from tests.support import assert_eventually

SAMPLES = 100
"""Readings of the queue, 15 ms apart: about three of an idle worker's half-second pulls."""


async def test_one_idle_worker_is_counted_once(store: EventStore) -> None:
    js = store.nc.jetstream()
    worker = worker_class("backend", lease_seconds=5)("backend-1")
    assert worker.max_in_flight > 1  # it asks for several tasks at once when it can take them

    async def waiting() -> int:
        depth = await queue_depth(js, store.config.stream, "backend")
        return -1 if depth is None else depth.workers_waiting

    async def one_waiting() -> bool:
        return await waiting() == 1

    async with AgentRuntime(store, [worker]):
        await assert_eventually(one_waiting, timeout=WAIT)
        seen: Counter[int] = Counter()
        for _ in range(SAMPLES):
            seen[await waiting()] += 1
            await asyncio.sleep(0.015)  # the spacing of the readings, not a wait for work
    # Its pull request waits alone; only the hand-over between two pulls may overlap.
    assert seen[1] >= SAMPLES - 3, seen
    assert max(seen) <= 2, seen


def test_two_crews_give_their_workers_distinct_names() -> None:
    first, second = build_crew(), build_crew()
    workers = [[a.name for a in crew if a.kind == "worker"] for crew in (first, second)]
    assert len(workers[0]) == len(workers[1]) == 3
    assert not set(workers[0]) & set(workers[1])
    assert all(name.startswith(("database-1-", "backend-1-", "frontend-1-")) for name in workers[0])
    # The controller and supervisor keep their names: one instance of each leads.
    assert [a.name for a in first if a.kind != "worker"] == ["controller", "supervisor"]
    assert [a.name for a in second if a.kind != "worker"] == ["controller", "supervisor"]
    assert [a.name for a in build_crew(tag="a")] == [a.name for a in build_crew(tag="a")]
