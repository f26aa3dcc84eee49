"""A specialist worker reports each step as its checkpoint, then its progress, by plain appends.

Not one atomic batch per step: the server stages every atomic batch in synced files
of its own, which costs several times two plain appends and holds up the stream's
other appends meanwhile (the crew benchmark went from about 70 to 340 tasks/s).
"""

from __future__ import annotations

from typing import Any

from callsheet.agents import AgentRuntime
from callsheet.crew import worker_class
from callsheet.events.catalog import TaskAssigned, TaskAssignedData, TaskCheckpoint, TaskProgress
from callsheet.events.store import EventStore
from callsheet.models import OfflineModel
from tests.support import assert_eventually


async def test_each_step_is_a_checkpoint_then_its_progress_without_a_batch(
    store: EventStore, monkeypatch: Any
) -> None:
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
    assert len(checkpoints) == len([e for e in events if isinstance(e, TaskProgress)])
    assert batches == []  # no atomic batch on the way
