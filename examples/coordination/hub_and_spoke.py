"""Hub and spoke: a supervisor fans a goal out to parallel workers and gathers the results.

The crew's own ``Controller`` and ``Supervisor`` are the hub; ``Spoke`` workers
(one role, several instances) do the tasks in parallel. The goal takes about as
long as its slowest task, not the sum of all of them.

Events: goal.submitted -> goal.accepted -> plan.proposed, task.planned x N,
task.assigned x N -> (per task) task.started, task.result -> goal.completed.

Run: ``python -m examples.coordination.hub_and_spoke``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callsheet.agents import Agent, WorkContext, work
from callsheet.crew import Controller, Supervisor
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData, TaskAssigned
from callsheet.events.store import EventStore
from callsheet.models import ModelReply, ModelRequest
from examples.coordination.support import run_goal, run_main

__all__ = ["FanOutPlanner", "HubSummary", "Spoke", "run"]

DURATIONS = (0.6, 0.4, 0.5, 0.3, 0.5)


class FanOutPlanner:
    """A planner that cuts the goal into independent tasks of known length."""

    provider = "offline"
    name = "fan-out"

    def __init__(self, durations: tuple[float, ...]) -> None:
        self.durations = durations

    async def complete(self, request: ModelRequest) -> ModelReply:
        """One task per duration."""
        tasks = [
            {"task_id": f"part-{i + 1}", "title": f"part {i + 1} takes {d}s", "role": "spoke"}
            for i, d in enumerate(self.durations)
        ]
        return ModelReply(output={"tasks": tasks, "rationale": "independent parts"})


class Spoke(Agent):
    """Does one part: works for the time its title says."""

    kind = "worker"
    role = "spoke"
    lease_seconds = 5.0

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        """Work for the task's duration."""
        seconds = float(event.data.instructions.rsplit(" ", 1)[1].rstrip("s"))
        await ctx.progress(0, "started")
        await ctx.sleep(seconds)  # the work itself
        return {"part": event.task_id, "seconds": seconds}


@dataclass(frozen=True)
class HubSummary:
    """What a run showed.

    Attributes:
        outcome: How the goal ended.
        wall_seconds: From the goal's submission to its completion (server times).
        task_seconds: Each task's time from task.started to task.result.
        workers: Workers that did tasks.
    """

    outcome: str
    wall_seconds: float
    task_seconds: dict[str, float]
    workers: set[str]

    @property
    def sum_seconds(self) -> float:
        """What the tasks would take one after the other."""
        return sum(self.task_seconds.values())


async def run(store: EventStore, goal_id: str = "hub", spokes: int = 5) -> HubSummary:
    """Run the hub and ``spokes`` parallel workers on one goal."""
    agents: list[Agent] = [
        Controller("controller"),
        Supervisor("supervisor", roles=("spoke",), model=FanOutPlanner(DURATIONS), lease_seconds=5),
        *(Spoke(f"spoke-{i + 1}") for i in range(spokes)),
    ]
    start = GoalSubmitted.new(
        data=GoalSubmittedData(title="Do five things"), goal_id=goal_id, producer="example"
    )
    events = await run_goal(store, agents, goal_id, [start])
    begun = {s.event.task_id: s.stored_at for s in events if s.event.event_type == "task.started"}
    ended = {s.event.task_id: s.stored_at for s in events if s.event.event_type == "task.result"}
    first, last = events[0], events[-1]
    outcome = getattr(last.event, "data").outcome  # noqa: B009 - a goal.completed
    return HubSummary(
        outcome=outcome,
        wall_seconds=(last.stored_at - first.stored_at).total_seconds(),
        task_seconds={t or "": (ended[t] - begun[t]).total_seconds() for t in ended},
        workers={s.event.producer for s in events if s.event.event_type == "task.result"},
    )


def _show(summary: HubSummary) -> None:
    tasks, workers = len(summary.task_seconds), len(summary.workers)
    slowest = max(summary.task_seconds.values())
    print(f"outcome: {summary.outcome}; {tasks} tasks by {workers} workers")
    print(f"wall {summary.wall_seconds:.2f} s; slowest task {slowest:.2f} s; ", end="")
    print(f"all tasks one after the other {summary.sum_seconds:.2f} s")


if __name__ == "__main__":
    run_main(run, _show)
