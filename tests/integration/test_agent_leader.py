"""Standby instances of an observing agent: one leads, another takes over when it dies."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats
import pytest
from nats.js.errors import KeyNotFoundError

from callsheet.agents import Agent, AgentRuntime, HandlerContext, on
from callsheet.agents.leader import LeaderLease, LeadershipLost
from callsheet.events.catalog import ContextUpdated, ContextUpdatedData, GoalSubmitted
from callsheet.events.store import EventStore
from tests.integration.agent_support import kill, payload, submitted, wait_for_type, wait_set

TTL = 1.5


class Noter(Agent):
    """Notes every goal once."""

    durable = "noter"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[str] = []

    @on()
    async def jot(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        self.seen.append(event.goal_id)
        data = ContextUpdatedData(key="seen", kind="note", value=self.name, author=self.name)
        ctx.emit(ContextUpdated, data)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_standby_takes_over_when_the_leader_dies(nats_url: str, store: EventStore) -> None:
    leader, standby = Noter("noter-a"), Noter("noter-b")
    client = await nats.connect(nats_url, allow_reconnect=False, connect_timeout=5)
    first = AgentRuntime(await EventStore.open(client, store.config), [leader], leader_ttl=TTL)
    second = AgentRuntime(store, [standby], leader_ttl=TTL)
    try:
        await first.start()
        assert first.observers[0].leading.is_set()
        await second.start()  # returns while standing by
        assert not second.observers[0].leading.is_set()
        await store.append(submitted("g1"))
        await wait_for_type(store, "context.updated", 1)
        # The leader dies: no renewal, no release (its connection is cut).
        await client.close()
        await kill(first)
        await store.append(submitted("g2"))
        await wait_set(second.observers[0].leading, "the standby taking over", TTL * 8)
        notes = await wait_for_type(store, "context.updated", 2)
    finally:
        await second.stop()
        with contextlib.suppress(Exception):
            await kill(first)
    # Each goal was handled once, by the instance leading at the time.
    assert leader.seen == ["g1"] and standby.seen == ["g2"]
    assert [payload(n).value for n in notes] == ["noter-a", "noter-b"]
    # A clean stop gives the lease up at once: its entry is gone.
    kv = await store.nc.jetstream().key_value(f"{store.config.stream}_LEADERS")
    with pytest.raises(KeyNotFoundError):
        await kv.get("noter")
    await store.nc.jetstream().delete_key_value(f"{store.config.stream}_LEADERS")


async def test_a_leader_acts_only_within_its_lease_and_stops_when_it_is_taken(
    store: EventStore,
) -> None:
    stopping = asyncio.Event()
    clock = Clock()
    nc, stream = store.nc, store.config.stream
    one = LeaderLease(nc, stream, "noter", "one", ttl=4, clock=clock)
    two = LeaderLease(nc, stream, "noter", "two", ttl=4, clock=clock)
    assert await one.acquire(stopping) and one.held
    standing_by = asyncio.Event()
    waiting = asyncio.ensure_future(two.acquire(stopping, standing_by))
    await wait_set(standing_by, "the second instance standing by")
    assert not waiting.done() and not two.held
    # Past 3/4 of the lease without a renewal, the leader no longer acts.
    clock.now += 4 * 0.75
    assert not one.held
    # Its entry expires (here: removed by hand) and the standby takes it...
    kv = await nc.jetstream().key_value(one.bucket)
    await kv.purge("noter")
    assert await asyncio.wait_for(waiting, 30) and two.held
    # ...so the old leader's next renewal finds it taken, and it stops.
    keeping: Any = asyncio.ensure_future(one.keep(asyncio.Event()))
    with pytest.raises(LeadershipLost, match="led by another instance"):
        await asyncio.wait_for(keeping, 30)
    stopping.set()
    await two.release()
    with pytest.raises(KeyNotFoundError):
        await kv.get("noter")
    await nc.jetstream().delete_key_value(one.bucket)
