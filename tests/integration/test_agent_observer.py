"""``@on`` handlers against a real server: order, atomic reactions, errors, topology, restarts."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callsheet.agents import Agent, AgentRuntime, HandlerContext, on
from callsheet.agents.reactions import Reactor
from callsheet.agents.tracing import traceparent
from callsheet.events.catalog import (
    AgentError,
    ContextUpdated,
    ContextUpdatedData,
    GoalSubmitted,
    TaskAssigned,
    TaskAssignedData,
    TaskPlanned,
    TaskPlannedData,
    TaskResult,
    TaskResultData,
)
from callsheet.events.envelope import Event
from callsheet.events.errors import AppendTimeout
from callsheet.events.ids import derived_event_id
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.wire import H_TRACEPARENT
from tests.integration.agent_support import (
    WAIT,
    kill,
    log,
    of_type,
    payload,
    planned,
    stored_log,
    submitted,
    wait_for_type,
    wait_set,
)
from tests.support import assert_eventually


def note(ctx: HandlerContext, key: str, value: Any) -> None:
    ctx.emit(ContextUpdated, ContextUpdatedData(key=key, kind="note", value=value, author="x"))


class Scribe(Agent):
    """Notes every goal three times; raises on goals titled 'boom'."""

    durable = "scribe"
    start_from = "history"  # events appended before its first start count (see test_agent_start)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.seen: list[str] = []

    @on()
    async def jot(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        self.seen.append(event.goal_id)
        if event.data.title == "boom":
            note(ctx, "partial", 1)  # emitted, then the handler fails: none is appended
            raise ValueError(f"no booms in {event.goal_id}")
        for key in ("a", "b", "c"):
            note(ctx, key, event.data.title)


async def test_events_are_handled_in_log_order(store: EventStore) -> None:
    scribe = Scribe("scribe-1")
    goals = [f"g{i}" for i in range(12)]
    async with AgentRuntime(store, [scribe]):
        await store.append_many([submitted(goal) for goal in goals])
        await wait_for_type(store, "context.updated", 3 * len(goals))
    assert scribe.seen == goals


async def test_a_reaction_is_appended_atomically_with_derived_ids(store: EventStore) -> None:
    async with AgentRuntime(store, [Scribe("scribe-1")]):
        await store.append(submitted("g1", "hello"))
        await wait_for_type(store, "context.updated", 3)
    cause, *reaction = await stored_log(store, "g1")
    assert [s.event.event_type for s in reaction] == ["context.updated"] * 3
    # One atomic batch: consecutive sequences, right after the cause.
    assert [s.seq for s in reaction] == [cause.seq + 1, cause.seq + 2, cause.seq + 3]
    for index, stored in enumerate(reaction):
        event = stored.event
        assert event.id == derived_event_id(cause.event.id, "scribe.jot", index)
        assert event.causation_id == cause.event.id
        assert event.correlation_id == "g1" and event.goal_id == "g1"
        assert event.producer == "scribe-1"
        assert payload(event).key == "abc"[index] and payload(event).value == "hello"
        raw = await store.nc.jetstream().get_msg(store.config.stream, stored.seq, direct=True)
        assert (raw.headers or {})[H_TRACEPARENT] == traceparent("g1", event.id)


async def test_a_raising_handler_is_recorded_and_the_next_events_are_handled(
    store: EventStore,
) -> None:
    scribe = Scribe("scribe-1")
    async with AgentRuntime(store, [scribe]):
        for goal, title in (("g1", "fine"), ("g2", "boom"), ("g3", "fine"), ("g4", "fine")):
            await store.append(submitted(goal, title))
        await wait_for_type(store, "context.updated", 9)
        await wait_for_type(store, "agent.error")
    assert scribe.seen == ["g1", "g2", "g3", "g4"]
    failing = await log(store, "g2")
    assert [e.event_type for e in failing] == ["goal.submitted", "agent.error"]
    error = failing[1]
    data: Any = payload(error)
    assert data.kind == "handler_error" and data.agent == "scribe-1"
    assert data.event_id == failing[0].id and error.causation_id == failing[0].id
    assert data.error.startswith("ValueError: no booms in g2")
    assert error.id == derived_event_id(failing[0].id, "scribe.jot!error", 0)
    assert len(await of_type(store, "agent.error")) == 1
    for goal in ("g3", "g4"):
        assert [e.event_type for e in await log(store, goal)][1:] == ["context.updated"] * 3


class Rogue(Agent):
    """A worker-kind agent that hands out work from an ``@on`` handler (not allowed)."""

    kind = "worker"
    durable = "rogue"

    @on()
    async def spawn(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        note(ctx, "before", 1)  # allowed on its own, refused with the rest
        ctx.emit(TaskAssigned, TaskAssignedData(role="writer"), task_id="sneaky")


async def test_a_topology_violation_is_recorded_and_nothing_is_appended(
    store: EventStore,
) -> None:
    async with AgentRuntime(store, [Rogue("rogue-1")]):
        await store.append(submitted("g1"))
        await store.append(submitted("g2"))
        await wait_for_type(store, "agent.error", 2)
    for goal in ("g1", "g2"):
        events = await log(store, goal)
        assert [e.event_type for e in events] == ["goal.submitted", "agent.error"]
        data: Any = payload(events[1])
        assert data.kind == "topology_violation" and data.agent == "rogue-1"
        assert data.event_id == events[0].id
        assert "a worker cannot start agents" in data.error and "task.assigned" in data.error
    assert await of_type(store, "task.assigned") == []
    assert await of_type(store, "context.updated") == []


class Planner(Agent):
    """A supervisor that splits each task it sees planned into a sub-task."""

    kind = "supervisor"
    durable = "planner"

    @on(where=lambda e: e.producer == "test")
    async def split(self, event: TaskPlanned, ctx: HandlerContext) -> None:
        child = f"{event.task_id}-sub"
        data = TaskPlannedData(title=child, role="writer", parent_task_id=event.task_id)
        ctx.emit(TaskPlanned, data, task_id=child)


async def test_supervisor_nesting_deeper_than_three_levels_is_refused(store: EventStore) -> None:
    # t1 <- t2 <- t3: a sub-task of t2 is level 3 (allowed), of t3 level 4 (refused).
    await store.append(planned("t1"))
    await store.append(planned("t2", parent="t1"))
    async with AgentRuntime(store, [Planner("planner-1")]):
        await wait_for_type(store, "task.planned", 4)  # t1-sub and t2-sub
        await store.append(planned("t3", parent="t2"))
        await wait_for_type(store, "agent.error")
    subs = [e.task_id for e in await of_type(store, "task.planned") if e.producer != "test"]
    assert subs == ["t1-sub", "t2-sub"]
    error: Any = payload((await of_type(store, "agent.error"))[0])
    assert error.kind == "topology_violation" and "level-4 supervisor" in error.error


class Tracker(Agent):
    """Notes each planned task with the tasks its board shows; can be held on one task."""

    durable = "tracker"
    views = ("board",)

    def __init__(self, name: str, hold: str | None = None) -> None:
        super().__init__(name)
        self.hold = hold
        self.holding = asyncio.Event()
        self.boards: dict[str, list[str]] = {}
        self.observed: list[str] = []

    def observe(self, event: Event) -> None:
        self.observed.append(event.id)

    @on()
    async def track(self, event: TaskPlanned, ctx: HandlerContext) -> None:
        tasks = sorted(ctx.board.tasks)
        self.boards[event.task_id or ""] = tasks
        note(ctx, f"seen-{event.task_id}", tasks)

    @on()
    async def gate(self, event: TaskPlanned, ctx: HandlerContext) -> None:
        if event.task_id == self.hold:
            self.holding.set()
            await asyncio.Event().wait()  # until the process "dies"


async def test_a_restarted_agent_continues_rebuilds_its_views_and_duplicates_nothing(
    store: EventStore,
) -> None:
    first = Tracker("tracker-1", hold="t3")
    runtime = AgentRuntime(store, [first])
    await runtime.start()
    try:
        for task in ("t1", "t2", "t3"):
            await store.append(planned(task))
        # t3's reaction is appended by ``track``; then ``gate`` holds it, unacked...
        await wait_set(first.holding, "holding t3")
        await wait_for_type(store, "context.updated", 3)
    finally:
        await kill(runtime)  # ...when the process dies.
    assert first.boards == {"t1": ["t1"], "t2": ["t1", "t2"], "t3": ["t1", "t2", "t3"]}
    await store.append(planned("t4"))  # while no tracker runs

    second = Tracker("tracker-2")  # another instance, same durable name
    async with AgentRuntime(store, [second]):
        await wait_for_type(store, "context.updated", 4)
        await store.append(planned("t5"))
        await wait_for_type(store, "context.updated", 5)
    # It went on at t3 (unacked), with the board rebuilt from the events before it.
    assert second.boards == {
        "t3": ["t1", "t2", "t3"],
        "t4": ["t1", "t2", "t3", "t4"],
        "t5": ["t1", "t2", "t3", "t4", "t5"],
    }
    notes = await of_type(store, "context.updated")
    assert [payload(e).key for e in notes] == [f"seen-t{i}" for i in range(1, 6)]
    assert [e.producer for e in notes] == ["tracker-1"] * 3 + ["tracker-2"] * 2
    ids = [e.id for e in await log(store)]
    assert len(ids) == len(set(ids)) == 10
    # Its own memory saw every event of the log once, its reactions included.
    assert sorted(second.observed) == sorted(ids) and len(second.observed) == len(ids)


async def test_a_restart_before_anything_was_handled_starts_at_the_beginning(
    store: EventStore,
) -> None:
    await store.append(submitted("g1"))
    async with AgentRuntime(store, [Scribe("scribe-1")]):
        await wait_for_type(store, "context.updated", 3)
    async with AgentRuntime(store, [Scribe("scribe-2")]):
        pass  # nothing new: a second restart in a row must not move the position
    again = Scribe("scribe-3")
    async with AgentRuntime(store, [again]):
        await store.append(submitted("g2"))
        await wait_for_type(store, "context.updated", 6)
    assert again.seen == ["g2"]


def reaction_of(agent: Agent, cause: StoredEvent, count: int) -> list[Event]:
    """What ``Scribe.jot`` emits for ``cause``, built now (so with a new ``occurred_at``)."""
    ctx = HandlerContext(agent, "jot", cause, {})
    for index in range(count):
        note(ctx, f"k{index}", index)
    return list(ctx.emitted)


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("old_cause", [False, True])
async def test_a_reaction_appended_again_is_stored_once(
    store: EventStore, count: int, old_cause: bool
) -> None:
    appended = await store.append(submitted("g1"))
    cause = await store.get(appended.seq)
    if old_cause:  # beyond the duplicate window: found by id in the log instead
        cause = dataclasses.replace(cause, stored_at=datetime.now(UTC) - timedelta(days=1))
    agent = Scribe("scribe-1")
    reactor = Reactor(store, agent, asyncio.Event())
    once = reaction_of(agent, cause, count)
    again = reaction_of(agent, cause, count)
    assert [e.id for e in once] == [e.id for e in again]
    first = await reactor.append_reaction(cause, once)
    second = await reactor.append_reaction(cause, again)
    assert [s.seq for s in first] == [s.seq for s in second]
    assert [s.event.id for s in second] == [e.id for e in once]
    assert len(await log(store, "g1")) == 1 + count


async def test_a_passing_outage_while_appending_a_reaction_is_waited_out(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store.append_batch
    failures: list[int] = []

    async def flaky(events: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(len(events))
            raise AppendTimeout("no ack (the server is restarting)")
        return await real(events, **kwargs)

    monkeypatch.setattr(store, "append_batch", flaky)
    async with AgentRuntime(store, [Scribe("scribe-1")]):
        await store.append(submitted("g1"))
        await store.append(submitted("g2"))
        await wait_for_type(store, "context.updated", 6)
    assert failures == [3]
    assert await of_type(store, "agent.error") == []  # not a handler error: tried again
    assert [e.event_type for e in await log(store, "g1")][1:] == ["context.updated"] * 3


async def test_stopping_during_an_outage_leaves_the_event_to_the_next_instance(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store.append_batch
    outage = asyncio.Event()
    tried = asyncio.Event()

    async def flaky(events: Any, **kwargs: Any) -> Any:
        if not outage.is_set():
            tried.set()
            raise AppendTimeout("no ack (the server is away)")
        return await real(events, **kwargs)

    monkeypatch.setattr(store, "append_batch", flaky)
    runtime = AgentRuntime(store, [Scribe("scribe-1")])
    await runtime.start()
    try:
        await store.append(submitted("g1"))
        await wait_set(tried, "an append during the outage")
    finally:
        await runtime.stop()  # gives up on the append: the event must stay unhandled
    outage.set()
    assert await of_type(store, "agent.error") == []
    assert await of_type(store, "context.updated") == []
    again = Scribe("scribe-2")
    async with AgentRuntime(store, [again]):
        await wait_for_type(store, "context.updated", 3)
    assert again.seen == ["g1"]
    assert await of_type(store, "agent.error") == []


class Picky(Agent):
    """Handles only results of goal g1 (subject filter) with an output over 1 (predicate)."""

    durable = "picky"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.handled: list[tuple[str, str | None]] = []

    @on(where=lambda e: e.data.output > 1, subject="*.ev.g1.>")
    async def only(self, event: TaskResult, ctx: HandlerContext) -> None:
        self.handled.append((event.goal_id, event.task_id))
        note(ctx, f"r-{event.task_id}", event.data.output)


async def test_handlers_see_only_what_their_filters_select(store: EventStore) -> None:
    def result(goal: str, task: str, output: int) -> TaskResult:
        return TaskResult.new(
            data=TaskResultData(worker="w", output=output), goal_id=goal, task_id=task, producer="w"
        )

    picky = Picky("picky-1")
    async with AgentRuntime(store, [picky]) as runtime:
        await store.append(submitted("g1"))  # not a type it handles
        await store.append(result("g1", "a", 1))  # the predicate says no
        await store.append(result("g2", "b", 5))  # the subject says no
        await store.append(result("g1", "c", 5))
        await wait_for_type(store, "context.updated")
        # Its consumer only carries its types: the goal submission is never delivered.
        await assert_eventually(lambda: runtime.observers[0].handled == 3, timeout=WAIT)
        await store.append(submitted("g3"))
        await store.append(result("g1", "d", 7))
        await wait_for_type(store, "context.updated", 2)
        await assert_eventually(lambda: runtime.observers[0].handled == 4, timeout=WAIT)
    assert picky.handled == [("g1", "c"), ("g1", "d")]


async def test_agent_errors_are_typed_events(store: EventStore) -> None:
    async with AgentRuntime(store, [Scribe("scribe-1")]):
        await store.append(submitted("g1", "boom"))
        (error,) = await wait_for_type(store, "agent.error")
    assert isinstance(error, AgentError) and error.task_id is None and error.goal_id == "g1"
