"""The agent runtime against a real server: ordered handlers, work queues, leases, fencing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from callsheet.agents import (
    Agent,
    AgentRuntime,
    HandlerContext,
    WorkContext,
    on,
    queue_depth,
    work,
)
from callsheet.agents.reactions import Reactor
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAnswered,
    TaskAnsweredData,
    TaskAssigned,
    TaskAssignedData,
    TaskQuestion,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.events.ids import derived_event_id
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from tests.support import assert_eventually


def payload(event: Event) -> Any:
    """An event's data, untyped (the tests know which type they hold)."""
    return getattr(event, "data")  # noqa: B009 - declared by each event class


def submitted(goal: str, title: str = "t") -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title=title), goal_id=goal, producer="test")


def assigned(task: str, role: str = "writer", goal: str = "g", **data: Any) -> TaskAssigned:
    return TaskAssigned.new(
        data=TaskAssignedData(role=role, **data), goal_id=goal, task_id=task, producer="test"
    )


async def log(store: EventStore, goal: str | None = None) -> list[Event]:
    return [s.event async for s in store.read(goal_id=goal)]


async def wait_for_type(
    store: EventStore, event_type: str, count: int = 1, timeout: float = 20
) -> None:
    async def enough() -> bool:
        return sum(e.event_type == event_type for e in await log(store)) >= count

    await assert_eventually(enough, timeout=timeout, message=f"fewer than {count} {event_type}")


# -- @on handlers -------------------------------------------------------------------


class Scribe(Agent):
    """Notes every goal in the context store; fails on goals titled 'boom'."""

    durable = "scribe"
    views = ("board",)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.seen: list[str] = []
        self.titles: list[str] = []

    @on()
    async def note(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        self.seen.append(event.goal_id)
        self.titles.append(ctx.board.title)  # the view already has this event
        if event.data.title == "boom":
            raise ValueError("no booms")
        for key in ("a", "b"):
            ctx.emit(
                ContextUpdated,
                ContextUpdatedData(key=key, kind="note", value=event.data.title, author=self.name),
            )


async def test_handlers_see_the_log_in_order_and_react_with_derived_ids(store: EventStore) -> None:
    scribe = Scribe("scribe-1")
    async with AgentRuntime(store, [scribe]):
        for goal in ("g1", "g2", "g3"):
            await store.append(submitted(goal, f"title {goal}"))
        await wait_for_type(store, "context.updated", 6)
    assert scribe.seen == ["g1", "g2", "g3"]
    assert scribe.titles == ["title g1", "title g2", "title g3"]
    for goal in ("g1", "g2", "g3"):
        events = await log(store, goal)
        cause, first, second = events
        assert [first.id, second.id] == [
            derived_event_id(cause.id, "scribe.note", 0),
            derived_event_id(cause.id, "scribe.note", 1),
        ]
        for reaction in (first, second):
            assert reaction.causation_id == cause.id
            assert reaction.correlation_id == goal
            assert reaction.producer == "scribe-1"


async def test_a_raising_handler_records_the_error_and_the_agent_goes_on(store: EventStore) -> None:
    async with AgentRuntime(store, [Scribe("scribe-1")]):
        for goal, title in (("g1", "fine"), ("g2", "boom"), ("g3", "fine")):
            await store.append(submitted(goal, title))
        await wait_for_type(store, "context.updated", 4)
        await wait_for_type(store, "agent.error", 1)
    errors = [e for e in await log(store, "g2") if e.event_type == "agent.error"]
    assert len(errors) == 1
    data: Any = payload(errors[0])
    assert data.kind == "handler_error" and data.agent == "scribe-1"
    assert data.event_id == (await log(store, "g2"))[0].id
    assert data.error.startswith("ValueError: no booms")
    assert [e.event_type for e in await log(store, "g3")][1:] == ["context.updated"] * 2


class Rogue(Agent):
    """A worker-kind agent that tries to hand out work from an @on handler."""

    kind = "worker"
    durable = "rogue"

    @on()
    async def spawn(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        ctx.emit(TaskAssigned, TaskAssignedData(role="writer"), task_id="sneaky")


async def test_a_topology_violation_is_recorded_instead_of_appended(store: EventStore) -> None:
    async with AgentRuntime(store, [Rogue("rogue-1")]):
        await store.append(submitted("g1"))
        await wait_for_type(store, "agent.error")
    kinds = [e.event_type for e in await log(store, "g1")]
    assert kinds == ["goal.submitted", "agent.error"]
    error = payload((await log(store, "g1"))[1])
    assert error.kind == "topology_violation" and "cannot start agents" in error.error


async def test_a_restarted_agent_continues_where_it_stopped(store: EventStore) -> None:
    first = Scribe("scribe-1")
    async with AgentRuntime(store, [first]):
        await store.append(submitted("g1", "one"))
        await wait_for_type(store, "context.updated", 2)
    await store.append(submitted("g2", "two"))  # while no scribe runs
    second = Scribe("scribe-1")
    async with AgentRuntime(store, [second]):
        await wait_for_type(store, "context.updated", 4)
        await store.append(submitted("g3", "three"))
        await wait_for_type(store, "context.updated", 6)
    assert first.seen == ["g1"] and second.seen == ["g2", "g3"]
    assert second.titles == ["two", "three"]  # its board view was rebuilt from the log
    ids = [e.id for e in await log(store)]
    assert len(ids) == len(set(ids)) == 9


async def test_a_reaction_made_again_is_stored_once(store: EventStore) -> None:
    cause = await store.append(submitted("g1"))
    stored = await store.get(cause.seq)
    agent = Scribe("scribe-1")
    reactor = Reactor(store, agent, asyncio.Event())

    def reaction() -> list[Event]:
        ctx = HandlerContext(agent, "note", stored, {})
        for key in ("a", "b"):
            ctx.emit(ContextUpdated, ContextUpdatedData(key=key, kind="note", value=1, author="x"))
        return list(ctx.emitted)

    once = await reactor.append_reaction(stored, reaction())
    again = await reactor.append_reaction(stored, reaction())  # a new time: other bodies
    assert [s.seq for s in once] == [s.seq for s in again]
    assert len(await log(store, "g1")) == 3


# -- @work handlers -----------------------------------------------------------------


class Writer(Agent):
    kind = "worker"
    role = "writer"
    lease_seconds = 1.0
    max_in_flight = 2

    def __init__(self, name: str, behaviour: dict[str, Any] | None = None) -> None:
        super().__init__(name)
        self.behaviour = behaviour or {}
        self.calls: list[tuple[str, int, Any]] = []
        self.active = 0
        self.most_active = 0
        self.release = asyncio.Event()

    @work()
    async def write(self, event: TaskAssigned, ctx: WorkContext) -> Any:
        task = event.task_id or ""
        self.calls.append((task, ctx.delivery, ctx.checkpoint))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            mode = self.behaviour.get(task)
            if mode == "raise":
                raise RuntimeError(f"cannot write {task}")
            if mode == "checkpoint-then-hang":
                await ctx.save_checkpoint({"step": 1})
                await asyncio.Event().wait()  # until the process "dies"
            if mode == "hold":
                await self.release.wait()
            if mode == "ask":
                return await ctx.ask("which one?", timeout=10)
            if mode == "slow":
                await asyncio.sleep(0.3)  # the work itself
            return {"written": task, "by": self.name}
        finally:
            self.active -= 1


@pytest.fixture
async def other_nc(nats_url: str) -> AsyncIterator[Client]:
    """A second connection: a worker on it can "die" by losing it."""
    client = await nats.connect(servers=nats_url.split(","), connect_timeout=5)
    yield client
    if not client.is_closed:
        await client.close()


def results(events: list[Event]) -> list[Event]:
    return [e for e in events if e.event_type == "task.result"]


async def test_each_task_is_done_by_exactly_one_worker(store: EventStore) -> None:
    workers = [Writer("w1"), Writer("w2")]
    async with AgentRuntime(store, workers):
        for i in range(10):
            await store.append(assigned(f"t{i}"))
        await wait_for_type(store, "task.result", 10)
    done = results(await log(store))
    assert sorted(e.task_id or "" for e in done) == sorted(f"t{i}" for i in range(10))
    assert sum(len(w.calls) for w in workers) == 10
    first: Any = payload(done[0])
    assert first.output["written"] == done[0].task_id


async def test_a_raising_handler_fails_the_task_and_the_worker_goes_on(store: EventStore) -> None:
    async with AgentRuntime(store, [Writer("w1", {"bad": "raise"})]):
        await store.append(assigned("bad"))
        await store.append(assigned("good"))
        await wait_for_type(store, "task.result")
        await wait_for_type(store, "task.failed")
    failed: Any = payload(next(e for e in await log(store) if e.event_type == "task.failed"))
    assert failed.retryable and "RuntimeError: cannot write bad" in failed.error
    assert [e.task_id for e in results(await log(store))] == ["good"]


async def test_a_dead_workers_task_resumes_elsewhere_from_its_checkpoint(
    store: EventStore, store_config: StoreConfig, other_nc: Client
) -> None:
    victim_store = await EventStore.open(other_nc, store_config)
    victim = Writer("victim", {"t1": "checkpoint-then-hang"})
    runtime = AgentRuntime(victim_store, [victim])
    await runtime.start()
    await store.append(assigned("t1", lease_seconds=1.0))
    await wait_for_type(store, "task.checkpoint")
    await other_nc.close()  # the victim "dies": no more heartbeats, no ack
    rescuer = Writer("rescuer")
    async with AgentRuntime(store, [rescuer]):
        await wait_for_type(store, "task.result", timeout=20)
    runtime.stopping.set()
    for task in runtime._tasks:
        task.cancel()
    events = [e for e in await log(store) if e.task_id == "t1"]
    assert rescuer.calls == [("t1", 2, {"step": 1})]
    started = [payload(e) for e in events if e.event_type == "task.started"]
    assert [(s.worker, s.attempt) for s in started] == [("victim", 1), ("rescuer", 2)]
    assert [e.producer for e in results(events)] == ["rescuer"]


async def test_past_max_attempts_the_delivery_becomes_a_failure(
    store: EventStore, store_config: StoreConfig, other_nc: Client
) -> None:
    victim_store = await EventStore.open(other_nc, store_config)
    runtime = AgentRuntime(victim_store, [Writer("victim", {"t1": "checkpoint-then-hang"})])
    await runtime.start()
    await store.append(assigned("t1", lease_seconds=1.0, max_attempts=1))
    await wait_for_type(store, "task.checkpoint")
    await other_nc.close()
    rescuer = Writer("rescuer")
    async with AgentRuntime(store, [rescuer]):
        await wait_for_type(store, "task.failed", timeout=20)
    runtime.stopping.set()
    for task in runtime._tasks:
        task.cancel()
    assert rescuer.calls == []  # the handler never ran for the delivery past the limit
    failed: Any = payload(next(e for e in await log(store) if e.event_type == "task.failed"))
    assert failed.retryable and "in 1 deliveries" in failed.reason


async def test_a_deadline_already_passed_fails_the_task(store: EventStore) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    writer = Writer("w1")
    async with AgentRuntime(store, [writer]):
        await store.append(assigned("late", deadline=past))
        await wait_for_type(store, "task.failed")
    failed: Any = payload(next(e for e in await log(store) if e.event_type == "task.failed"))
    assert not failed.retryable and "deadline" in failed.reason and writer.calls == []


async def test_not_before_is_waited_for(store: EventStore) -> None:
    when = datetime.now(UTC) + timedelta(seconds=0.5)
    async with AgentRuntime(store, [Writer("w1")]):
        await store.append(assigned("later", not_before=when))
        await wait_for_type(store, "task.started")
    started = next(e for e in await log(store) if e.event_type == "task.started")
    assert started.occurred_at >= when


async def test_a_worker_whose_task_was_taken_over_is_fenced_out(store: EventStore) -> None:
    zombie = Writer("zombie", {"t1": "hold"})
    async with AgentRuntime(store, [zombie]) as runtime:
        cause = await store.append(assigned("t1", lease_seconds=5.0))
        await wait_for_type(store, "task.started")
        # Another worker takes the task over (as after a lease that ran out).
        other = TaskStarted.new(
            data=TaskStartedData(worker="other", attempt=2),
            goal_id="g",
            task_id="t1",
            producer="other",
            causation_id=(await store.get(cause.seq)).event.id,
        )
        await store.append(other)
        zombie.release.set()

        # The zombie finishes its work, tries to report the result, and gives up.
        await assert_eventually(lambda: not runtime.workers[0].running, timeout=10)
    assert zombie.calls == [("t1", 1, None)]  # it did the work...
    assert results(await log(store)) == []  # ...but its late result was refused


async def test_max_in_flight_bounds_concurrent_tasks(store: EventStore) -> None:
    writer = Writer("w1", {f"t{i}": "slow" for i in range(6)})
    async with AgentRuntime(store, [writer]):
        await store.append_many([assigned(f"t{i}") for i in range(6)])
        await wait_for_type(store, "task.result", 6)
    assert writer.most_active == Writer.max_in_flight == 2


async def test_queue_depth_shows_waiting_work(store: EventStore) -> None:
    async with AgentRuntime(store, [Writer("w1")]):
        pass  # creates the role's queue
    await store.append_many([assigned(f"t{i}") for i in range(5)])
    js = store.nc.jetstream()

    async def five_waiting() -> bool:
        depth = await queue_depth(js, store.config.stream, "writer")
        return depth is not None and depth.waiting == 5 and depth.in_flight == 0

    await assert_eventually(five_waiting, timeout=10)
    assert await queue_depth(js, store.config.stream, "nobody") is None


async def test_a_worker_asks_and_gets_the_answer(store: EventStore) -> None:
    async with AgentRuntime(store, [Writer("w1", {"q": "ask"})]):
        await store.append(assigned("q"))
        await wait_for_type(store, "task.question")
        question = next(e for e in await log(store) if isinstance(e, TaskQuestion))
        await store.append(
            TaskAnswered.new(
                data=TaskAnsweredData(
                    question_id=question.data.question_id, answer="the blue one", answered_by="me"
                ),
                goal_id="g",
                task_id="q",
                producer="me",
            )
        )
        await wait_for_type(store, "task.result")
    result = payload(results(await log(store))[0])
    assert result.output == "the blue one"
