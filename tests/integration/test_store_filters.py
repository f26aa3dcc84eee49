"""Reading with type filters that overlap: a type and its category together."""

from __future__ import annotations

from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.store import EventStore


async def test_a_type_and_its_category_read_each_event_once(store: EventStore) -> None:
    goal = GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g", producer="p")
    step = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=5.0), goal_id="g", task_id="t1", producer="w"
    )
    await store.append(goal)
    await store.append(step)
    # JetStream refuses overlapping filters (cs...task.* and cs...task.progress).
    read = [s.event.id async for s in store.read(types=["task.*", "task.progress"])]
    assert read == [step.id]
    both = [s.event.id async for s in store.read(types=["task.progress", "goal.*", "task.*"])]
    assert both == [goal.id, step.id]
