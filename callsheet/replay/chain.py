"""Causal chains: follow ``causation_id`` from an event back to its root."""

from __future__ import annotations

from collections.abc import Iterable

from callsheet.events.store import StoredEvent

__all__ = ["UnknownEventError", "causal_chain", "index_by_id"]


class UnknownEventError(LookupError):
    """No event with this id is in the events given."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no event with id {event_id} in the log")
        self.event_id = event_id


def index_by_id(events: Iterable[StoredEvent]) -> dict[str, StoredEvent]:
    """Index stored events by event id (the first occurrence wins)."""
    index: dict[str, StoredEvent] = {}
    for stored in events:
        index.setdefault(stored.event.id, stored)
    return index


def causal_chain(
    events: Iterable[StoredEvent], event_id: str
) -> tuple[list[StoredEvent], str | None]:
    """Return the chain of causes that led to an event, root first; pure.

    Args:
        events: The events to look in (e.g. the event's goal, or the whole log).
        event_id: The event to explain.

    Returns:
        ``(chain, missing)``: the events from the earliest known cause to the event
        itself, and the id of a cause that is not among ``events`` (``None`` when the
        chain reaches a root with no cause).

    Raises:
        UnknownEventError: ``event_id`` is not among ``events``.
    """
    index = index_by_id(events)
    current = index.get(event_id)
    if current is None:
        raise UnknownEventError(event_id)
    chain = [current]
    seen = {event_id}
    missing: str | None = None
    while (cause := chain[-1].event.causation_id) is not None and cause not in seen:
        found = index.get(cause)
        if found is None:
            missing = cause
            break
        seen.add(cause)
        chain.append(found)
    chain.reverse()
    return chain, missing
