"""``@work`` handlers against a real server: the role's queue, leases, fencing, checkpoints."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from callsheet.agents import AgentRuntime, LeaseLost, WorkContext, queue_depth, work
from callsheet.agents.agent import Agent
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    TaskAnswered,
    TaskAnsweredData,
    TaskAssigned,
    TaskCancelled,
    TaskCancelledData,
    TaskQuestion,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from tests.integration.agent_support import (
    WAIT,
    assigned,
    doomed_runtime,
    log,
    of_type,
    payload,
    wait_for_type,
    wait_set,
)
from tests.support import assert_eventually


class Writer(Agent):
    """A worker whose behaviour per task is set by the test."""

    kind = "worker"
    role = "writer"
    lease_seconds = 1.5
    max_in_flight = 2

    def __init__(self, name: str, behaviour: dict[str, str] | None = None) -> None:
        super().__init__(name)
        self.behaviour = behaviour or {}
        self.calls: list[tuple[str, int, Any]] = []
        self.active = 0
        self.most_active = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.lost: list[LeaseLost] = []

    @work()
    async def write(self, event: TaskAssigned, ctx: WorkContext) -> Any:
        task = event.task_id or ""
        self.calls.append((task, ctx.delivery, ctx.checkpoint))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            return await self._do(self.behaviour.get(task, ""), task, ctx)
        finally:
            self.active -= 1

    async def _do(self, mode: str, task: str, ctx: WorkContext) -> Any:
        if mode == "raise":
            raise RuntimeError(f"cannot write {task}")
        if mode == "hang":
            self.entered.set()
            await asyncio.Event().wait()  # until the process "dies"
        if mode == "checkpoint-then-hang":
            await ctx.save_checkpoint({"step": 1, "task": task})
            await ctx.progress(50, "halfway")
            self.entered.set()
            await asyncio.Event().wait()
        if mode == "hold":
            self.entered.set()
            await self.release.wait()
        if mode == "hold-then-report":
            self.entered.set()
            await self.release.wait()
            try:
                await ctx.progress(99, "almost")
            except LeaseLost as exc:
                self.lost.append(exc)
                raise
        if mode == "ask":
            return await ctx.ask("which one?", timeout=WAIT)
        if mode == "ask-nobody":
            return await ctx.ask("anyone?", timeout=0.2)
        if mode == "emit":
            # Queued with ``emit`` rather than sent: still appended, result included.
            ctx.emit(
                ContextUpdated,
                ContextUpdatedData(key=f"k-{task}", kind="note", value=1, author=self.name),
            )
            ctx.emit(TaskResult, TaskResultData(worker=self.name, output="emitted"))
            return "ignored"
        if mode == "slow":
            await asyncio.sleep(0.3)  # the work itself takes a while
        return {"written": task, "by": self.name}


def started_by(events: list[Event]) -> list[tuple[str, int]]:
    return [(payload(e).worker, payload(e).attempt) for e in events if isinstance(e, TaskStarted)]


async def test_a_task_is_done_by_exactly_one_of_two_workers(store: EventStore) -> None:
    workers = [Writer("w1", {f"t{i}": "slow" for i in range(8)}), Writer("w2")]
    async with AgentRuntime(store, workers):
        await store.append_many([assigned(f"t{i}") for i in range(8)])
        done = await wait_for_type(store, "task.result", 8)
    assert sorted(e.task_id or "" for e in done) == sorted(f"t{i}" for i in range(8))
    assert sorted(c[0] for w in workers for c in w.calls) == sorted(f"t{i}" for i in range(8))
    for event in done:
        data: Any = payload(event)
        assert data.output == {"written": event.task_id, "by": data.worker}
        assert data.worker == event.producer
        assert event.causation_id is not None
    for i in range(8):
        assert len(started_by(await of_type(store, "task.started", f"t{i}"))) == 1
    assert len(await of_type(store, "task.result")) == 8  # nothing more came in the meantime


async def test_the_returned_value_becomes_the_result(store: EventStore) -> None:
    async with AgentRuntime(store, [Writer("w1")]):
        cause = await store.append(assigned("t1"))
        (result,) = await wait_for_type(store, "task.result")
    events = [e for e in await log(store) if e.task_id == "t1"]
    assert [e.event_type for e in events] == ["task.assigned", "task.started", "task.result"]
    assigned_event = (await store.get(cause.seq)).event
    assert isinstance(result, TaskResult)
    assert result.data.output == {"written": "t1", "by": "w1"} and result.data.worker == "w1"
    assert result.causation_id == assigned_event.id
    assert result.correlation_id == "g" and result.producer == "w1"


async def test_a_raising_handler_fails_the_task_and_the_worker_goes_on(
    store: EventStore,
) -> None:
    writer = Writer("w1", {"bad": "raise"})
    async with AgentRuntime(store, [writer]):
        await store.append(assigned("bad"))
        (failed,) = await wait_for_type(store, "task.failed")
        await store.append(assigned("good"))
        await wait_for_type(store, "task.result")
    data: Any = payload(failed)
    assert data.retryable and data.worker == "w1" and data.attempt == 1
    assert "RuntimeError" in data.reason
    assert data.error.startswith("RuntimeError: cannot write bad")
    assert [e.task_id for e in await of_type(store, "task.result")] == ["good"]
    assert [c[0] for c in writer.calls] == ["bad", "good"]  # the failure was not retried


async def test_a_dead_workers_task_is_redelivered_and_done_once(
    store: EventStore, store_config: StoreConfig, nats_url: str
) -> None:
    victim = Writer("victim", {"t1": "hang"})
    async with doomed_runtime(nats_url, store_config, [victim]) as (_, victim_nc):
        await store.append(assigned("t1", lease_seconds=1.5))
        await wait_set(victim.entered, "the victim taking t1")
        await victim_nc.close()  # the victim "dies": no more heartbeats, no ack
        rescuer = Writer("rescuer")
        async with AgentRuntime(store, [rescuer]):
            await wait_for_type(store, "task.result", task="t1")
            await store.append(assigned("t2"))  # the rescuer goes on with other work
            await wait_for_type(store, "task.result", 2)
    events = [e for e in await log(store) if e.task_id == "t1"]
    assert started_by(events) == [("victim", 1), ("rescuer", 2)]
    assert [e.producer for e in events if isinstance(e, TaskResult)] == ["rescuer"]
    assert rescuer.calls == [("t1", 2, None), ("t2", 1, None)]


async def test_a_redelivery_resumes_from_the_last_checkpoint(
    store: EventStore, store_config: StoreConfig, nats_url: str
) -> None:
    victim = Writer("victim", {"t1": "checkpoint-then-hang"})
    async with doomed_runtime(nats_url, store_config, [victim]) as (_, victim_nc):
        await store.append(assigned("t1", lease_seconds=1.5))
        await wait_set(victim.entered, "the victim's checkpoint")
        await victim_nc.close()
        rescuer = Writer("rescuer")
        async with AgentRuntime(store, [rescuer]):
            await wait_for_type(store, "task.result", task="t1")
    (checkpoint,) = await of_type(store, "task.checkpoint")
    assert payload(checkpoint).state == {"step": 1, "task": "t1"}
    assert rescuer.calls == [("t1", 2, {"step": 1, "task": "t1"})]
    assert len(await of_type(store, "task.result")) == 1


async def test_past_max_attempts_the_delivery_fails_without_running_the_handler(
    store: EventStore, store_config: StoreConfig, nats_url: str
) -> None:
    victim = Writer("victim", {"t1": "hang"})
    async with doomed_runtime(nats_url, store_config, [victim]) as (_, victim_nc):
        await store.append(assigned("t1", lease_seconds=1.5, max_attempts=1))
        await wait_set(victim.entered, "the victim taking t1")
        await victim_nc.close()
        rescuer = Writer("rescuer")
        async with AgentRuntime(store, [rescuer]) as runtime:
            (failed,) = await wait_for_type(store, "task.failed")
            await assert_eventually(lambda: not runtime.workers[0].running, timeout=WAIT)
    assert rescuer.calls == []  # the handler never ran for the delivery past the limit
    data: Any = payload(failed)
    assert data.retryable and data.attempt == 2 and data.worker == "rescuer"
    assert "in 1 deliveries" in data.reason
    assert await of_type(store, "task.result") == []
    assert started_by(await log(store)) == [("victim", 1)]


async def test_a_deadline_already_passed_fails_the_task_for_good(store: EventStore) -> None:
    writer = Writer("w1")
    async with AgentRuntime(store, [writer]):
        past = datetime.now(UTC) - timedelta(seconds=1)
        await store.append(assigned("late", deadline=past))
        (failed,) = await wait_for_type(store, "task.failed")
        await store.append(assigned("fine"))
        await wait_for_type(store, "task.result")
    data: Any = payload(failed)
    assert not data.retryable and "deadline" in data.reason
    assert [c[0] for c in writer.calls] == ["fine"]
    assert started_by(await of_type(store, "task.started", "late")) == []


async def test_not_before_is_waited_for(store: EventStore) -> None:
    writer = Writer("w1")
    async with AgentRuntime(store, [writer]):
        when = datetime.now(UTC) + timedelta(seconds=1.0)
        await store.append(assigned("later", not_before=when))
        await store.append(assigned("now"))
        (started,) = await wait_for_type(store, "task.started", task="later")
        await wait_for_type(store, "task.result", 2)
    assert started.occurred_at >= when
    now_started = (await of_type(store, "task.started", "now"))[0]
    assert now_started.occurred_at < when  # the other task did not wait behind it


async def test_a_zombie_whose_lease_was_taken_over_is_fenced_out(store: EventStore) -> None:
    zombie = Writer("zombie", {"t1": "hold-then-report"})
    async with AgentRuntime(store, [zombie]) as runtime:
        cause = await store.append(assigned("t1", lease_seconds=5.0))
        await wait_set(zombie.entered, "the zombie taking t1")
        await wait_for_type(store, "task.started")
        # Another worker takes the task over, as after a lease that ran out.
        takeover = TaskStarted.new(
            data=TaskStartedData(worker="other", attempt=2),
            goal_id="g",
            task_id="t1",
            producer="other",
            causation_id=(await store.get(cause.seq)).event.id,
        )
        await store.append(takeover)
        zombie.release.set()
        await assert_eventually(lambda: not runtime.workers[0].running, timeout=WAIT)
    assert len(zombie.lost) == 1 and "taken over by other" in str(zombie.lost[0])
    events = [e for e in await log(store) if e.task_id == "t1"]
    assert [e.event_type for e in events] == ["task.assigned", "task.started", "task.started"]
    assert [e.producer for e in events][1:] == ["zombie", "other"]


async def test_a_cancelled_task_stops_its_worker(store: EventStore) -> None:
    writer = Writer("w1", {"t1": "hold-then-report"})
    async with AgentRuntime(store, [writer]) as runtime:
        await store.append(assigned("t1", lease_seconds=5.0))
        await wait_set(writer.entered, "the worker taking t1")
        await store.append(
            TaskCancelled.new(
                data=TaskCancelledData(reason="not needed"),
                goal_id="g",
                task_id="t1",
                producer="supervisor",
            )
        )
        writer.release.set()
        await assert_eventually(lambda: not runtime.workers[0].running, timeout=WAIT)
    assert len(writer.lost) == 1 and writer.lost[0].cancelled
    assert await of_type(store, "task.result") == []
    assert await of_type(store, "task.failed") == []


async def test_max_in_flight_bounds_concurrent_handler_calls(store: EventStore) -> None:
    writer = Writer("w1", {f"t{i}": "slow" for i in range(6)})
    async with AgentRuntime(store, [writer]):
        await store.append_many([assigned(f"t{i}") for i in range(6)])
        await wait_for_type(store, "task.result", 6)
    assert writer.most_active == Writer.max_in_flight == 2


async def test_queue_depth_reports_waiting_and_in_flight_tasks(store: EventStore) -> None:
    js = store.nc.jetstream()
    assert await queue_depth(js, store.config.stream, "writer") is None  # no worker ever ran
    writer = Writer("w1", {"t0": "hold", "t1": "hold"})
    async with AgentRuntime(store, [writer]):
        await store.append_many([assigned(f"t{i}") for i in range(5)])

        async def depth_is(waiting: int, in_flight: int) -> bool:
            depth = await queue_depth(js, store.config.stream, "writer")
            return (
                depth is not None
                and depth.role == "writer"
                and (depth.waiting, depth.in_flight) == (waiting, in_flight)
            )

        # Two held tasks (max_in_flight); three wait in the queue.
        await assert_eventually(lambda: depth_is(3, 2), timeout=WAIT)
        writer.release.set()
        await wait_for_type(store, "task.result", 5)
        await assert_eventually(lambda: depth_is(0, 0), timeout=WAIT)
    assert await queue_depth(js, store.config.stream, "nobody") is None


async def test_ask_gets_the_answer_appended_by_another_party(store: EventStore) -> None:
    async with AgentRuntime(store, [Writer("w1", {"q": "ask"})]):
        await store.append(assigned("q"))
        (question,) = await wait_for_type(store, "task.question")
        assert isinstance(question, TaskQuestion)
        assert question.data.question == "which one?" and question.data.worker == "w1"
        await store.append(
            TaskAnswered.new(
                data=TaskAnsweredData(question_id="other", answer="not this", answered_by="me"),
                goal_id="g",
                task_id="q",
                producer="me",
            )
        )
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
        (result,) = await wait_for_type(store, "task.result")
    assert payload(result).output == "the blue one"


async def test_a_timeout_inside_the_handler_is_a_retryable_failure(store: EventStore) -> None:
    # No deadline: a TimeoutError the handler raises (here: nobody answers) is its error.
    async with AgentRuntime(store, [Writer("w1", {"q": "ask-nobody"})]):
        await store.append(assigned("q"))
        (failed,) = await wait_for_type(store, "task.failed")
    data: Any = payload(failed)
    assert data.retryable and "deadline" not in data.reason
    assert data.error is not None and "TimeoutError" in data.error


async def test_a_deadline_reached_while_running_fails_the_task_for_good(
    store: EventStore,
) -> None:
    writer = Writer("w1", {"t1": "hold"})
    async with AgentRuntime(store, [writer]):
        soon = datetime.now(UTC) + timedelta(seconds=1.0)
        await store.append(assigned("t1", deadline=soon))
        (failed,) = await wait_for_type(store, "task.failed")
    data: Any = payload(failed)
    assert not data.retryable and "deadline passed while it ran" in data.reason
    assert failed.occurred_at >= soon


async def test_events_queued_with_emit_are_appended_too(store: EventStore) -> None:
    async with AgentRuntime(store, [Writer("w1", {"t1": "emit"})]):
        await store.append(assigned("t1"))
        (result,) = await wait_for_type(store, "task.result")
    events = [e for e in await log(store) if e.task_id == "t1"]
    assert [e.event_type for e in events] == [
        "task.assigned",
        "task.started",
        "context.updated",
        "task.result",
    ]
    assert payload(result).output == "emitted"
