"""Feeding a ``GoalsView`` from the log: catch up, then follow live on one subscription."""

from __future__ import annotations

from collections.abc import Callable

from callsheet.events.store import EventStore, StoredEvent
from callsheet.views.goals import GoalsView

__all__ = ["feed"]


async def feed(
    store: EventStore,
    view: GoalsView,
    changed: Callable[[str, StoredEvent], None],
    *,
    goal_id: str | None = None,
) -> None:
    """Fold every event of the log (or of one goal) into ``view``, forever, as it is appended.

    ``changed(goal, stored)`` is called after each event is folded;
    ``stored.pending`` tells how many more are already waiting (0: caught up),
    so a caller can redraw once per burst rather than once per event. The
    subscription is the store's ordered one: no gap and no duplicate between
    the catch-up and the live part, and no polling.
    """
    async with store.subscribe(goal_id=goal_id, from_seq=view.seq + 1 if view.seq else None) as sub:
        async for stored in sub:
            if stored.seq <= view.seq:
                continue
            changed(view.fold(stored), stored)
