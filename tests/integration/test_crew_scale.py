"""A goal of thousands of tasks: its plan is over the batch limit and still completes."""

from __future__ import annotations

import asyncio
from typing import Any

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.crew import Controller, Supervisor
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData, TaskAssigned
from callsheet.events.store import EventStore
from tools.bench.procs import BenchPlanner

TASKS = 2_500


class Fast(Agent):
    """Does any task of its role at once."""

    kind = "worker"
    lease_seconds = 30.0
    max_in_flight = 8

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        return {}


def fast(role: str) -> Fast:
    cls: type[Fast] = type(f"Fast_{role}", (Fast,), {"role": role})
    return cls(f"{role}-w")


async def test_a_goal_of_thousands_of_tasks_completes(store: EventStore) -> None:
    supervisor = Supervisor("supervisor", roles=("alpha", "beta"), model=BenchPlanner(TASKS))
    agents = [Controller("controller"), supervisor, fast("alpha"), fast("beta")]
    watching = store.subscribe(types=["goal.completed", "agent.error"], from_seq=1)
    async with AgentRuntime(store, agents), watching as sub:
        await store.append(
            GoalSubmitted.new(data=GoalSubmittedData(title="big"), goal_id="g", producer="t")
        )
        async with asyncio.timeout(240):
            async for stored in sub:
                assert stored.event.event_type == "goal.completed", stored.event
                assert getattr(stored.event.data, "outcome", "") == "succeeded"
                break
    planned = [s async for s in store.read(goal_id="g", types=["task.planned"])]
    assert len(planned) == TASKS
    assigned = [
        s.event.task_id or "" async for s in store.read(goal_id="g", types=["task.assigned"])
    ]
    assert sorted(assigned) == sorted({p.event.task_id or "" for p in planned})  # each once
    kinds = [s.event.event_type async for s in store.read(goal_id="g")]
    assert kinds.index("plan.proposed") < kinds.index("task.planned")
