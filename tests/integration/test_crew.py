"""The crew's supervisor and controller against a real server: plans, failures, replans."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.crew import Controller, FailurePolicy, Supervisor
from callsheet.events.catalog import (
    Budget,
    ConflictDetected,
    ConflictDetectedData,
    GoalScopeChanged,
    GoalScopeChangedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.models import ModelReply, ModelRequest, OfflineModel
from tests.support import assert_eventually


class Planner:
    """The offline model, with a fixed plan."""

    provider = "offline"
    name = "scripted"

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.tasks = tasks
        self.offline = OfflineModel()

    async def complete(self, request: ModelRequest) -> ModelReply:
        if request.task == "plan":
            return ModelReply(
                output={"tasks": self.tasks, "rationale": "scripted"},
                input_tokens=100,
                output_tokens=20,
            )
        return await self.offline.complete(request)


class Quick(Agent):
    """Does any task of its role at once; ``fail_first`` makes the first attempt raise."""

    kind = "worker"
    lease_seconds = 2.0
    fail_first = False
    always_fail = False
    hold_for_scope = False

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        if self.always_fail or (self.fail_first and event.data.attempt == 1):
            raise RuntimeError(
                f"{self.role} cannot do {event.task_id} (attempt {event.data.attempt})"
            )
        if self.hold_for_scope and event.task_id == "b":
            await ctx.wait_for(GoalScopeChanged, task_id=None, timeout=20)
        if "ask" in event.data.instructions:
            answer = await ctx.ask("which option?", timeout=10)
            return {"answer": answer}
        return {"by": self.name}


def quick(role: str, **flags: bool) -> Quick:
    cls: type[Quick] = type(f"Quick_{role}", (Quick,), {"role": role, **flags})
    return cls(f"{role}-w")


async def run_goal(
    store: EventStore,
    agents: Sequence[Agent],
    goal: str,
    *,
    data: GoalSubmittedData | None = None,
    then: Event | None = None,
    then_after: str | None = None,
    until: str = "goal.completed",
) -> list[Event]:
    async with AgentRuntime(store, agents):
        await store.append(
            GoalSubmitted.new(
                data=data or GoalSubmittedData(title="Build it"), goal_id=goal, producer="test"
            )
        )
        if then is not None:
            if then_after is not None:

                async def seen() -> bool:
                    kinds = [s.event.event_type async for s in store.read(goal_id=goal)]
                    return then_after in kinds

                await assert_eventually(seen, timeout=30, message=f"no {then_after}")
            await store.append(then)

        async def ended() -> bool:
            kinds = [s.event.event_type async for s in store.read(goal_id=goal)]
            return until in kinds or "goal.rejected" in kinds

        await assert_eventually(ended, timeout=30, message=f"no {until}")
    return [s.event async for s in store.read(goal_id=goal)]


def kinds(events: list[Event], task: str | None = None) -> list[str]:
    return [e.event_type for e in events if task is None or e.task_id == task]


def data(event: Event) -> Any:
    return getattr(event, "data")  # noqa: B009


PLAN: list[dict[str, Any]] = [
    {"task_id": "a", "title": "part a", "role": "alpha"},
    {"task_id": "b", "title": "part b", "role": "beta"},
    {"task_id": "c", "title": "join", "role": "alpha", "depends_on": ["a", "b"]},
]


def crew(policy: FailurePolicy | None = None, *workers: Agent) -> list[Agent]:
    return [
        Controller("controller"),
        Supervisor(
            "supervisor",
            roles=("alpha", "beta"),
            model=Planner(PLAN),
            policy=policy,
            lease_seconds=2,
        ),
        *workers,
    ]


async def test_plan_runs_in_dependency_order_and_completes(store: EventStore) -> None:
    events = await run_goal(store, crew(None, quick("alpha"), quick("beta")), "g1")
    completed = [e for e in events if e.event_type == "goal.completed"]
    assert [data(e).outcome for e in completed] == ["succeeded"]
    seq = {(e.event_type, e.task_id): i for i, e in enumerate(events)}
    assert seq[("task.assigned", "c")] > seq[("task.result", "a")]
    assert seq[("task.assigned", "c")] > seq[("task.result", "b")]
    assert sorted(e.task_id or "" for e in events if e.event_type == "task.assigned") == [
        "a",
        "b",
        "c",
    ]
    # The plan call is recorded, with its digest, as the supervisor's reaction.
    calls = [e for e in events if e.event_type == "model.called" and e.producer == "supervisor"]
    assert len(calls) == 1 and data(calls[0]).request_digest.startswith("sha256:")


async def test_controller_rejects_a_bad_goal_with_its_reason(store: EventStore) -> None:
    bad = GoalSubmittedData(title="  ", budget=Budget(max_cost_usd=0.0))
    events = await run_goal(store, crew(), "g2", data=bad, until="goal.rejected")
    rejected = [e for e in events if e.event_type == "goal.rejected"]
    assert len(rejected) == 1
    reason = data(rejected[0]).reason
    assert "title is blank" in reason and "max_cost_usd is 0" in reason
    assert "goal.accepted" not in kinds(events)


async def test_failed_task_is_retried_after_a_backoff(store: EventStore) -> None:
    policy = FailurePolicy(backoff_seconds=0.5)
    workers = (quick("alpha", fail_first=True), quick("beta"))
    events = await run_goal(store, crew(policy, *workers), "g3")
    a = [e for e in events if e.task_id == "a"]
    assert kinds(events, "a").count("task.failed") == 1
    failed = next(e for e in a if e.event_type == "task.failed")
    assert "RuntimeError: alpha cannot do a (attempt 1)" in (data(failed).error or "")
    retry = [e for e in a if e.event_type == "task.assigned"][1]
    assert data(retry).attempt == 2 and data(retry).not_before is not None
    assert (data(retry).not_before - failed.occurred_at).total_seconds() >= 0.49
    started = [e for e in a if e.event_type == "task.started"][1]
    assert started.occurred_at >= data(retry).not_before
    assert data(next(e for e in events if e.event_type == "goal.completed")).outcome == "succeeded"


async def test_a_role_that_gives_up_hands_the_task_to_its_fallback(store: EventStore) -> None:
    policy = FailurePolicy(attempts_per_role=1, fallback_roles={"beta": "alpha"})
    workers = (quick("alpha"), quick("beta", always_fail=True))
    events = await run_goal(store, crew(policy, *workers), "g4")
    moved = [e for e in events if e.event_type == "task.reassigned"]
    assert [(data(e).from_role, data(e).to_role, e.task_id) for e in moved] == [
        ("beta", "alpha", "b")
    ]
    result = next(e for e in events if e.event_type == "task.result" and e.task_id == "b")
    assert result.producer == "alpha-w"
    assert data(next(e for e in events if e.event_type == "goal.completed")).outcome == "succeeded"


async def test_a_task_nothing_can_save_is_decomposed_differently(store: EventStore) -> None:
    policy = FailurePolicy(attempts_per_role=1)
    workers = (quick("alpha"), quick("beta", always_fail=True))
    events = await run_goal(store, crew(policy, *workers), "g5")
    replans = [e for e in events if e.event_type == "plan.replanned"]
    assert len(replans) == 1
    replan = data(replans[0])
    assert replan.trigger == "task_failed" and replan.removed == ["b"]
    added = {t.task_id: t.role for t in replan.added}
    assert added == {"b-a": "alpha", "b-b": "alpha"}
    done = {e.task_id for e in events if e.event_type == "task.result"}
    assert done == {"a", "b-a", "b-b", "c"}  # the dependent ran once the replacements were done
    assert data(next(e for e in events if e.event_type == "goal.completed")).outcome == "succeeded"


async def test_when_nothing_is_left_to_try_the_goal_is_escalated(store: EventStore) -> None:
    policy = FailurePolicy(attempts_per_role=1, decompose=False)
    workers = (quick("alpha"), quick("beta", always_fail=True))
    events = await run_goal(store, crew(policy, *workers), "g6")
    completed = [data(e) for e in events if e.event_type == "goal.completed"]
    assert len(completed) == 1 and completed[0].outcome in ("partial", "failed")
    assert "task b (beta)" in completed[0].summary
    assert "task.assigned" not in kinds(events, "c")


async def test_scope_change_adds_work_and_the_goal_waits_for_it(store: EventStore) -> None:
    change = GoalScopeChanged.new(
        data=GoalScopeChangedData(change="add an audit log"), goal_id="g7", producer="test"
    )
    events = await run_goal(
        store,
        crew(None, quick("alpha"), quick("beta", hold_for_scope=True)),
        "g7",
        then=change,
        then_after="task.result",
    )
    replans = [data(e) for e in events if e.event_type == "plan.replanned"]
    assert len(replans) == 1 and replans[0].trigger == "scope_changed"
    new = replans[0].added[0].task_id
    seq = {(e.event_type, e.task_id): i for i, e in enumerate(events)}
    assert seq[("goal.completed", None)] > seq[("task.result", new)]


async def test_a_question_is_answered_by_the_supervisor(store: EventStore) -> None:
    plan = [{"task_id": "q", "title": "ask first", "role": "alpha"}]
    agents: list[Agent] = [
        Controller("controller"),
        Supervisor("supervisor", roles=("alpha",), model=Planner(plan), lease_seconds=2),
        quick("alpha"),
    ]
    events = await run_goal(store, agents, "g8")
    answered = [data(e) for e in events if e.event_type == "task.answered"]
    assert len(answered) == 1 and answered[0].answered_by == "supervisor"
    result = next(e for e in events if e.event_type == "task.result")
    assert data(result).output == {"answer": answered[0].answer}


async def test_a_conflict_is_settled_in_favour_of_the_most_urgent_task(store: EventStore) -> None:
    plan: list[dict[str, Any]] = [
        {"task_id": "x", "title": "x", "role": "alpha", "priority": 7},
        {"task_id": "y", "title": "y", "role": "alpha", "priority": 1},
    ]
    conflict = ConflictDetected.new(
        data=ConflictDetectedData(
            conflict_id="k1", kind="file", parties=["x", "y"], subject="auth.py"
        ),
        goal_id="g9",
        producer="test",
    )
    agents: list[Agent] = [
        Controller("controller"),
        Supervisor("supervisor", roles=("alpha",), model=Planner(plan), lease_seconds=2),
        quick("alpha"),
    ]
    events = await run_goal(
        store, agents, "g9", then=conflict, then_after="goal.accepted", until="conflict.resolved"
    )
    resolved = [data(e) for e in events if e.event_type == "conflict.resolved"]
    assert len(resolved) == 1 and resolved[0].winner == "y" and resolved[0].resolution == "one_wins"


class Slow(Agent):
    """Reports progress every 50 ms until it is told to stop (cancelled)."""

    kind = "worker"
    lease_seconds = 2.0

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> None:
        for step in range(400):
            await ctx.progress(step / 4, "working")
            await asyncio.sleep(0.05)  # the work itself


async def test_a_goal_over_budget_is_stopped_and_its_workers_fenced_out(store: EventStore) -> None:
    slow: type[Slow] = type("SlowAlpha", (Slow,), {"role": "alpha"})
    slow_beta: type[Slow] = type("SlowBeta", (Slow,), {"role": "beta"})
    agents = [*crew(None), slow("alpha-slow"), slow_beta("beta-slow")]
    limited = GoalSubmittedData(title="Build it", budget=Budget(max_tokens=1))
    events = await run_goal(store, agents, "g10", data=limited, until="goal.cancelled")
    breaches = [data(e) for e in events if e.event_type == "budget.exceeded"]
    assert len(breaches) == 1 and breaches[0].limit_tokens == 1 and breaches[0].spent_tokens > 1
    assert "goal.completed" not in kinds(events)
    cancelled = {e.task_id for e in events if e.event_type == "task.cancelled"}
    assert cancelled == {"a", "b", "c"}
    assert "task.result" not in kinds(events)

    # The workers were fenced out: nothing they report after the cancellation is stored.
    async def quiet() -> bool:
        later = [s.event async for s in store.read(goal_id="g10")]
        end = max(i for i, e in enumerate(later) if e.event_type == "goal.cancelled")
        per_task = {t: max(i for i, e in enumerate(later) if e.task_id == t) for t in ("a", "b")}
        return all(later[i].event_type == "task.cancelled" or i < end for i in per_task.values())

    await assert_eventually(quiet, timeout=10, message="workers kept reporting")


class ByTitle:
    """The offline model, with a fixed plan per goal title."""

    provider = "offline"
    name = "scripted"

    def __init__(self, plans: dict[str, list[dict[str, Any]]]) -> None:
        self.plans = plans
        self.offline = OfflineModel()

    async def complete(self, request: ModelRequest) -> ModelReply:
        if request.task == "plan":
            tasks = self.plans[str(request.inputs["title"])]
            return ModelReply(output={"tasks": tasks, "rationale": "scripted"})
        return await self.offline.complete(request)


class Gated(Agent):
    """One task at a time; the task ``hold`` waits until the test opens the gate."""

    kind = "worker"
    role = "alpha"
    lease_seconds = 5.0
    max_in_flight = 1

    def __init__(self, name: str, hold: str) -> None:
        super().__init__(name)
        self.hold = hold
        self.gate = asyncio.Event()

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        if event.task_id == self.hold:
            await self.gate.wait()
        return {"by": self.name}


async def test_a_more_urgent_task_of_another_goal_overtakes_the_queue(store: EventStore) -> None:
    def alpha(task: str, priority: int) -> dict[str, Any]:
        return {"task_id": task, "title": task, "role": "alpha", "priority": priority}

    model = ByTitle(
        {
            "routine": [alpha("a1", 5), alpha("a2", 5), alpha("a3", 5)],
            "urgent": [alpha("b1", 0)],
        }
    )
    worker = Gated("alpha-w", hold="a1")
    crew = [
        Controller("controller"),
        Supervisor("supervisor", roles=("alpha",), model=model, lease_seconds=5, max_queued=1),
        worker,
    ]

    async def log(kind: str) -> list[Event]:
        return [s.event async for s in store.read(types=[kind])]

    async def submit(goal: str, title: str) -> None:
        await store.append(
            GoalSubmitted.new(data=GoalSubmittedData(title=title), goal_id=goal, producer="test")
        )

    async def assigned() -> list[str | None]:
        return [e.task_id for e in await log("task.assigned")]

    async with AgentRuntime(store, crew):
        await submit("g-routine", "routine")

        async def queue_full() -> bool:
            return await assigned() == ["a1", "a2"]

        # a1 runs (held); a2 waits in the queue, the one place the limit allows.
        await assert_eventually(queue_full, timeout=20, message="a1 and a2 not assigned")
        await submit("g-urgent", "urgent")

        async def planned() -> bool:
            return any(e.goal_id == "g-urgent" for e in await log("task.planned"))

        await assert_eventually(planned, timeout=20, message="the urgent goal not planned")
        assert await assigned() == ["a1", "a2"]  # b1 is ready, but the queue is full
        worker.gate.set()

        async def both_done() -> bool:
            return len(await log("goal.completed")) == 2

        await assert_eventually(both_done, timeout=30, message="the goals did not complete")
    # When a2 was taken, the most urgent ready task went next: b1, before a3.
    assert [e.task_id for e in await log("task.started")] == ["a1", "a2", "b1", "a3"]
    assert [e.task_id for e in await log("task.assigned")] == ["a1", "a2", "b1", "a3"]
