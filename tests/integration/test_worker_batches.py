"""A specialist worker reports each step in one round trip: checkpoint and progress together."""

from __future__ import annotations

from typing import Any

from callsheet.agents import AgentRuntime
from callsheet.crew import worker_class
from callsheet.events.catalog import TaskAssigned, TaskAssignedData, TaskCheckpoint, TaskProgress
from callsheet.events.store import EventStore
from callsheet.models import OfflineModel
from tests.support import assert_eventually


async def test_each_step_is_one_atomic_batch(store: EventStore, monkeypatch: Any) -> None:
    batches: list[int] = []
    original = EventStore.append_batch

    async def counting(self: EventStore, events: Any, *args: Any, **kwargs: Any) -> Any:
        batches.append(len(events))
        return await original(self, events, *args, **kwargs)

    monkeypatch.setattr(EventStore, "append_batch", counting)
    worker = worker_class("alpha", step_seconds=0.0)("alpha-1", model=OfflineModel())
    async with AgentRuntime(store, [worker]):
        await store.append(
            TaskAssigned.new(
                data=TaskAssignedData(role="alpha", instructions="write it"),
                goal_id="g",
                task_id="t",
                producer="test",
            )
        )

        async def done() -> bool:
            kinds = [s.event.event_type async for s in store.read(goal_id="g", task_id="t")]
            return "task.result" in kinds

        await assert_eventually(done, timeout=30, message="no result")
    events = [s.event async for s in store.read(goal_id="g", task_id="t")]
    checkpoints = [i for i, e in enumerate(events) if isinstance(e, TaskCheckpoint)]
    assert checkpoints
    for i in checkpoints:
        after = events[i + 1]
        assert isinstance(after, TaskProgress)
        assert after.data.note == getattr(events[i].data, "note", None)
    assert batches.count(2) >= len(checkpoints)  # one batch per step
