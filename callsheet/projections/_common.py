"""Small helpers shared by the projections: copy-on-write maps, per-goal routing, time.

State is immutable: maps are plain ``dict`` objects that a fold never changes in
place; a fold builds a new map with ``assoc`` instead. The cost is a copy per
changed map per event, which is fine for a goal's few hundred tasks and keeps
every state a value that a replay can compare, snapshot or share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from callsheet.events.envelope import Event

__all__ = ["GoalMap", "assoc", "expiry", "per_goal"]

K = TypeVar("K")
V = TypeVar("V")
S = TypeVar("S")


def assoc(mapping: Mapping[K, V], key: K, value: V) -> dict[K, V]:
    """Return a copy of ``mapping`` with ``key`` set to ``value``; ``mapping`` is untouched."""
    return {**mapping, key: value}


def expiry(at: datetime, seconds: float) -> datetime | None:
    """Return ``at + seconds``, or ``None`` (never) when that is past the calendar's end."""
    try:
        return at + timedelta(seconds=seconds)
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True)
class GoalMap(Generic[S]):
    """A per-goal state for every goal seen: ``goals[goal_id]``."""

    goals: Mapping[str, S] = field(default_factory=dict)


def per_goal(
    initial: Callable[[], S], fold: Callable[[S, Event], S]
) -> Callable[[GoalMap[S], Event], GoalMap[S]]:
    """Lift a one-goal fold to a fold over every goal, routing each event by ``goal_id``."""

    def fold_all(state: GoalMap[S], event: Event) -> GoalMap[S]:
        before = state.goals.get(event.goal_id)
        after = fold(initial() if before is None else before, event)
        if after is before:
            return state
        return GoalMap(goals=assoc(state.goals, event.goal_id, after))

    return fold_all
