"""Keeps a projection's state up to date with the log: snapshot, catch-up, then live.

``catch_up`` starts from the projection's snapshot when there is a valid one and
reads only the events after it; ``run`` then follows the log live on one ordered
consumer. The state always equals ``replay(projection, events)`` up to ``seq``,
except for events set aside in the quarantine (see ``quarantine``): a fold that
raises, or a message that is not an event, is recorded and skipped rather than
stopping the view.

Snapshots are taken every ``snapshot_every`` events, but never so often that
saving them takes more than ``snapshot_share`` of the runner's time: after a
snapshot that took ``t`` seconds, the next waits at least ``t / share - t``. A
large state (a few MB for a million-event board) is then saved a few times
during a long catch-up instead of once every thousand events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from callsheet.events.store import CorruptEventError, EventStore, StoredEvent
from callsheet.projections import Projection
from callsheet.projections.quarantine import Quarantine, QuarantinedEvent
from callsheet.projections.snapshots import SnapshotError, SnapshotPacer, SnapshotStore

__all__ = ["ProjectionRunner"]

S = TypeVar("S")

_log = logging.getLogger(__name__)


class ProjectionRunner(Generic[S]):
    """Runs one projection over the log (or one goal's part of it).

    Attributes:
        state: The current state.
        seq: The last stream sequence folded (or quarantined); 0 before any.
        started_from: The sequence of the snapshot the runner started from (0: none).
        events_read: Messages read from the log by this runner, corrupt ones included.
        snapshots_saved: Snapshots this runner saved.
        quarantine: Events set aside.
        live: Set while ``run`` follows the log live, after its catch-up.
    """

    def __init__(
        self,
        store: EventStore,
        projection: Projection[S],
        *,
        snapshots: SnapshotStore | None = None,
        snapshot_every: int = 1000,
        snapshot_share: float = 0.05,
        goal_id: str | None = None,
        quarantine: Quarantine | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare a runner; nothing is read until ``catch_up`` or ``run``.

        Args:
            store: The event log.
            projection: The projection to keep up to date.
            snapshots: Where to load and save snapshots; ``None`` for none.
            snapshot_every: Save a snapshot after this many events (and on stop).
            snapshot_share: Most of the runner's time that saving snapshots may take
                (0.05: 5 %); a slow snapshot delays the next one accordingly.
            goal_id: Fold only this goal's events; snapshots and quarantine are scoped to it.
            quarantine: Where to set bad events aside; by default the stream's
                ``{stream}_QUARANTINE`` bucket.
            clock: Seconds, monotonic (tests give their own).

        Raises:
            ValueError: ``snapshot_every`` below 1, or ``snapshot_share`` not in (0, 1].
        """
        self._store = store
        self.projection = projection
        self._snapshots = snapshots
        self._pacer = SnapshotPacer(snapshot_every, snapshot_share, clock)
        self.snapshots_saved = 0
        self.goal_id = goal_id
        config = store.config
        self.quarantine = quarantine or Quarantine(
            store.nc, config.stream, projection.name, scope=goal_id, replicas=config.replicas
        )
        self.state: S = projection.initial()
        self.seq = 0
        self.started_from = 0
        self.events_read = 0
        self._loaded = False
        self._snapshot_seq = 0
        self._stopping = False
        self._next: asyncio.Future[StoredEvent] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.live = asyncio.Event()
        """Set while ``run`` follows the log live (after its catch-up)."""

    # -- folding --------------------------------------------------------------

    async def _apply(self, stored: StoredEvent) -> None:
        self.events_read += 1
        try:
            self.state = self.projection.fold(self.state, stored.event)
        except Exception as exc:  # any fold bug: set the event aside, keep the view going
            _log.warning(
                "projection %s failed on event %s at %d: %r",
                self.projection.name,
                stored.event.id,
                stored.seq,
                exc,
            )
            await self.quarantine.add(
                QuarantinedEvent.fold_failed(self.projection.name, stored, exc)
            )
        self._advance(stored.seq)

    async def _corrupt(self, error: CorruptEventError) -> None:
        self.events_read += 1
        _log.warning("projection %s skips a corrupt message: %s", self.projection.name, error)
        await self.quarantine.add(QuarantinedEvent.corrupt(self.projection.name, error))
        self._advance(error.seq)

    def _advance(self, seq: int) -> None:
        self.seq = max(self.seq, seq)
        self._pacer.count()
        if self._waiters:
            ready = [(s, f) for s, f in self._waiters if s <= self.seq]
            self._waiters = [(s, f) for s, f in self._waiters if s > self.seq]
            for _, future in ready:
                if not future.done():
                    future.set_result(None)

    # -- snapshots ------------------------------------------------------------

    async def _load(self) -> None:
        self._loaded = True
        await self.quarantine.load()
        if self._snapshots is None:
            return
        loaded = await self._snapshots.load(self.projection, scope=self.goal_id)
        if loaded is not None:
            self.state, self.seq = loaded
            self.started_from = self._snapshot_seq = self.seq

    async def snapshot(self) -> bool:
        """Save the current state as a snapshot, unless it covers nothing new.

        Returns:
            Whether a snapshot was saved. A state that cannot be encoded is logged
            and not saved: the runner goes on, only a cold start will be slower.
        """
        if self._snapshots is None or self.seq <= self._snapshot_seq:
            return False
        try:
            # Paced even when refused, so a state that cannot be encoded is not
            # re-encoded after every event.
            with self._pacer.saving():
                await self._snapshots.save(
                    self.projection.name,
                    self.projection.version,
                    self.seq,
                    self.state,
                    scope=self.goal_id,
                )
        except SnapshotError as exc:
            _log.warning("no snapshot of %s at %d: %s", self.projection.name, self.seq, exc)
            return False
        self._snapshot_seq = self.seq
        self.snapshots_saved += 1
        return True

    async def _maybe_snapshot(self) -> None:
        if self._pacer.due:
            await self.snapshot()

    # -- running --------------------------------------------------------------

    async def catch_up(self) -> S:
        """Fold every event up to the current end of the log and return the state.

        The first call starts from a valid snapshot, if there is one, and reads
        only the events after it.
        """
        if not self._loaded:
            await self._load()
        while True:
            try:
                async for stored in self._store.read(goal_id=self.goal_id, from_seq=self.seq + 1):
                    await self._apply(stored)
                    await self._maybe_snapshot()
                return self.state
            except CorruptEventError as exc:
                # ``read`` ends at a bad message: set it aside and read on after it.
                await self._corrupt(exc)
                await self._maybe_snapshot()

    async def run(self) -> None:
        """Catch up, then fold new events as they are stored, until ``stop``.

        A snapshot is saved every ``snapshot_every`` events and when stopping.
        """
        try:
            await self.catch_up()
            await self._follow()
        except BaseException:
            try:  # best effort: the error that stopped the runner matters more
                await self.snapshot()
            except Exception:
                _log.exception("no snapshot of %s on error", self.projection.name)
            raise
        finally:
            self.live.clear()
            self._stopping = False  # ready to run again
        await self.snapshot()

    async def _follow(self) -> None:
        async with self._store.subscribe(
            goal_id=self.goal_id, from_seq=self.seq + 1
        ) as subscription:
            # From here on every new event reaches the subscription, whenever its
            # consumer is created: it starts at a fixed position.
            self.live.set()
            while not self._stopping:
                self._next = asyncio.ensure_future(subscription.__anext__())
                try:
                    stored = await self._next
                except CorruptEventError as exc:
                    # The subscription survives a bad message: only its decoding failed.
                    await self._corrupt(exc)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if self._stopping and (task is None or not task.cancelling()):
                        break  # ``stop`` cancelled the wait for the next event
                    raise
                else:
                    await self._apply(stored)
                finally:
                    self._next = None
                await self._maybe_snapshot()

    def stop(self) -> None:
        """Make ``run`` return (after saving a snapshot); safe to call at any time.

        A catch-up in progress finishes first; the wait for a live event is cut short.
        """
        self._stopping = True
        if self._next is not None:
            self._next.cancel()

    async def wait_for_seq(self, seq: int, timeout: float = 10.0) -> S:
        """Wait until the state covers stream sequence ``seq`` and return it.

        With ``goal_id`` set, ``seq`` must be one of that goal's events (or before one
        already folded): other goals' events never move the runner.

        Raises:
            TimeoutError: ``seq`` was not reached within ``timeout`` seconds.
        """
        if self.seq < seq:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((seq, future))
            try:
                await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"projection {self.projection.name} at {self.seq}, not {seq}, after {timeout}s"
                ) from None
            finally:
                self._waiters = [(s, f) for s, f in self._waiters if f is not future]
        return self.state

    # -- quarantine -----------------------------------------------------------

    async def retry_quarantined(self) -> list[QuarantinedEvent]:
        """Fold the quarantined events again, in order, onto the current state.

        Meant for after a fold is fixed. Each event is applied to the state as it is
        now, not at its position in the log, so the result equals a full replay only
        when the event commutes with the ones after it; a rebuild (``catch_up`` with
        no snapshot) is the exact alternative. Entries that fold now are removed;
        the rest (still failing, or not events at all) stay.

        Returns:
            The entries that now folded.
        """
        await self.quarantine.load()
        done: list[QuarantinedEvent] = []
        for entry in list(self.quarantine.entries):
            try:
                stored = await self._store.get(entry.seq)
            except CorruptEventError:
                continue
            try:
                self.state = self.projection.fold(self.state, stored.event)
            except Exception as exc:  # still failing: leave it quarantined
                _log.info("quarantined event at %d still fails: %r", entry.seq, exc)
                continue
            done.append(entry)
        await self.quarantine.remove({e.seq for e in done})
        return done
