"""Helpers for tests of agents and projections: publish, then wait with a deadline.

Nothing here sleeps blindly: each wait follows the log (a subscription, caught up
first) until what it waits for is there, or fails after ``timeout`` seconds with
what it saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from callsheet.events.envelope import Event
from callsheet.events.store import Appended, EventStore, StoredEvent
from callsheet.projections import Projection

__all__ = ["publish", "wait_for_event", "wait_for_state"]

E = TypeVar("E", bound=Event)
S = TypeVar("S")


async def publish(
    store: EventStore,
    event_type: type[E],
    data: Any,
    *,
    goal: str,
    task: str | None = None,
    producer: str = "test",
    causation: str | None = None,
) -> E:
    """Make an event of ``event_type`` with ``data`` and append it; return the event.

    Example::

        await publish(store, GoalSubmitted, GoalSubmittedData(title="Ship it"), goal="g1")
    """
    event = event_type.new(
        data=data, goal_id=goal, task_id=task, producer=producer, causation_id=causation
    )
    appended: Appended = await store.append(event)
    assert appended.event_id == event.id
    return event


async def wait_for_event(
    store: EventStore,
    *,
    goal: str | None = None,
    task: str | None = None,
    types: Sequence[str] = (),
    where: Callable[[StoredEvent], bool] | None = None,
    timeout: float = 10.0,
) -> StoredEvent:
    """The first event of the log (already there, or still to come) that matches.

    Args:
        store: The log.
        goal: Only this goal's events.
        task: Only this task's events.
        types: Only these types (``task.result``) or categories (``task.*``).
        where: A further condition.
        timeout: Seconds to wait at most.

    Raises:
        AssertionError: Nothing matched within ``timeout`` (the message says how many
            events of the filter were seen).
    """
    seen = 0

    async def first() -> StoredEvent:
        nonlocal seen
        async with store.subscribe(goal_id=goal, task_id=task, types=list(types)) as sub:
            async for stored in sub:
                seen += 1
                if where is None or where(stored):
                    return stored
        raise AssertionError("the subscription ended")  # pragma: no cover

    try:
        return await asyncio.wait_for(first(), timeout)
    except TimeoutError:
        what = ", ".join(
            f"{k}={v!r}" for k, v in (("goal", goal), ("task", task), ("types", types)) if v
        )
        raise AssertionError(
            f"no matching event ({what or 'any'}) within {timeout:g} s; {seen} seen"
        ) from None


async def wait_for_state(
    store: EventStore,
    projection: Projection[S],
    check: Callable[[S], bool],
    *,
    goal: str | None = None,
    timeout: float = 10.0,
) -> S:
    """Fold the log into ``projection`` until ``check(state)`` is true; return that state.

    For a projection kept per goal (``board``, ``progress``), ``check`` gets the goal's
    own state (or the projection's empty state before its first event) when ``goal``
    is given.

    Raises:
        AssertionError: The state never passed ``check`` within ``timeout``.
    """
    state = projection.initial()
    last: Any = None

    def scoped(value: Any) -> Any:
        goals = getattr(value, "goals", None)
        if goal is None or goals is None:
            return value
        own = goals.get(goal)
        return own if own is not None else _empty_of(projection)

    async def fold() -> S:
        nonlocal state, last
        last = scoped(state)
        if check(last):
            return last  # type: ignore[no-any-return]
        async with store.subscribe(goal_id=goal) as sub:
            async for stored in sub:
                state = projection.fold(state, stored.event)
                last = scoped(state)
                if check(last):
                    return last  # type: ignore[no-any-return]
        raise AssertionError("the subscription ended")  # pragma: no cover

    try:
        return await asyncio.wait_for(fold(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"the {projection.name} state did not pass the check within {timeout:g} s; "
            f"the last state: {last!r}"[:2000]
        ) from None


def _empty_of(projection: Projection[Any]) -> Any:
    """The empty state of one goal of a per-goal projection (``Board()`` before any event)."""
    from callsheet.projections import board, progress

    make = {"board": board.initial, "progress": progress.initial}.get(projection.name)
    return make() if make is not None else None
