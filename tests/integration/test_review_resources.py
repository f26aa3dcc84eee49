"""A project's test suite is an exclusive resource: runs wait their turn, and say so."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from callsheet.agents import AgentRuntime
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData, ReviewSpec, ToolCalled
from callsheet.events.store import EventStore
from callsheet.projections import PROJECTIONS, replay
from callsheet.review import build_review_crew
from callsheet.review.resources import resource_lease
from tests.integration.review_support import ENDS, REVIEW_WAIT, make_tree, of_type
from tests.support import assert_eventually

PROJECT = {
    "calc/__init__.py": "",
    "calc/ops.py": "def add(a, b):\n    return a + b\n",
    "tests/test_ops.py": (
        "from calc.ops import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    ),
}


async def test_two_reviews_of_one_tree_queue_for_its_test_suite_and_the_board_shows_who_waits(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", PROJECT)
    outsider = resource_lease(store, "test-suite", str(tree), "someone/else")
    await outsider.take_once()  # the suite is busy when both reviews want it
    goals = ["review-a", "review-b"]
    async with AgentRuntime(store, build_review_crew(analysts=2, lease_seconds=10)):
        for goal in goals:
            data = GoalSubmittedData(
                title="review", review=ReviewSpec(path=str(tree), perspectives=["tests"])
            )
            await store.append(GoalSubmitted.new(data=data, goal_id=goal, producer="test"))

        async def both_wait() -> bool:
            events = [s async for s in store.read(types=["task.blocked"])]
            return {s.event.goal_id for s in events} >= set(goals)

        await assert_eventually(
            both_wait, timeout=REVIEW_WAIT, message="both reviews' test runs blocked on the lease"
        )
        for goal in goals:
            board = replay(PROJECTIONS["board"], [s async for s in store.read(goal_id=goal)])
            (card,) = [c for c in board.goals[goal].tasks.values() if c.status == "blocked"]
            assert card.reason == "waiting for the test-suite"
        await outsider.release()

        async def both_end() -> bool:
            ends = [s async for s in store.read(types=list(ENDS))]
            return {s.event.goal_id for s in ends} >= set(goals)

        await assert_eventually(both_end, timeout=REVIEW_WAIT, message="both reviews ended")
    runs = []
    for goal in goals:
        events = [s async for s in store.read(goal_id=goal)]
        (done,) = of_type(events, "goal.completed")
        assert done.data.outcome == "succeeded"
        (conflict,) = of_type(events, "conflict.detected")
        assert conflict.data.kind == "resource" and "someone/else" in conflict.data.description
        (settled,) = of_type(events, "conflict.resolved")
        assert settled.data.resolution == "queued"
        (blocked,) = of_type(events, "task.blocked")
        assert blocked.data.needs.endswith("held by someone/else")
        calls = [c for c in of_type(events, "tool.called") if c.data.tool == "pytest"]
        assert calls
        runs += [c for c in calls if isinstance(c, ToolCalled) and c.data.command]
    # One at a time: no run of the suite began before the one before it had ended.
    spans = sorted(
        (c.occurred_at - timedelta(milliseconds=c.data.duration_ms), c.occurred_at) for c in runs
    )
    assert len(spans) >= 2
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - timedelta(milliseconds=50), spans
