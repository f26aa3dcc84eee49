"""Hierarchy: a top supervisor hands domains to sub-supervisors, who run their own workers.

The crew's ``Supervisor`` plans one task per domain and assigns it to a domain
lead's role. A ``DomainLead`` is a supervisor too (so it may hand out work): it
takes its domain task from its queue, plans sub-tasks (``parent_task_id`` = the
domain task) for its developers, and waits for their results.

- **Escalation across domains**: when a sub-task fails, the lead fails its
  domain task with the reason; the top supervisor's policy hands the domain task
  to another domain's lead (``fallback_roles``), which does it with its own team.
- **Bounded nesting**: supervisors nest at most 3 levels. ``DeepLead`` keeps
  delegating to itself; the runtime refuses the 4th level (``agent.error``,
  ``topology_violation``), and the failure travels back up.

Events: goal.submitted -> goal.accepted -> plan.proposed (domains) ->
task.assigned (to *-lead roles) -> task.planned / task.assigned (sub-tasks, by
the leads) -> task.result / task.failed -> task.reassigned (escalation) ->
goal.completed.

Run: ``python -m examples.coordination.hierarchical``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callsheet.agents import Agent, WorkContext, work
from callsheet.crew import Controller, FailurePolicy, Supervisor
from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
    TaskFailed,
    TaskPlanned,
    TaskPlannedData,
    TaskResult,
)
from callsheet.events.store import EventStore, StoredEvent
from callsheet.models import ModelReply, ModelRequest
from examples.coordination.support import run_goal, run_main

__all__ = ["DeepLead", "Developer", "DomainLead", "HierarchySummary", "run", "run_deep"]


class DomainPlanner:
    """The top supervisor's planner: one task per domain."""

    provider = "offline"
    name = "domains"

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.tasks = tasks

    async def complete(self, request: ModelRequest) -> ModelReply:
        """The fixed plan."""
        return ModelReply(output={"tasks": self.tasks, "rationale": "one task per domain"})


class EscalationError(Exception):
    """A sub-task failed: the domain task cannot be done by this domain."""


async def _delegate(ctx: WorkContext, subtasks: list[tuple[str, str, str]]) -> list[Any]:
    """Plan and assign sub-tasks (id, title, role), then wait for every result."""
    parent = ctx.task_id
    for task_id, title, role in subtasks:
        planned = TaskPlannedData(title=title, role=role, parent_task_id=parent)
        await ctx.send(TaskPlanned, planned, task_id=task_id)
        await ctx.send(
            TaskAssigned, TaskAssignedData(role=role, instructions=title), task_id=task_id
        )
    outputs = []
    for task_id, _, _ in subtasks:
        done = await ctx.wait_for(TaskResult, TaskFailed, task_id=task_id, timeout=60)
        if isinstance(done, TaskFailed):
            raise EscalationError(
                f"sub-task {task_id} failed: {done.data.error or done.data.reason}"
            )
        assert isinstance(done, TaskResult)
        outputs.append(done.data.output)
    return outputs


class DomainLead(Agent):
    """A sub-supervisor: splits its domain task in two for its developers."""

    kind = "supervisor"
    lease_seconds = 5.0
    team: str = ""

    @work()
    async def lead(self, event: TaskAssigned, ctx: WorkContext) -> Any:
        """Delegate the domain task and gather the results."""
        parts = [
            (f"{ctx.task_id}.{self.role}.{i}", f"{event.data.instructions}, part {i}", self.team)
            for i in (1, 2)
        ]
        return {"parts": await _delegate(ctx, parts), "by": self.role}


class Developer(Agent):
    """Does a sub-task; a developer with ``broken`` set fails every one."""

    kind = "worker"
    lease_seconds = 5.0
    broken = False

    @work()
    async def develop(self, event: TaskAssigned, ctx: WorkContext) -> str:
        """Do it (or fail)."""
        await ctx.sleep(0.05)  # the work itself
        if self.broken:
            raise RuntimeError(f"{self.role} cannot build {event.task_id}")
        return f"{event.data.instructions}: done by {self.name}"


class DeepLead(Agent):
    """Delegates its task to another of its kind, one level deeper, without end."""

    kind = "supervisor"
    role = "deep"
    lease_seconds = 5.0
    max_in_flight = 8

    @work()
    async def lead(self, event: TaskAssigned, ctx: WorkContext) -> Any:
        """Hand the task one level down and wait."""
        return await _delegate(ctx, [(f"{ctx.task_id}.1", "one level deeper", "deep")])


def _make(base: type[Agent], name: str, **attrs: Any) -> Agent:
    cls: type[Agent] = type(f"{base.__name__}_{name}", (base,), attrs)
    return cls(name)


@dataclass(frozen=True)
class HierarchySummary:
    """What a run showed."""

    outcome: str
    reassigned: list[tuple[str, str]]
    sub_tasks: dict[str, str]
    topology_errors: list[str]
    deepest: int


def summarize(events: list[StoredEvent]) -> HierarchySummary:
    """Read the outcome back from the log."""
    parents = {
        s.event.task_id or "": s.event.data.parent_task_id
        for s in events
        if isinstance(s.event, TaskPlanned)
    }

    def depth(task: str) -> int:
        return 0 if parents.get(task) is None else 1 + depth(parents[task] or "")

    end: Any = next(s.event for s in events if s.event.event_type == "goal.completed")
    return HierarchySummary(
        outcome=end.data.outcome,
        reassigned=[
            (getattr(s.event, "data").from_role, getattr(s.event, "data").to_role)  # noqa: B009
            for s in events
            if s.event.event_type == "task.reassigned"
        ],
        sub_tasks={t: p for t, p in parents.items() if p is not None},
        topology_errors=[
            getattr(s.event, "data").error  # noqa: B009
            for s in events
            if s.event.event_type == "agent.error"
            and getattr(s.event, "data").kind == "topology_violation"  # noqa: B009
        ],
        deepest=max((depth(t) for t in parents), default=0),
    )


async def run(
    store: EventStore, goal_id: str = "hier", *, backend_broken: bool = False
) -> HierarchySummary:
    """Two domains (backend, frontend) with a lead and two developers each."""
    plan = [
        {"task_id": "api", "title": "the API", "role": "backend-lead"},
        {"task_id": "ui", "title": "the UI", "role": "frontend-lead"},
    ]
    policy = FailurePolicy(
        attempts_per_role=1, fallback_roles={"backend-lead": "frontend-lead"}, decompose=False
    )
    agents: list[Agent] = [
        Controller("controller"),
        Supervisor(
            "supervisor",
            roles=("backend-lead", "frontend-lead"),
            model=DomainPlanner(plan),
            policy=policy,
            lease_seconds=5,
        ),
        _make(DomainLead, "backend-lead", role="backend-lead", team="backend-dev"),
        _make(DomainLead, "frontend-lead", role="frontend-lead", team="frontend-dev"),
    ]
    for team, broken in (("backend-dev", backend_broken), ("frontend-dev", False)):
        agents += [_make(Developer, f"{team}-{i}", role=team, broken=broken) for i in (1, 2)]
    start = GoalSubmitted.new(
        data=GoalSubmittedData(title="a web app"), goal_id=goal_id, producer="example"
    )
    return summarize(await run_goal(store, agents, goal_id, [start]))


async def run_deep(store: EventStore, goal_id: str = "deep") -> HierarchySummary:
    """A lead that delegates to itself: the 4th level of supervisors is refused."""
    plan = [{"task_id": "root", "title": "dig", "role": "deep"}]
    policy = FailurePolicy(attempts_per_role=1, decompose=False)
    agents: list[Agent] = [
        Controller("controller"),
        Supervisor(
            "supervisor", roles=("deep",), model=DomainPlanner(plan), policy=policy, lease_seconds=5
        ),
        DeepLead("deep-lead"),
    ]
    start = GoalSubmitted.new(
        data=GoalSubmittedData(title="dig deep"), goal_id=goal_id, producer="example"
    )
    return summarize(await run_goal(store, agents, goal_id, [start]))


def _show(s: HierarchySummary) -> None:
    print(f"outcome: {s.outcome}; escalations: {s.reassigned}; nesting depth {s.deepest}")
    for task, parent in sorted(s.sub_tasks.items()):
        print(f"  {task} (under {parent})")
    for error in s.topology_errors:
        print(f"  refused: {error}")


def _show_all(results: list[HierarchySummary]) -> None:
    for summary in results:
        _show(summary)


async def _all(store: EventStore) -> list[HierarchySummary]:
    return [
        await run(store, "hier-ok"),
        await run(store, "hier-escalate", backend_broken=True),
        await run_deep(store),
    ]


if __name__ == "__main__":
    run_main(_all, _show_all)
