"""Projections: pure folds ``state x event -> state`` over the log.

Each projection module has a ``VERSION`` (bumped when its output changes, so
that saved snapshots are thrown away), an ``initial()`` state and a ``fold``.
State is immutable: a fold returns a new state and never changes the one it was
given, so any state can be kept, compared or shared. Events a projection does
not care about leave its state as it was.

``PROJECTIONS`` lists them all by name, as ``Projection`` values; ``replay``
folds a sequence of events (or stored events) from the initial state.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from callsheet.events.envelope import Event
from callsheet.events.store import StoredEvent
from callsheet.projections import (
    board,
    conflicts,
    context,
    costs,
    findings,
    fixes,
    liveness,
    progress,
    questions,
)
from callsheet.projections._common import Bulk, OneByOne, cycles_paused

__all__ = ["PROJECTIONS", "Projection", "feed_log", "replay", "replay_log"]

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Projection(Generic[S]):
    """A named, versioned fold.

    Attributes:
        name: Registry name, e.g. ``board``.
        version: The module's ``VERSION``: snapshots of another version are stale.
        initial: Returns the state before any event.
        fold: Returns the state after one more event; pure.
        bulk: Starts a faster many-event fold from a state (a ``Bulk`` whose
            results are the same values as folding one by one); ``None``: the
            events are folded one by one.
    """

    name: str
    version: int
    initial: Callable[[], S]
    fold: Callable[[S, Event], S]
    bulk: Callable[[S], Bulk[S]] | None = None

    def start(self, state: S) -> Bulk[S]:
        """Start a many-event fold from ``state`` (which it leaves untouched)."""
        if self.bulk is not None:
            return self.bulk(state)
        return OneByOne(state, self.fold)

    def fold_all(self, state: S, events: Iterable[Event]) -> S:
        """Fold ``events`` in order into ``state``; pure."""
        bulk = self.start(state)
        bulk.feed(events)
        return bulk.result()


PROJECTIONS: dict[str, Projection[Any]] = {
    p.name: p
    for p in (
        Projection("board", board.VERSION, board.initial_all, board.fold_all, board.start_all),
        Projection(
            "progress",
            progress.VERSION,
            progress.initial_all,
            progress.fold_all,
            progress.start_all,
        ),
        Projection("conflicts", conflicts.VERSION, conflicts.initial, conflicts.fold),
        Projection("costs", costs.VERSION, costs.initial, costs.fold),
        Projection("liveness", liveness.VERSION, liveness.initial, liveness.fold),
        Projection("context", context.VERSION, context.initial, context.fold),
        Projection("findings", findings.VERSION, findings.initial_all, findings.fold_all),
        Projection("fixes", fixes.VERSION, fixes.initial_all, fixes.fold_all),
        Projection("questions", questions.VERSION, questions.initial, questions.fold),
    )
}
"""Every projection, by name."""


def replay(
    projection: Projection[S],
    events: Iterable[StoredEvent | Event],
    until_seq: int | None = None,
    state: S | None = None,
) -> S:
    """Fold ``events`` in order and return the resulting state; pure.

    Args:
        projection: The projection to run.
        events: Events in log order: ``StoredEvent`` values (read from the store)
            or bare events. A bare event's position (1, 2, ...) stands for its seq.
        until_seq: Stop after the event at this sequence: the state "as of" it.
            ``None`` folds everything.
        state: A state to continue from (e.g. a snapshot); the initial state by default.

    Returns:
        The state after the last event folded.
    """
    current = projection.initial() if state is None else state

    def upto() -> Iterator[Event]:
        for position, item in enumerate(events, start=1):
            seq = item.seq if isinstance(item, StoredEvent) else position
            if until_seq is not None and seq > until_seq:
                return
            yield item.event if isinstance(item, StoredEvent) else item

    return projection.fold_all(current, upto())


async def feed_log(
    bulks: Iterable[Bulk[Any]],
    events: AsyncIterable[StoredEvent],
    *,
    until_seq: int | None = None,
    keep: Callable[[StoredEvent], bool] | None = None,
    chunk: int = 1000,
) -> int:
    """Feed events read from the log to bulk folds, a chunk at a time; return how many were read.

    Python's cyclic garbage collector is paused while it runs, since folds make
    no reference cycles (see ``cycles_paused``).

    Args:
        bulks: The folds under way (``Projection.start``), each fed every event kept.
        events: Stored events in log order.
        until_seq: Stop after this sequence.
        keep: Whether to fold an event (called once per event, in order); all by default.
        chunk: Events fed at a time (decoded events held at once).
    """
    feeding = list(bulks)
    batch: list[Event] = []
    append = batch.append
    read = 0
    with cycles_paused():
        async for stored in events:
            if until_seq is not None and stored.seq > until_seq:
                break
            read += 1
            if keep is not None and not keep(stored):
                continue
            append(stored.event)
            if len(batch) >= chunk:
                for bulk in feeding:
                    bulk.feed(batch)
                batch.clear()
        for bulk in feeding:
            bulk.feed(batch)
    return read


async def replay_log(
    projection: Projection[S],
    events: AsyncIterable[StoredEvent],
    *,
    until_seq: int | None = None,
    state: S | None = None,
    chunk: int = 1000,
) -> tuple[S, int]:
    """Fold events read from the log (``store.read(...)``) in bulk; return the state and count.

    The same value as ``replay``, for full rebuilds of large logs: one
    ``Projection.start`` bulk fold is fed the events a chunk at a time (for a
    per-goal projection, one private scratch map of goals for the whole run,
    frozen once at the end), by ``feed_log``.

    Args:
        projection: The projection to rebuild.
        events: Stored events in log order.
        until_seq: Stop after this sequence.
        state: A state to continue from (e.g. a snapshot); the initial state by default.
        chunk: Events fed to the fold at a time (decoded events held at once).
    """
    bulk = projection.start(projection.initial() if state is None else state)
    count = await feed_log([bulk], events, until_seq=until_seq, chunk=chunk)
    return bulk.result(), count
