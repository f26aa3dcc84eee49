"""Group commit: concurrent appends gathered into atomic batches, one server sync for many.

With the server syncing to disk before each ack (``sync_interval: always``), one
``append`` per event pays one sync per event. ``GroupCommit`` queues the events
appended while a batch is in flight and sends them as the next atomic batch
(``EventStore.append_batch``), so a sync covers them all. Each caller still gets
its own ``Appended`` (its position), and its own error: a batch the server or
the catalog refuses is retried event by event, so one bad event fails only its
caller. An append with a fence (``expected_last_seq``) is not grouped: it goes
straight to the store (its order relative to queued events is not kept).
"""

from __future__ import annotations

import asyncio
import contextlib

from callsheet.events.envelope import Event
from callsheet.events.errors import AppendTimeout, EventError, StoreError
from callsheet.events.store import Appended, EventStore

__all__ = ["GroupCommit"]


class GroupCommit:
    """Appends to ``store`` grouped into atomic batches while one is in flight.

    Example:
        committer = GroupCommit(store)
        positions = await asyncio.gather(*(committer.append(e) for e in events))
    """

    def __init__(
        self, store: EventStore, *, max_batch: int | None = None, timeout: float = 10.0
    ) -> None:
        """Create it.

        Args:
            store: The store appended to.
            max_batch: Most events in one batch; the store's ``max_batch`` at most.
            timeout: Seconds a batch's commit may take.

        Raises:
            ValueError: ``max_batch`` below 1.
        """
        limit = store.config.max_batch
        if max_batch is not None and max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.store = store
        self.max_batch = min(max_batch or limit, limit)
        self.timeout = timeout
        self.batches = 0
        """Batches committed so far (for figures and tests)."""
        self._queue: list[tuple[Event, asyncio.Future[Appended]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, event: Event, *, expected_last_seq: int | None = None) -> Appended:
        """Append one event (in the next batch); return where it was stored.

        Raises:
            EventError: The event breaks the catalog.
            StoreError: The server refused it (a fence, a duplicate id with
                another body, an outage).
        """
        if expected_last_seq is not None:
            return await self.store.append(event, expected_last_seq=expected_last_seq)
        done: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.append((event, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Event, asyncio.Future[Appended]]]) -> None:
        if len(batch) == 1:
            await self._one(*batch[0])
            return
        try:
            stored = await self.store.append_batch([e for e, _ in batch], timeout=self.timeout)
        except AppendTimeout as exc:  # the outcome is unknown: every caller is told
            for _, done in batch:
                _fail(done, exc)
            return
        except (EventError, StoreError):
            # One bad event (or a duplicate) refuses the whole batch: each on its own,
            # so every caller gets its own position or its own error.
            for event, done in batch:
                await self._one(event, done)
            return
        except BaseException as exc:
            for _, done in batch:
                _fail(done, exc)
            raise
        self.batches += 1
        for (_, done), appended in zip(batch, stored, strict=True):
            if not done.done():
                done.set_result(appended)

    async def _one(self, event: Event, done: asyncio.Future[Appended]) -> None:
        try:
            appended = await self.store.append(event)
        except Exception as exc:
            _fail(done, exc)
            return
        self.batches += 1
        if not done.done():
            done.set_result(appended)


def _fail(done: asyncio.Future[Appended], exc: BaseException) -> None:
    if not done.done():
        with contextlib.suppress(asyncio.InvalidStateError):
            done.set_exception(exc)
