"""The supervisor killed around a goal's last result: a restarted one still ends the goal."""

from __future__ import annotations

import asyncio
from typing import Any

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.crew import Controller, Supervisor
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData, TaskAssigned
from callsheet.events.store import EventStore
from tests.integration.agent_support import doomed_runtime, of_type, wait_for_type, wait_set
from tests.integration.test_crew import PLAN, Planner


class Gated(Agent):
    """Does its role's tasks; task ``c`` waits until the test opens the gate."""

    kind = "worker"
    lease_seconds = 2.0

    def __init__(self, name: str, gate: asyncio.Event, started: asyncio.Event) -> None:
        super().__init__(name)
        self.gate, self.started = gate, started

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        if event.task_id == "c":
            self.started.set()
            await self.gate.wait()
        return {"by": self.name}


def gated(role: str, gate: asyncio.Event, started: asyncio.Event) -> Gated:
    cls: type[Gated] = type(f"Gated_{role}", (Gated,), {"role": role})
    return cls(f"{role}-w", gate, started)


def supervisor() -> Supervisor:
    return Supervisor("supervisor", roles=("alpha", "beta"), model=Planner(PLAN), lease_seconds=2)


async def test_a_goal_whose_last_result_came_while_the_supervisor_was_down_ends(
    nats_url: str, store: EventStore
) -> None:
    gate, started = asyncio.Event(), asyncio.Event()
    others = [Controller("controller"), gated("alpha", gate, started), gated("beta", gate, started)]
    async with AgentRuntime(store, others):
        async with doomed_runtime(nats_url, store.config, [supervisor()]) as (_, client):
            await store.append(
                GoalSubmitted.new(
                    data=GoalSubmittedData(title="Build it"), goal_id="g", producer="test"
                )
            )
            await wait_set(started, "task c started")
            await client.close()  # the supervisor dies with the last task running
        gate.set()
        await wait_for_type(store, "task.result", 3)
        async with AgentRuntime(store, [supervisor()]):
            ended = await wait_for_type(store, "goal.completed")
    assert [getattr(e, "data").outcome for e in ended] == ["succeeded"]  # noqa: B009
    assert len(await of_type(store, "task.result")) == 3
