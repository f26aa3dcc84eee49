"""Aggregate and application recorders of the ``eventsourcing`` library, in callsheet's log.

Every library ``StoredEvent`` is stored as an ordinary ``aggregate.recorded``
event of the log (see ``callsheet.events.catalog.aggregates``), through the
log's own ``EventStore``, so agents and projections read it like any other event:

========================  ===========================================================
library                   callsheet event
========================  ===========================================================
notification id           stream sequence of the log (gaps where other events sit)
application               ``goal_id`` and ``correlation_id`` (``ESDB_GOAL``)
originator id             ``task_id`` (the entity); ``data.id_kind`` says uuid or str
originator version        ``data.originator_version``
topic                     ``data.topic``
state                     ``data.state``, byte for byte (base64 in the JSON body)
========================  ===========================================================

Subject: ``{root}.ev.{goal}.task.{originator}.~.aggregate.recorded``.

Guarantees, and how each is obtained:

- **(originator id, version) is unique**, enforced by the server: before a write the
  recorder reads the last event of each originator (one direct get); a version at or
  below the stored one raises ``IntegrityError`` (versions of an originator only
  grow, as aggregates produce them). The first event of each originator in the
  write carries the originator's last sequence as the expectation (over its entity
  range, ``{root}.ev.{goal}.task.{originator}.>``), so a concurrent writer that got
  there first makes the server refuse the whole write; the recorder then re-reads,
  and raises ``IntegrityError`` if the versions are now taken.
- **A lost acknowledgement is not a conflict.** Event ids are made once per write; a
  retry after a timeout sends the same ids with the same expectations. The server
  checks expectations before dedup, so a retry of a write that was in fact
  committed is refused; the store then finds its own events and returns their
  positions (``EventStore.append``/``append_batch``).
- **Multi-event writes are atomic** (JetStream atomic batch publish): all events are
  stored at consecutive sequences, or none. A write of more events than a batch may
  hold (``max_batch``, 1000 as the server's default) raises ``BatchTooLargeError``
  before anything is sent; it is never split.
- **Events over the server's message size** are kept whole in the log's Object Store
  bucket, the log holding a pointer, as for any large event of the log.
- **Subscriptions wake only on committed events**: they are ordered JetStream
  consumers, which never see an uncommitted batch.
- **Snapshots are not notifications**: the snapshot recorder writes to its own
  stream (and subject root), so they never appear among the application's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from uuid import UUID

import nats.errors
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    IntegrityError,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Subscription,
)

from callsheet.esdb.bridge import LoopBridge
from callsheet.events.catalog import AggregateRecorded, AggregateRecordedData
from callsheet.events.errors import (
    AppendError,
    AppendTimeout,
    ConcurrencyConflict,
    EventError,
    StoreError,
    StreamConfigError,
)
from callsheet.events.errors import BatchTooLargeError as StoreBatchTooLargeError
from callsheet.events.ids import fit_id_bytes, new_event_id
from callsheet.events.store import EventStore
from callsheet.events.store import StoredEvent as LogEvent
from callsheet.events.stream import StoreConfig, ensure_stream
from callsheet.events.subjects import encode_token

__all__ = [
    "AGGREGATE_TYPE",
    "BatchTooLargeError",
    "JetStreamAggregateRecorder",
    "JetStreamApplicationRecorder",
    "JetStreamSubscription",
]

AGGREGATE_TYPE: Final = "aggregate.recorded"
_TYPES: Final = [AGGREGATE_TYPE]
_ATTEMPTS: Final = 5
_MAX_ID: Final = 128
T = TypeVar("T")


class BatchTooLargeError(ProgrammingError):
    """A write has more events than the server accepts in one atomic batch."""

    def __init__(self, size: int, limit: int | None) -> None:
        self.size = size
        self.limit = limit
        most = "the server's limit" if limit is None else f"at most {limit}"
        super().__init__(
            f"{size} events cannot be written atomically: an atomic batch holds {most} "
            "messages (the server's jetstream max_batch_size)"
        )


def _library_event(event: AggregateRecorded) -> StoredEvent:
    data = event.data
    key = event.task_id or ""
    return StoredEvent(
        originator_id=UUID(key) if data.id_kind == "uuid" else key,
        originator_version=data.originator_version,
        topic=data.topic,
        state=data.state,
    )


def _aggregate(stored: LogEvent) -> AggregateRecorded:
    event = stored.event
    if not isinstance(event, AggregateRecorded):  # the filters select nothing else
        raise OperationalError(f"event at {stored.seq} is {event.event_type}, not {AGGREGATE_TYPE}")
    return event


async def _mapped(work: Awaitable[T]) -> T:
    """Await ``work``, turning callsheet and NATS errors into the library's."""
    try:
        return await work
    except EventError as exc:
        raise DataError(str(exc)) from exc
    except StreamConfigError as exc:
        raise ProgrammingError(str(exc)) from exc
    except (StoreError, nats.errors.Error) as exc:
        raise OperationalError(f"{type(exc).__name__}: {exc}") from exc


class JetStreamAggregateRecorder(AggregateRecorder):
    """Records and selects an aggregate's events as ``aggregate.recorded`` events of a log."""

    def __init__(
        self,
        bridge: LoopBridge,
        config: StoreConfig,
        *,
        goal: str,
        producer: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Make a recorder; call ``create_stream`` (the factory does) before use.

        Args:
            bridge: The event-loop thread and NATS connection to use.
            config: The log's stream, subject root, blob bucket and batch limit.
            goal: The goal id the application's events are recorded under.
            producer: The ``producer`` of the events (``esdb-{goal}`` by default).
            timeout: Seconds to wait for the server's acknowledgement of a write.

        Raises:
            ProgrammingError: The goal cannot be an id of the log.
        """
        if not goal or len(goal) > _MAX_ID:
            raise ProgrammingError(f"goal id {goal!r} must be 1 to {_MAX_ID} characters")
        try:
            encode_token(goal)
        except EventError as exc:
            raise ProgrammingError(f"goal id {goal!r}: {exc}") from exc
        self.bridge = bridge
        self.config = config
        self.goal = goal
        self.producer = fit_id_bytes(producer or f"esdb-{goal}")  # an id: 128 UTF-8 bytes
        self.timeout = timeout
        self.store = EventStore(bridge.nc, config)

    @property
    def max_batch(self) -> int:
        """Most events written in one call."""
        return self.config.max_batch

    @property
    def notification_filter(self) -> str:
        """The subject filter of this application's events in the log."""
        return self.store.filters(goal_id=self.goal, types=_TYPES)[0]

    def _run(self, work: Callable[[], Awaitable[T]], *, timeout: float | None = 60.0) -> T:
        return self.bridge.run(lambda: _mapped(work()), timeout=timeout)

    def create_stream(self) -> None:
        """Create the log's stream, or check that an existing one keeps its guarantees."""
        self._run(lambda: ensure_stream(self.store.nc.jetstream(), self.config))

    # -- write ----------------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Write events atomically.

        Raises:
            IntegrityError: An (originator id, version) is already recorded.
            BatchTooLargeError: More events than an atomic batch may hold.
            DataError: An id, topic or version cannot be stored.
            OperationalError: The server did not acknowledge the write.
        """
        self._insert(stored_events)
        return None

    def _insert(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        if not stored_events:
            return []
        if len(stored_events) > self.max_batch:
            raise BatchTooLargeError(len(stored_events), self.max_batch)
        events = self._prepare(stored_events)
        return self._run(lambda: self._write(events), timeout=None)

    def _prepare(self, stored_events: Sequence[StoredEvent]) -> list[AggregateRecorded]:
        now = datetime.now(UTC)
        last_version: dict[str, int] = {}
        events = []
        for stored in stored_events:
            key = str(stored.originator_id)
            version = stored.originator_version
            previous = last_version.get(key)
            if previous is not None and version <= previous:
                raise IntegrityError(
                    f"versions of originator {key} in one write must increase: "
                    f"{version} follows {previous}"
                )
            last_version[key] = version
            data = AggregateRecordedData(
                originator_version=version,
                topic=stored.topic,
                state=bytes(stored.state),
                id_kind="uuid" if isinstance(stored.originator_id, UUID) else "str",
            )
            events.append(
                AggregateRecorded(
                    id=new_event_id(),
                    occurred_at=now,
                    producer=self.producer,
                    correlation_id=self.goal,
                    goal_id=self.goal,
                    task_id=key,
                    data=data,
                )
            )
        return events

    async def _write(self, events: list[AggregateRecorded]) -> list[int]:
        firsts: dict[str, AggregateRecorded] = {}
        for event in events:
            firsts.setdefault(event.task_id or "", event)
        expected = await self._expectations(firsts)
        for _attempt in range(_ATTEMPTS):
            try:
                if len(events) == 1:
                    only = events[0]
                    appended = [
                        await self.store.append(
                            only,
                            expected_last_seq=expected[only.task_id or ""],
                            timeout=self.timeout,
                            retries=0,
                        )
                    ]
                else:
                    appended = await self.store.append_batch(
                        events,
                        expected={(self.goal, key): seq for key, seq in expected.items()},
                        timeout=self.timeout,
                    )
            except AppendTimeout:
                # Same ids, same expectations: if the write was committed, the
                # retry is refused and the store finds the events as ours.
                continue
            except ConcurrencyConflict:
                expected = await self._expectations(firsts)  # IntegrityError if taken
                continue
            except StoreBatchTooLargeError as exc:
                raise BatchTooLargeError(len(events), exc.limit) from exc
            except AppendError as exc:
                raise OperationalError(f"the server refused the write: {exc}") from exc
            return [a.seq for a in appended]
        raise OperationalError(
            f"write of {len(events)} events not acknowledged after {_ATTEMPTS} attempts; "
            "it may or may not be recorded"
        )

    async def _expectations(self, firsts: dict[str, AggregateRecorded]) -> dict[str, int]:
        keys = list(firsts)
        lasts = await asyncio.gather(*(self._last(key) for key in keys))
        expected = {}
        for key, (seq, version) in zip(keys, lasts, strict=True):
            first_version = firsts[key].data.originator_version
            if version is not None and first_version <= version:
                raise IntegrityError(
                    f"originator {key} already has version {version}; "
                    f"cannot record version {first_version}"
                )
            expected[key] = seq
        return expected

    async def _last(self, key: str) -> tuple[int, int | None]:
        """Return (last sequence of the entity, last recorded version), or (0, None)."""
        last = await self.store.last(self.goal, key)
        if last is None:
            return 0, None
        if isinstance(last.event, AggregateRecorded):
            return last.seq, last.event.data.originator_version
        # Another kind of event under the same id: the version is further back.
        recorded = await self.store.last(self.goal, key, types=_TYPES)
        version = None if recorded is None else _aggregate(recorded).data.originator_version
        return last.seq, version

    # -- read -----------------------------------------------------------------

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """Return an originator's events, by version."""
        return self._run(
            lambda: self._select_events(str(originator_id), gt=gt, lte=lte, desc=desc, limit=limit)
        )

    async def _select_events(
        self, key: str, *, gt: int | None, lte: int | None, desc: bool, limit: int | None
    ) -> list[StoredEvent]:
        if limit is not None and limit <= 0:
            return []
        if desc and limit == 1:
            # The latest event (the latest snapshot, usually): one direct read.
            last = await self.store.last(self.goal, key, types=_TYPES)
            if last is None:
                return []
            latest = _library_event(_aggregate(last))
            if lte is None or latest.originator_version <= lte:
                return [latest] if gt is None or latest.originator_version > gt else []
        events = [
            e
            for e in [
                _library_event(_aggregate(s))
                async for s in self.store.read(goal_id=self.goal, task_id=key, types=_TYPES)
            ]
            if (gt is None or e.originator_version > gt)
            and (lte is None or e.originator_version <= lte)
        ]
        if desc:
            events.reverse()
        return events[:limit] if limit is not None else events


class JetStreamApplicationRecorder(JetStreamAggregateRecorder, ApplicationRecorder):
    """Records events in aggregate sequences and in the application sequence (log order)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Write events atomically; return their notification ids (log sequences).

        Raises:
            IntegrityError: An (originator id, version) is already recorded.
            BatchTooLargeError: More events than an atomic batch may hold.
            DataError: An id, topic or version cannot be stored.
            OperationalError: The server did not acknowledge the write.
        """
        return self._insert(stored_events)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Return notifications in order, from ``start`` up to ``stop``, at most ``limit``.

        Topics are matched on the client: the log's subjects do not carry them.
        """
        first = (start or 1) if inclusive_of_start else (start or 0) + 1
        return self._run(lambda: self._select_notifications(first, limit, stop, topics))

    async def _select_notifications(
        self, first: int, limit: int, stop: int | None, topics: Sequence[str]
    ) -> list[Notification]:
        found: list[Notification] = []
        if limit <= 0 or (stop is not None and stop < first):
            return found
        wanted = frozenset(topics)
        reading = self.store.read(goal_id=self.goal, types=_TYPES, from_seq=first, until_seq=stop)
        async with contextlib.aclosing(reading) as events:
            async for stored in events:
                event = _aggregate(stored)
                if not wanted or event.data.topic in wanted:
                    found.append(_notification(stored.seq, event))
                    if len(found) >= limit:
                        break
        return found

    def max_notification_id(self) -> int | None:
        """Return the last notification id, or None when nothing is recorded."""
        return self._run(self._max_notification_id)

    async def _max_notification_id(self) -> int | None:
        last = await self.store.last(self.goal, types=_TYPES)
        return None if last is None else last.seq

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> JetStreamSubscription:
        """Return notifications after ``gt``, then new ones as they are committed."""
        return JetStreamSubscription(self, gt=gt, topics=topics)


def _notification(seq: int, event: AggregateRecorded) -> Notification:
    stored = _library_event(event)
    return Notification(
        id=seq,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )


_STOP: Final = object()


class JetStreamSubscription(Subscription[JetStreamApplicationRecorder]):
    """Notifications from an ordered JetStream consumer: only committed events arrive."""

    def __init__(
        self,
        recorder: JetStreamApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        """Start the consumer at the notification after ``gt``."""
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._queue: queue.SimpleQueue[Notification | BaseException | object] = queue.SimpleQueue()
        self._task: asyncio.Task[None] | None = None
        self._stopped_pump = False
        recorder.bridge.run(self._start)

    async def _start(self) -> None:
        # The consumer starts at a fixed sequence, so an event committed before it
        # exists is still delivered: nothing to wait for here.
        self._task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        recorder = self._recorder
        wanted = frozenset(self._topics)
        subscription = recorder.store.subscribe(
            goal_id=recorder.goal, types=_TYPES, from_seq=(self._last_notification_id or 0) + 1
        )
        try:
            async with subscription:
                async for stored in subscription:
                    event = _aggregate(stored)
                    if not wanted or event.data.topic in wanted:
                        self._queue.put(_notification(stored.seq, event))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._queue.put(exc)  # raised by ``__next__`` in the reading thread

    def stop(self) -> None:
        """Stop the subscription and delete its consumer; calling it again does nothing."""
        super().stop()
        self._queue.put(_STOP)
        if self._stopped_pump:
            return
        self._stopped_pump = True
        task = self._task
        bridge = self._recorder.bridge
        if task is not None and not bridge.closed:

            async def cancel() -> None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

            with contextlib.suppress(Exception):
                bridge.run(cancel, timeout=5.0)

    def __next__(self) -> Notification:
        """Return the next notification, waiting for one to be committed.

        Raises:
            OperationalError: The subscription failed (the error is the cause).
        """
        if self._has_been_stopped:
            raise StopIteration
        item = self._queue.get()
        if item is _STOP or self._has_been_stopped:
            raise StopIteration
        if isinstance(item, BaseException):
            raise OperationalError(f"subscription failed: {item}") from item
        assert isinstance(item, Notification)
        self._last_notification_id = item.id
        return item
