"""Small helpers shared by the projections: immutable maps, per-goal routing, time.

State is immutable: a fold never changes a map in place. Small maps (a goal's
tasks) are plain ``dict`` objects copied on write with ``assoc``; maps that grow
with the whole log (goals, agents, model calls) are persistent maps
(``pyrsistent.PMap``, set in O(log n)) written with ``passoc``. Both are
read-only ``Mapping`` values that compare equal by content (a ``PMap`` equals the
``dict`` with the same items), so any state can be kept, compared, snapshotted
(``plain`` turns it back into dicts) or shared.

``per_goal`` lifts a one-goal fold to every goal; ``per_goal_many`` folds many
events at once, with a scratch dict of goals instead of one new map per event
(for full replays: the result is the same value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from pyrsistent import PMap, pmap

from callsheet.events.envelope import Event

__all__ = ["GoalMap", "assoc", "expiry", "passoc", "pdiscard", "per_goal", "per_goal_many"]

K = TypeVar("K")
V = TypeVar("V")
S = TypeVar("S")


def assoc(mapping: Mapping[K, V], key: K, value: V) -> dict[K, V]:
    """Return a copy of ``mapping`` with ``key`` set to ``value``; ``mapping`` is untouched."""
    return {**mapping, key: value}


def passoc(mapping: Mapping[K, V], key: K, value: V) -> PMap[K, V]:
    """Return ``mapping`` with ``key`` set to ``value``, as a persistent map; O(log n).

    A plain mapping (e.g. one decoded from a snapshot) is turned into a
    persistent map once; ``mapping`` itself is untouched.
    """
    base = mapping if isinstance(mapping, PMap) else pmap(mapping)
    return base.set(key, value)


def pdiscard(mapping: Mapping[K, V], key: K) -> PMap[K, V]:
    """Return ``mapping`` without ``key`` (if it had it), as a persistent map."""
    base = mapping if isinstance(mapping, PMap) else pmap(mapping)
    return base.discard(key)


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
        return GoalMap(goals=passoc(state.goals, event.goal_id, after))

    return fold_all


def per_goal_many(
    initial: Callable[[], S], fold: Callable[[S, Event], S]
) -> Callable[[GoalMap[S], Iterable[Event]], GoalMap[S]]:
    """Like ``per_goal``, for many events at once: one scratch dict, one map at the end.

    The result equals folding the events one by one; the state given is untouched.
    """

    def fold_many(state: GoalMap[S], events: Iterable[Event]) -> GoalMap[S]:
        goals: dict[str, S] = dict(state.goals)
        changed = False
        for event in events:
            before = goals.get(event.goal_id)
            after = fold(initial() if before is None else before, event)
            if after is not before:
                goals[event.goal_id] = after
                changed = True
        return GoalMap(goals=pmap(goals)) if changed else state

    return fold_many
