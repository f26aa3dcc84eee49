"""The shared context store (the team wiki): the current entry per key, with history.

Entries are keyed by ``(goal_id, key)``: the store is shared by a goal's crew,
and two goals may use the same key for different things. The latest update in
log order is the current entry; the entries it replaced are kept, oldest first,
in its ``history``. ``stale`` flags an update that named, as the entry it
supersedes, something other than the entry that was current: two writers raced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callsheet.events.catalog import ContextUpdated
from callsheet.events.envelope import Event
from callsheet.projections._common import assoc

__all__ = [
    "VERSION",
    "ContextEntry",
    "ContextRevision",
    "ContextStore",
    "current",
    "fold",
    "initial",
    "of_kind",
]

VERSION = 1
"""Bumped whenever the fold's output changes, to invalidate snapshots."""


@dataclass(frozen=True, slots=True)
class ContextRevision:
    """One value an entry had.

    Attributes:
        event_id: The ``context.updated`` event that set it.
        kind: What kind of knowledge it is.
        value: The content (JSON), shared with the event: never change it.
        author: Agent that wrote it.
        rationale: Why, for decisions.
        updated_at: When it was written.
    """

    event_id: str
    kind: str
    value: Any
    author: str
    rationale: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """The current value of a key, and the values it replaced.

    Attributes:
        goal_id: The goal whose crew shares it.
        key: Entry key.
        current: The value now.
        history: Replaced values, oldest first.
        stale: Whether the latest update superseded something other than the
            entry that was current (a lost update).
    """

    goal_id: str
    key: str
    current: ContextRevision
    history: tuple[ContextRevision, ...] = ()
    stale: bool = False

    @property
    def kind(self) -> str:
        """Kind of the current value."""
        return self.current.kind

    @property
    def value(self) -> Any:
        """The current value."""
        return self.current.value


@dataclass(frozen=True, slots=True)
class ContextStore:
    """Every entry, by ``(goal_id, key)``, in order of first appearance."""

    entries: Mapping[tuple[str, str], ContextEntry] = field(default_factory=dict)


def initial() -> ContextStore:
    """Return the empty store."""
    return ContextStore()


def fold(state: ContextStore, event: Event) -> ContextStore:
    """Return the store after ``event``; never mutates ``state``."""
    if not isinstance(event, ContextUpdated):
        return state
    d = event.data
    key = (event.goal_id, d.key)
    revision = ContextRevision(
        event_id=event.id,
        kind=d.kind,
        value=d.value,
        author=d.author,
        rationale=d.rationale,
        updated_at=event.occurred_at,
    )
    before = state.entries.get(key)
    if before is None:
        entry = ContextEntry(goal_id=event.goal_id, key=d.key, current=revision)
    else:
        stale = d.supersedes is not None and d.supersedes != before.current.event_id
        entry = ContextEntry(
            goal_id=event.goal_id,
            key=d.key,
            current=revision,
            history=(*before.history, before.current),
            stale=stale,
        )
    return ContextStore(entries=assoc(state.entries, key, entry))


def current(state: ContextStore, goal_id: str, key: str) -> ContextEntry | None:
    """Return the entry of ``key`` in ``goal_id``'s store, if set."""
    return state.entries.get((goal_id, key))


def of_kind(state: ContextStore, kind: str, goal_id: str | None = None) -> list[ContextEntry]:
    """Return the entries whose current value is of ``kind``, of one goal or of all."""
    return [e for e in state.entries.values() if e.kind == kind and goal_id in (None, e.goal_id)]
