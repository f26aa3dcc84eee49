"""The shared-context entries an assignment names: what its worker receives.

An assignment's ``context_keys`` name the entries of the context store its task
needs: a key exactly, or every key with a prefix when the name ends in ``*``
(``convention.*``). The worker gets those entries and no others, as they were
when the task was assigned (``context.updated`` events of the goal stored before
the ``task.assigned``), so every delivery of the assignment, and its re-drive
from the recorded log, gets the same ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from callsheet.events.catalog import ContextUpdated, TaskAssigned
from callsheet.events.store import CorruptEventError, EventStore, StoredEvent
from callsheet.projections import context

__all__ = ["names", "read_scope", "scope"]

_log = logging.getLogger(__name__)


def _skip(error: CorruptEventError) -> None:
    # Not an entry of the context (a forged or broken message): the scope goes on without it.
    _log.error("context scope skips a corrupt message: %s", error)


def names(patterns: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The exact keys and the prefixes (``prefix*``) among an assignment's ``context_keys``."""
    exact = frozenset(p for p in patterns if not p.endswith("*"))
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
    return exact, prefixes


def scope(events: Iterable[StoredEvent], assigned: StoredEvent) -> dict[str, context.ContextEntry]:
    """The entries the assignment names, as of the assignment, by key; pure.

    Args:
        events: Events of the log in order (any goal, any type: others are skipped).
        assigned: The ``task.assigned`` (its sequence is the horizon).

    Returns:
        Each named key that has an entry, in the order of ``context_keys`` (keys a
        prefix names: in the order the store first saw them); an entry's history
        holds the values it had before, up to the assignment.
    """
    event = assigned.event
    assert isinstance(event, TaskAssigned)
    exact, prefixes = names(event.data.context_keys)
    if not exact and not prefixes:
        return {}
    state = context.initial()
    for stored in events:
        if stored.seq >= assigned.seq:
            break
        update = stored.event
        if not isinstance(update, ContextUpdated) or update.goal_id != event.goal_id:
            continue
        key = update.data.key
        if key in exact or key.startswith(prefixes):
            state = context.fold(state, update)
    found = {key: entry for (_, key), entry in state.entries.items()}
    ordered = {key: found[key] for key in event.data.context_keys if key in found}
    return {**ordered, **found}


async def read_scope(
    store: EventStore, assigned: StoredEvent
) -> Mapping[str, context.ContextEntry]:
    """``scope`` of the assignment, read from the log (only the goal's ``context.updated``).

    Nothing is read when the assignment names no key.
    """
    event = assigned.event
    assert isinstance(event, TaskAssigned)
    if not event.data.context_keys:
        return {}
    events = [
        stored
        async for stored in store.read(
            goal_id=event.goal_id,
            types=["context.updated"],
            until_seq=assigned.seq - 1,
            on_corrupt=_skip,
        )
    ]
    return scope(events, assigned)
