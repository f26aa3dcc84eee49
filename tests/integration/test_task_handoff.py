"""A task's inputs carry its dependencies' results; the general crew uses its scoped context.

On a real server: the supervisor hands a task the results of the tasks it depends
on (a large output by reference, read back from the log), also for a task planned
after they finished; the crew's specialist workers plan with exactly the context
their assignments name, and re-drive identically.
"""

from __future__ import annotations

from typing import Any

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.crew import Controller, Supervisor, worker_class
from callsheet.crew.handoff import DEPENDENCIES, MAX_OUTPUT_BYTES, read_output
from callsheet.events.catalog import (
    ContextUpdated,
    GoalScopeChanged,
    GoalScopeChangedData,
    GoalSubmitted,
    GoalSubmittedData,
    ModelCalled,
    TaskAssigned,
    TaskResult,
)
from callsheet.events.store import EventStore, StoredEvent
from callsheet.models import ModelReply, ModelRequest, OfflineModel
from callsheet.replay.redrive import redrive
from tests.integration.agent_support import wait_for_type
from tests.integration.test_scoped_context import entry
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
            return ModelReply(output={"tasks": self.tasks, "rationale": "scripted"})
        if request.task == "replan" and "change" in request.inputs:  # a scope change
            extra = {"task_id": "extra", "title": "extra", "role": "consumer"}
            return ModelReply(output={"tasks": [{**extra, "depends_on": ["schema"]}]})
        return await self.offline.complete(request)


class Producer(Agent):
    """Task ``big`` makes an output too large to copy; any other a small one."""

    kind = "worker"
    role = "producer"
    lease_seconds = 5.0

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> Any:
        if event.task_id == "big":
            return {"rows": ["r" * 64] * (2 * MAX_OUTPUT_BYTES // 64)}
        return {"tables": ["users", "sessions"]}


class Consumer(Agent):
    """Reads each dependency's full output, copied or by reference, and says what it got."""

    kind = "worker"
    role = "consumer"
    lease_seconds = 5.0

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> Any:
        if event.task_id == "hold":  # keeps the goal open until the scope changes
            await ctx.wait_for(GoalScopeChanged, task_id=None, timeout=20)
        found = {}
        for task, dep in event.data.inputs.get(DEPENDENCIES, {}).items():
            output = await read_output(ctx.store, event.goal_id, task, dep)
            found[task] = len(output["rows"]) if "rows" in output else output
        return found


async def run_goal(
    store: EventStore, agents: list[Agent], goal: str, *, change_after: str | None = None
) -> list[StoredEvent]:
    """Run a goal to its end; with ``change_after``, change its scope once that task is done."""
    async with AgentRuntime(store, agents):
        await store.append(
            GoalSubmitted.new(data=GoalSubmittedData(title="Build it"), goal_id=goal, producer="t")
        )
        if change_after is not None:
            await wait_for_type(store, "task.result", task=change_after)
            change = GoalScopeChangedData(change="also the extra part")
            await store.append(GoalScopeChanged.new(data=change, goal_id=goal, producer="t"))

        async def ended() -> bool:
            kinds = [s.event.event_type async for s in store.read(goal_id=goal)]
            return "goal.completed" in kinds

        await assert_eventually(ended, timeout=30, message="the goal did not complete")
    return [s async for s in store.read(goal_id=goal)]


def assignment(events: list[StoredEvent], task: str) -> TaskAssigned:
    return next(
        s.event for s in events if isinstance(s.event, TaskAssigned) and s.event.task_id == task
    )


def result(events: list[StoredEvent], task: str) -> TaskResult:
    return next(
        s.event for s in events if isinstance(s.event, TaskResult) and s.event.task_id == task
    )


async def test_a_task_receives_its_dependencies_results_a_large_one_by_reference(
    store: EventStore,
) -> None:
    plan: list[dict[str, Any]] = [
        {"task_id": "schema", "title": "schema", "role": "producer"},
        {"task_id": "big", "title": "big", "role": "producer"},
        {"task_id": "api", "title": "api", "role": "consumer", "depends_on": ["schema", "big"]},
        {"task_id": "alone", "title": "alone", "role": "consumer"},
    ]
    supervisor = Supervisor(
        "supervisor", roles=("producer", "consumer"), model=Planner(plan), lease_seconds=5
    )
    agents: list[Agent] = [Controller("controller"), supervisor, Producer("p-1"), Consumer("c-1")]
    events = await run_goal(store, agents, "g-deps")
    deps = assignment(events, "api").data.inputs[DEPENDENCIES]
    assert list(deps) == ["schema", "big"]
    schema, big = result(events, "schema"), result(events, "big")
    assert deps["schema"]["output"] == {"tables": ["users", "sessions"]}
    assert deps["schema"]["result_event_id"] == schema.id
    assert deps["schema"]["worker"] == "p-1" and deps["schema"]["status"] == "done"
    assert "output" not in deps["big"] and deps["big"]["result_event_id"] == big.id
    assert deps["big"]["output_bytes"] > MAX_OUTPUT_BYTES
    # The worker got the large one from the log, by its result's id.
    assert result(events, "api").data.output == {
        "schema": {"tables": ["users", "sessions"]},
        "big": len(big.data.output["rows"]),
    }
    assert DEPENDENCIES not in assignment(events, "alone").data.inputs

    # The supervisor's re-drive builds the same inputs from the log.
    report = await redrive(
        Supervisor(
            "supervisor", roles=("producer", "consumer"), model=Planner(plan), lease_seconds=5
        ),
        events,
    )
    assert report.identical, report.divergences


async def test_a_task_planned_after_its_dependencies_finished_gets_their_results(
    store: EventStore,
) -> None:
    plan: list[dict[str, Any]] = [
        {"task_id": "schema", "title": "schema", "role": "producer"},
        {"task_id": "hold", "title": "hold", "role": "consumer"},
    ]
    supervisor = Supervisor(
        "supervisor", roles=("producer", "consumer"), model=Planner(plan), lease_seconds=5
    )
    agents: list[Agent] = [Controller("controller"), supervisor, Producer("p-1"), Consumer("c-1")]
    events = await run_goal(store, agents, "g-late", change_after="schema")
    # Planned by the scope change when schema was done already: assigned at once, with it.
    deps = assignment(events, "extra").data.inputs[DEPENDENCIES]
    assert deps["schema"]["result_event_id"] == result(events, "schema").id
    assert result(events, "extra").data.output == {"schema": {"tables": ["users", "sessions"]}}


def model_inputs(events: list[StoredEvent], task: str) -> Any:
    call = next(
        s.event for s in events if isinstance(s.event, ModelCalled) and s.event.task_id == task
    )
    return call.data.request["inputs"]


async def test_the_general_crew_works_with_its_scoped_context_and_the_results_before_it(
    store: EventStore,
) -> None:
    goal = "g-crew-ctx"
    await store.append_many(
        [
            entry("convention.line_length", 100, goal=goal),
            entry("convention.quote_style", "double", goal=goal),
            entry("decision.auth", {"scheme": "sessions"}, goal=goal, kind="decision"),
        ]
    )
    plan = [
        {"task_id": "db", "title": "tables", "role": "database", "context_keys": ["decision.auth"]},
        {
            "task_id": "api",
            "title": "routes",
            "role": "backend",
            "depends_on": ["db"],
            "context_keys": ["convention.*", "decision.auth"],
        },
    ]
    workers = [
        worker_class("database", lease_seconds=5, step_seconds=0)("database-1"),
        worker_class("backend", lease_seconds=5, step_seconds=0)("backend-1"),
    ]
    supervisor = Supervisor(
        "supervisor", roles=("database", "backend"), model=Planner(plan), lease_seconds=5
    )
    events = await run_goal(store, [Controller("controller"), supervisor, *workers], goal)
    db = model_inputs(events, "db")
    assert db["context"] == {"decision.auth": {"scheme": "sessions"}}
    api = model_inputs(events, "api")
    assert api["context"] == {
        "convention.line_length": 100,
        "convention.quote_style": "double",
        "decision.auth": {"scheme": "sessions"},
    }
    # The worker's own progress entry of task db is in the store, but not named: not given.
    assert any(
        isinstance(s.event, ContextUpdated) and s.event.data.key == "progress.db" for s in events
    )
    db_result = result(events, "db")
    assert api["inputs"][DEPENDENCIES]["db"]["summary"] == db_result.data.summary
    assert api["inputs"][DEPENDENCIES]["db"]["result_event_id"] == db_result.id

    # Each worker re-drives from the log without the model: the same requests, the same context.
    for worker in workers:
        again = type(worker)(worker.name, model=NoModel())
        report = await redrive(again, events)
        assert report.handled == 1 and report.identical, report.divergences


class NoModel:
    """A model that must not be called: a re-drive takes answers from the log."""

    provider = "offline"
    name = "offline-1"

    async def complete(self, request: ModelRequest) -> ModelReply:
        raise AssertionError(f"the model was called during a re-drive: {request.task}")
