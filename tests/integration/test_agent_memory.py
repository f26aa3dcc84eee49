"""Agents restart from a snapshot of their views and memory, and read only the log's tail."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from callsheet.agents import AgentRuntime
from callsheet.agents.memory import AgentSnapshots
from callsheet.agents.observer import ObserverLoop
from callsheet.crew import Controller, Supervisor, build_crew
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.store import EventStore
from callsheet.projections.snapshots import SnapshotStore
from tests.support import assert_eventually


async def run_goal(store: EventStore, goal: str) -> list[ObserverLoop]:
    """Run a fresh crew on a goal until it completes; stop it gracefully; return its loops."""
    crew = build_crew(lease_seconds=2, step_seconds=0.01)
    runtime = AgentRuntime(store, crew)
    async with runtime:
        await store.append(
            GoalSubmitted.new(data=GoalSubmittedData(title="Build it"), goal_id=goal, producer="t")
        )

        async def completed() -> bool:
            kinds = [s.event.event_type async for s in store.read(goal_id=goal)]
            return "goal.completed" in kinds

        await assert_eventually(completed, timeout=30, message=f"{goal} did not complete")
    return runtime.observers


def supervisor_of(loops: list[ObserverLoop]) -> ObserverLoop:
    return next(loop for loop in loops if isinstance(loop.agent, Supervisor))


async def full_fold(store: EventStore, agent: Supervisor | Controller) -> ObserverLoop:
    """The same agent's state folded from the whole log (no snapshot), as of its position."""
    loop = ObserverLoop(store, agent, asyncio.Event())
    loop.snapshots = None
    await loop.start()
    return loop


async def test_a_restarted_crew_starts_from_snapshots_and_goes_on(
    nc: Client, store: EventStore
) -> None:
    first = supervisor_of(await run_goal(store, "g1"))
    assert first.snapshots is not None and first.snapshots.saved_seq == first.position > 0

    # A new crew (a restart): the supervisor and controller start from their snapshots.
    loops = await run_goal(store, "g2")
    second = supervisor_of(loops)
    assert second.rebuilt_from == first.position
    assert second.rebuilt < first.position  # only what came after the snapshot was read
    controller = next(loop for loop in loops if isinstance(loop.agent, Controller))
    assert controller.rebuilt_from > 0
    # g1 got nothing more from the restarted crew: no task assigned twice.
    g1 = [s.event for s in [s async for s in store.read(goal_id="g1")]]
    assigned = [e.task_id for e in g1 if e.event_type == "task.assigned"]
    assert len(assigned) == len(set(assigned))

    # What the snapshot gave back equals folding the whole log.
    assert isinstance(second.agent, Supervisor)
    fresh = Supervisor(second.agent.name, lease_seconds=2)
    folded = await full_fold(store, fresh)
    restored = Supervisor(second.agent.name, lease_seconds=2)
    again = ObserverLoop(store, restored, asyncio.Event())
    await again.start()
    assert again.rebuilt_from > 0 and folded.rebuilt_from == 0
    assert again.position == folded.position
    assert again.views == folded.views
    assert restored.memory() == fresh.memory()
    await SnapshotStore(nc, store.config.stream).drop_bucket()


async def test_a_snapshot_of_another_memory_version_or_past_the_position_is_ignored(
    nc: Client, store: EventStore
) -> None:
    await run_goal(store, "g1")

    class Newer(Supervisor):
        memory_version = (Supervisor.memory_version or 0) + 1

    newer = ObserverLoop(store, Newer("supervisor-x", lease_seconds=2), asyncio.Event())
    await newer.start()
    assert newer.rebuilt_from == 0 and newer.rebuilt == newer.position

    # A snapshot claiming a position past the consumer's is not used either.
    agent = Supervisor("supervisor-y", lease_seconds=2)
    ahead = AgentSnapshots(store, agent)
    loop = ObserverLoop(store, agent, asyncio.Event())
    await loop.start()
    assert await ahead.save(loop.position + 100, loop.views, set())
    later = ObserverLoop(store, Supervisor("supervisor-z", lease_seconds=2), asyncio.Event())
    await later.start()
    assert later.rebuilt_from == 0
    await SnapshotStore(nc, store.config.stream).drop_bucket()
