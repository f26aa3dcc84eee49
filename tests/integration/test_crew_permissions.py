"""The crew runs with each role on its own user of infra/permissions.conf, and completes goals."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from callsheet.agents import Agent, AgentRuntime
from callsheet.agents.leader import LeaderLease
from callsheet.broker.process import NatsServerProcess
from callsheet.crew import build_crew
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.models import OfflineModel
from callsheet.projections.snapshots import open_bucket
from tests.integration.permissions_support import connect, secure_server
from tests.support import assert_eventually

TTL = 5.0
STORE = StoreConfig()  # the shipped file names the default stream, root and blob bucket


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServerProcess]:
    yield from secure_server(tmp_path_factory)


def user_of(agent: Agent) -> str:
    """The user each agent of the crew connects as: its kind, or its worker role."""
    return f"worker-{agent.role}" if agent.kind == "worker" else agent.kind


async def test_the_crew_completes_a_goal_with_one_user_per_role(server: NatsServerProcess) -> None:
    model = OfflineModel(work_seconds=0.0)
    agents = build_crew(model=model, review=True, step_seconds=0.0, lease_seconds=10.0)
    users = sorted({user_of(a) for a in agents})
    assert users == [
        "controller",
        "reviewer",
        "supervisor",
        "worker-backend",
        "worker-database",
        "worker-frontend",
    ]
    async with connect(server, "admin") as admin:
        store = await EventStore.open(admin, STORE)
        # What only admin may make: the log (above), the agents' snapshot and leader buckets.
        snapshots = await open_bucket(admin, f"{STORE.stream}_SNAPSHOTS")
        leaders = await LeaderLease(admin, STORE.stream, "controller", "admin", ttl=TTL).key_value()
        goal = "g-secure-crew"
        async with contextlib.AsyncExitStack() as stack:
            for user in users:
                nc = await stack.enter_async_context(connect(server, user))
                mine = [a for a in agents if user_of(a) == user]
                runtime = AgentRuntime(EventStore(nc, STORE), mine, leader_ttl=TTL)
                await stack.enter_async_context(runtime)
            await store.append(
                GoalSubmitted.new(
                    data=GoalSubmittedData(title="Build it"), goal_id=goal, producer="t"
                )
            )

            async def ended() -> bool:
                kinds = {s.event.event_type async for s in store.read(goal_id=goal)}
                return bool(kinds & {"goal.completed", "goal.rejected"})

            await assert_eventually(ended, timeout=60, message="the goal did not end")
            # Each observing agent leads under its own user: its lease names it.
            for durable in ("controller", "supervisor", "reviewer"):
                assert (await leaders.get(durable)).value == durable.encode()
        events = [s.event async for s in store.read(goal_id=goal)]
        # Each observing agent saved its snapshot, under its own user, when it stopped.
        saved = set(await snapshots.keys())
    kinds = [e.event_type for e in events]
    assert "goal.completed" in kinds, kinds
    assert getattr(events[kinds.index("goal.completed")], "data").outcome == "succeeded"  # noqa: B009
    assert "agent.error" not in kinds, [e for e in events if e.event_type == "agent.error"]
    assert {e.event_type for e in events} >= {"task.assigned", "task.result", "review.completed"}
    assert {"agent-supervisor", "agent-controller"} <= saved, saved
