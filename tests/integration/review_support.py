"""Running the review crew in the test's process on a tree made by the test."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callsheet.agents import Agent, AgentRuntime
from callsheet.events.catalog import Budget, GoalSubmitted, GoalSubmittedData, ReviewSpec
from callsheet.events.store import EventStore, StoredEvent
from callsheet.review import build_review_crew

REVIEW_WAIT = 120.0
"""Seconds a review of a test's small tree may take at most."""

ENDS = ("goal.completed", "goal.cancelled", "goal.rejected")


def make_tree(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


async def run_review(
    store: EventStore,
    path: Path,
    *,
    goal: str = "review-1",
    analysts: int = 2,
    crew: list[Agent] | None = None,
    budget: Budget | None = None,
    **spec: Any,
) -> list[StoredEvent]:
    """Review ``path`` with a crew in this process; return the goal's events once it ended."""
    agents = crew if crew is not None else build_review_crew(analysts=analysts, lease_seconds=10)
    async with AgentRuntime(store, agents):
        review = ReviewSpec(path=str(path), **spec)
        data = GoalSubmittedData(title="review", review=review, budget=budget)
        await store.append(GoalSubmitted.new(data=data, goal_id=goal, producer="test"))

        async def ended() -> None:
            async with store.subscribe(goal_id=goal) as sub:
                async for stored in sub:
                    if stored.event.event_type in ENDS:
                        return

        await asyncio.wait_for(ended(), REVIEW_WAIT)
    return [s async for s in store.read(goal_id=goal)]


def of_type(events: list[StoredEvent], kind: str) -> list[Any]:
    """The events of one type, as their typed events."""
    return [s.event for s in events if s.event.event_type == kind]
