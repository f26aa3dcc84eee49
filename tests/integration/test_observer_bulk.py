"""Observing agents in bulk: one cumulative ack per fetch, and only the types they read."""

from __future__ import annotations

from typing import Any

from nats.js.api import AckPolicy

from callsheet.agents import Agent, AgentRuntime, HandlerContext, on
from callsheet.agents.consumers import consumer_name
from callsheet.crew import Controller
from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.store import EventStore
from tests.support import assert_eventually


def _progress(i: int) -> TaskProgress:
    return TaskProgress.new(
        data=TaskProgressData(worker="w", percent=1.0, note=f"step {i}"),
        goal_id="g",
        task_id=f"t{i % 7}",
        producer="test",
    )


class Counter(Agent):
    """Counts the progress reports it is given, in order."""

    durable = "counter"
    start_from = "history"

    def __init__(self) -> None:
        super().__init__("counter")
        self.notes: list[str] = []

    @on()
    async def count(self, event: TaskProgress, ctx: HandlerContext) -> None:
        self.notes.append(event.data.note)


async def test_many_events_are_acked_cumulatively_in_order(
    store: EventStore, monkeypatch: Any
) -> None:
    await store.append_many([_progress(i) for i in range(600)])
    acks = 0
    original = __import__("nats.aio.msg", fromlist=["Msg"]).Msg.ack_sync

    async def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal acks
        acks += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr("nats.aio.msg.Msg.ack_sync", counting)
    counter = Counter()
    async with AgentRuntime(store, [counter]) as runtime:
        loop = runtime.observers[0]

        async def handled() -> bool:
            return loop.handled == 600

        await assert_eventually(handled, timeout=30, message="not every event handled")
        js = store.nc.jetstream()
        info = await js.consumer_info(store.config.stream, consumer_name("agent", "counter"))
        assert info.config.ack_policy == AckPolicy.ALL
        assert info.ack_floor is not None and info.ack_floor.stream_seq == 600
    assert counter.notes == [f"step {i}" for i in range(600)]
    assert 0 < acks <= 600 // 16  # one per fetch, not one per event


async def test_the_controller_is_given_only_goal_events(store: EventStore) -> None:
    await store.append_many([_progress(i) for i in range(300)])
    controller = Controller("controller")
    async with AgentRuntime(store, [controller]) as runtime:
        await store.append(
            GoalSubmitted.new(data=GoalSubmittedData(title="x"), goal_id="g", producer="test")
        )
        await store.append_many([_progress(i) for i in range(300, 400)])

        async def accepted() -> bool:
            kinds = [s.event.event_type async for s in store.read(goal_id="g")]
            return "goal.accepted" in kinds

        await assert_eventually(accepted, timeout=30, message="the goal was not accepted")
        loop = runtime.observers[0]

        async def caught_up() -> bool:
            return loop.handled == 2  # the submission and its own acceptance

        await assert_eventually(caught_up, timeout=30, message="controller did not catch up")
        js = store.nc.jetstream()
        info = await js.consumer_info(store.config.stream, consumer_name("agent", "controller"))
        subjects = info.config.filter_subjects or []
        assert subjects and not any(".task." in s for s in subjects)
