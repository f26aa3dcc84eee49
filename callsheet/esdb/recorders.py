"""Aggregate and application recorders of the ``eventsourcing`` library on JetStream.

Mapping of a library ``StoredEvent`` to a JetStream message:

========================  ===========================================================
library                   JetStream
========================  ===========================================================
notification id           stream sequence (the stream holds only these events)
originator id             subject token 3: ``{root}.es.{originator}.{topic}``
topic                     subject token 4 (both encoded with ``encode_token``)
originator version        header ``Es-Version``
originator id type        header ``Es-Id-Kind`` (``uuid`` or ``str``)
state                     message body, unchanged (JSON unless ciphered/compressed)
========================  ===========================================================

Guarantees, and how each is obtained:

- **(originator id, version) is unique**, enforced by the server: before a write the
  recorder reads the last message of each originator (its sequence and version);
  a version at or below the stored one raises ``IntegrityError`` (versions of an
  originator only grow, as aggregates produce them). The first message of each
  originator in the write carries ``Nats-Expected-Last-Subject-Sequence`` over
  ``{root}.es.{originator}.*``, so a concurrent writer that got there first makes
  the server refuse the whole write (error 10071). The recorder then re-reads:
  if the versions are now taken it raises ``IntegrityError``; if the originator
  only moved to versions below ours, it tries again.
- **A lost acknowledgement is not a conflict.** Every message has a fresh
  ``Nats-Msg-Id``; a retry after a timeout sends the same ids with the same
  expectations. The server checks expectations before dedup, so a retry of a
  write that was in fact committed is refused with 10071; the recorder then finds
  its own first message id after the expected sequence and returns the
  positions of the committed write.
- **Multi-event writes are atomic** (JetStream atomic batch publish): all messages
  are stored at consecutive sequences, or none. A write of more messages than the
  server accepts in one batch (``max_batch``, 1000) raises ``BatchTooLargeError``
  before anything is sent; it is never split.
- **Subscriptions wake only on committed events**: they are ordered JetStream
  consumers, which never see an uncommitted batch.
- **Snapshots are not notifications**: the snapshot recorder writes to its own
  stream, so notification ids stay contiguous.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import queue
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
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
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    RawStreamMsg,
    StreamConfig,
)
from nats.js.errors import APIError, NotFoundError
from ulid import ULID

from callsheet.esdb.bridge import LoopBridge
from callsheet.events.batch import (
    ERR_BATCH_DUP_ID,
    ERR_BATCH_TOO_LARGE,
    ERR_WRONG_LAST_SEQ,
    H_EXPECTED_SEQ,
    H_EXPECTED_SUBJ,
    AtomicBatchRefused,
    publish_atomic,
)
from callsheet.events.consume import ordered_messages
from callsheet.events.errors import SubjectError
from callsheet.events.stream import StoreConfig, stream_config
from callsheet.events.subjects import decode_token, encode_token

__all__ = [
    "BatchTooLargeError",
    "JetStreamAggregateRecorder",
    "JetStreamApplicationRecorder",
    "JetStreamSubscription",
    "Layout",
    "ensure_stream",
    "esdb_stream_config",
]

H_MSG_ID: Final = "Nats-Msg-Id"
H_VERSION: Final = "Es-Version"
H_ID_KIND: Final = "Es-Id-Kind"
_ATTEMPTS: Final = 5


class BatchTooLargeError(ProgrammingError):
    """A write has more events than the server accepts in one atomic batch."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"{size} events cannot be written atomically: the server accepts at most {limit} "
            "messages per atomic batch"
        )


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a recorder's events live: a stream and a subject prefix.

    Attributes:
        stream: JetStream stream name.
        prefix: Subject prefix, ``{root}.es`` for events; each event is stored on
            ``{prefix}.{encoded originator id}.{encoded topic}``.
    """

    stream: str
    prefix: str

    @property
    def all_filter(self) -> str:
        """Filter matching every event of the recorder."""
        return f"{self.prefix}.>"

    def subject(self, originator_id: UUID | str, topic: str) -> str:
        """Return the subject of an event."""
        return f"{self.prefix}.{_token(str(originator_id))}.{_token(topic)}"

    def originator_filter(self, originator_id: UUID | str) -> str:
        """Return the filter matching an originator's events."""
        return f"{self.prefix}.{_token(str(originator_id))}.*"

    def topic_filter(self, topic: str) -> str:
        """Return the filter matching every event of a topic."""
        return f"{self.prefix}.*.{_token(topic)}"

    def parse(self, subject: str) -> tuple[str, str]:
        """Return (originator id, topic) of an event subject."""
        rest = subject[len(self.prefix) + 1 :]
        originator, _, topic = rest.partition(".")
        return decode_token(originator), decode_token(topic)


def _token(value: str) -> str:
    try:
        return encode_token(value)
    except SubjectError as exc:
        raise DataError(f"cannot store id or topic {value!r}: {exc}") from exc


def esdb_stream_config(name: str, subjects: list[str], *, replicas: int = 1) -> StreamConfig:
    """Return the configuration of a recorder stream: the event log's safety settings.

    File storage, nothing expires, messages cannot be deleted and the stream
    cannot be purged, a one-hour dedup window, atomic batches and direct gets.
    """
    log = stream_config(StoreConfig(stream=name, replicas=replicas))
    return dataclasses.replace(
        log,
        description="eventsourcing library events recorded by callsheet.esdb (append-only)",
        subjects=subjects,
    )


async def ensure_stream(js: JetStreamContext, layout: Layout, *, replicas: int = 1) -> None:
    """Create the recorder's stream, or check that an existing one can hold it.

    Raises:
        ProgrammingError: The stream exists without the needed subjects or safety settings.
    """
    try:
        info = await js.stream_info(layout.stream)
    except NotFoundError:
        await js.add_stream(
            esdb_stream_config(layout.stream, [layout.all_filter], replicas=replicas)
        )
        return
    actual = info.config
    if layout.all_filter not in (actual.subjects or []):
        raise ProgrammingError(
            f"stream {layout.stream} does not hold subjects {layout.all_filter}: {actual.subjects}"
        )
    if not actual.deny_delete or not actual.deny_purge:
        raise ProgrammingError(f"stream {layout.stream} allows deleting or purging events")
    if not actual.allow_atomic or not actual.allow_direct:
        actual.allow_atomic = True
        actual.allow_direct = True
        await js.update_stream(actual)


@dataclass(slots=True)
class _Outgoing:
    key: str
    subject: str
    body: bytes
    headers: dict[str, str]
    msg_id: str


class _WrongLastSequence(Exception):
    pass


class _NoAck(Exception):
    pass


class JetStreamAggregateRecorder(AggregateRecorder):
    """Records and selects an aggregate's events on a JetStream stream."""

    def __init__(
        self,
        bridge: LoopBridge,
        layout: Layout,
        *,
        max_batch: int = 1000,
        timeout: float = 10.0,
    ) -> None:
        """Make a recorder; call ``create_stream`` (the factory does) before use.

        Args:
            bridge: The event-loop thread and NATS connection to use.
            layout: Stream and subject prefix of the events.
            max_batch: Most events written in one call (the server's atomic batch limit).
            timeout: Seconds to wait for the server's acknowledgement of a write.
        """
        self.bridge = bridge
        self.layout = layout
        self.max_batch = max_batch
        self.timeout = timeout

    @property
    def _js(self) -> JetStreamContext:
        return self.bridge.nc.jetstream(timeout=self.timeout)

    def create_stream(self, *, replicas: int = 1) -> None:
        """Create the stream (or check an existing one)."""
        self.bridge.run(lambda: ensure_stream(self._js, self.layout, replicas=replicas))

    # -- write ----------------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Write events atomically.

        Raises:
            IntegrityError: An (originator id, version) is already recorded.
            BatchTooLargeError: More events than the server's atomic batch limit.
            OperationalError: The server did not acknowledge the write.
        """
        self._insert(stored_events)
        return None

    def _insert(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        if not stored_events:
            return []
        if len(stored_events) > self.max_batch:
            raise BatchTooLargeError(len(stored_events), self.max_batch)
        outgoing = self._prepare(stored_events)
        return self.bridge.run(lambda: self._write(outgoing, stored_events), timeout=None)

    def _prepare(self, stored_events: Sequence[StoredEvent]) -> list[_Outgoing]:
        token = str(ULID())
        last_version: dict[str, int] = {}
        outgoing = []
        for index, event in enumerate(stored_events):
            key = str(event.originator_id)
            previous = last_version.get(key)
            if previous is not None and event.originator_version <= previous:
                raise IntegrityError(
                    f"versions of originator {key} in one write must increase: "
                    f"{event.originator_version} follows {previous}"
                )
            last_version[key] = event.originator_version
            msg_id = f"{token}-{index}"
            headers = {
                H_MSG_ID: msg_id,
                H_VERSION: str(event.originator_version),
                H_ID_KIND: "uuid" if isinstance(event.originator_id, UUID) else "str",
            }
            subject = self.layout.subject(event.originator_id, event.topic)
            outgoing.append(_Outgoing(key, subject, event.state, headers, msg_id))
        return outgoing

    async def _write(
        self, outgoing: list[_Outgoing], stored_events: Sequence[StoredEvent]
    ) -> list[int]:
        firsts: dict[str, int] = {}
        for index, event in enumerate(stored_events):
            firsts.setdefault(str(event.originator_id), index)
        expected = await self._expectations(firsts, stored_events)
        for _attempt in range(_ATTEMPTS):
            try:
                return await self._publish(outgoing, firsts, expected)
            except _NoAck:
                # Same ids, same expectations: if the write was committed, the
                # retry is refused with "wrong last sequence" and found below.
                continue
            except _WrongLastSequence:
                committed = await self._committed(outgoing, expected)
                if committed is not None:
                    return committed
                expected = await self._expectations(firsts, stored_events)
        raise OperationalError(
            f"write of {len(outgoing)} events not acknowledged after {_ATTEMPTS} attempts; "
            "it may or may not be recorded"
        )

    async def _expectations(
        self, firsts: dict[str, int], stored_events: Sequence[StoredEvent]
    ) -> dict[str, int]:
        keys = list(firsts)
        lasts = await asyncio.gather(
            *(self._last(stored_events[firsts[key]].originator_id) for key in keys)
        )
        expected = {}
        for key, (seq, version) in zip(keys, lasts, strict=True):
            first_version = stored_events[firsts[key]].originator_version
            if version is not None and first_version <= version:
                raise IntegrityError(
                    f"originator {key} already has version {version}; "
                    f"cannot record version {first_version}"
                )
            expected[key] = seq
        return expected

    async def _last(self, originator_id: UUID | str) -> tuple[int, int | None]:
        """Return (sequence, version) of an originator's last event, or (0, None)."""
        try:
            raw = await self._js.get_msg(
                self.layout.stream, subject=self.layout.originator_filter(originator_id)
            )
        except NotFoundError:
            return 0, None
        return raw.seq or 0, int((raw.headers or {})[H_VERSION])

    async def _publish(
        self, outgoing: list[_Outgoing], firsts: dict[str, int], expected: dict[str, int]
    ) -> list[int]:
        messages = []
        for index, out in enumerate(outgoing):
            headers = dict(out.headers)
            if firsts[out.key] == index:
                # Only the first message of a subject may carry the expectation.
                headers[H_EXPECTED_SEQ] = str(expected[out.key])
                headers[H_EXPECTED_SUBJ] = self.layout.originator_filter(out.key)
            messages.append((out.subject, out.body, headers))
        if len(messages) == 1:
            subject, body, headers = messages[0]
            try:
                ack = await self._js.publish(subject, body, timeout=self.timeout, headers=headers)
            except nats.errors.TimeoutError:
                raise _NoAck from None
            except nats.errors.NoRespondersError as exc:
                raise OperationalError(f"no stream for {subject}") from exc
            except APIError as exc:
                if exc.err_code == ERR_WRONG_LAST_SEQ:
                    raise _WrongLastSequence from exc
                raise OperationalError(f"server refused event: {exc.description}") from exc
            return [ack.seq]
        return await self._publish_batch(messages)

    async def _publish_batch(self, messages: list[tuple[str, bytes, dict[str, str]]]) -> list[int]:
        try:
            return await publish_atomic(self.bridge.nc, messages, timeout=self.timeout)
        except nats.errors.TimeoutError:
            raise _NoAck from None
        except nats.errors.NoRespondersError as exc:
            raise OperationalError(f"no stream for {messages[-1][0]}") from exc
        except AtomicBatchRefused as exc:
            if exc.err_code in (ERR_WRONG_LAST_SEQ, ERR_BATCH_DUP_ID):
                raise _WrongLastSequence(exc.description) from exc
            if exc.err_code == ERR_BATCH_TOO_LARGE:
                raise BatchTooLargeError(len(messages), self.max_batch) from exc
            raise OperationalError(f"server refused atomic batch: {exc.description}") from exc

    async def _committed(
        self, outgoing: list[_Outgoing], expected: dict[str, int]
    ) -> list[int] | None:
        """Tell whether a refused write was committed by an earlier attempt (a lost ack)."""
        first = outgoing[0]
        try:
            raw: RawStreamMsg = await self._js.get_msg(
                self.layout.stream,
                seq=expected[first.key] + 1,
                subject=self.layout.originator_filter(first.key),
                next=True,
                direct=True,
            )
        except NotFoundError:
            return None
        if (raw.headers or {}).get(H_MSG_ID) != first.msg_id or raw.seq is None:
            return None
        return list(range(raw.seq, raw.seq + len(outgoing)))

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
        return self.bridge.run(
            lambda: self._select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        )

    async def _select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        if limit is not None and limit <= 0:
            return []
        try:
            last = await self._js.get_msg(
                self.layout.stream, subject=self.layout.originator_filter(originator_id)
            )
        except NotFoundError:
            return []
        last_event = self._stored_event(last.subject or "", last.headers, last.data)
        if desc and limit == 1 and (lte is None or last_event.originator_version <= lte):
            # The latest event (used for the latest snapshot): one direct read.
            if gt is None or last_event.originator_version > gt:
                return [last_event]
            return []
        msgs = await self._scan(
            [self.layout.originator_filter(originator_id)], start=1, end=last.seq or 0
        )
        events = [self._stored_event(m.subject, m.headers, m.data) for m in msgs]
        events = [
            e
            for e in events
            if (gt is None or e.originator_version > gt)
            and (lte is None or e.originator_version <= lte)
        ]
        if desc:
            events.reverse()
        return events[:limit] if limit is not None else events

    async def _scan(
        self, filters: list[str], *, start: int, end: int, limit: int | None = None
    ) -> list[Msg]:
        """Read messages matching filters with sequences in [start, end], in order."""
        if end < start or (limit is not None and limit <= 0):
            return []
        found: list[Msg] = []
        messages = ordered_messages(self._js, self.layout.stream, filters, from_seq=start)
        try:
            async for msg in messages:
                seq = msg.metadata.sequence.stream
                if seq > end:
                    break
                found.append(msg)
                if seq >= end or (limit is not None and len(found) >= limit):
                    break
        finally:
            await messages.aclose()
        return found

    def _stored_event(
        self, subject: str, headers: dict[str, str] | None, data: bytes | None
    ) -> StoredEvent:
        headers = headers or {}
        originator, topic = self.layout.parse(subject)
        originator_id: UUID | str = (
            UUID(originator) if headers.get(H_ID_KIND) == "uuid" else originator
        )
        return StoredEvent(
            originator_id=originator_id,
            originator_version=int(headers[H_VERSION]),
            topic=topic,
            state=data or b"",
        )


class JetStreamApplicationRecorder(JetStreamAggregateRecorder, ApplicationRecorder):
    """Records events in aggregate sequences and the application sequence (stream order)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Write events atomically; return their notification ids (stream sequences).

        Raises:
            IntegrityError: An (originator id, version) is already recorded.
            BatchTooLargeError: More events than the server's atomic batch limit.
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
        """Return notifications in order, from ``start`` up to ``stop``, at most ``limit``."""
        first = (start or 1) if inclusive_of_start else (start or 0) + 1
        return self.bridge.run(lambda: self._select_notifications(first, limit, stop, topics))

    async def _select_notifications(
        self, first: int, limit: int, stop: int | None, topics: Sequence[str]
    ) -> list[Notification]:
        end = await self._max_notification_id() or 0
        if stop is not None:
            end = min(end, stop)
        msgs = await self._scan(
            self.notification_filters(topics), start=first, end=end, limit=limit
        )
        return [self._notification(m.metadata.sequence.stream, m) for m in msgs]

    def notification_filters(self, topics: Sequence[str]) -> list[str]:
        """Return the subject filters selecting notifications of the given topics (all if none)."""
        if not topics:
            return [self.layout.all_filter]
        return sorted({self.layout.topic_filter(topic) for topic in topics})

    def _notification(self, seq: int, msg: Msg) -> Notification:
        event = self._stored_event(msg.subject, msg.headers, msg.data)
        return Notification(
            id=seq,
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=event.topic,
            state=event.state,
        )

    def max_notification_id(self) -> int | None:
        """Return the last notification id, or None when nothing is recorded."""
        return self.bridge.run(self._max_notification_id)

    async def _max_notification_id(self) -> int | None:
        info = await self._js.stream_info(self.layout.stream)
        return info.state.last_seq or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> JetStreamSubscription:
        """Return notifications after ``gt``, then new ones as they are committed."""
        return JetStreamSubscription(self, gt=gt, topics=topics)


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
        self._queue: queue.SimpleQueue[Notification | object] = queue.SimpleQueue()
        self._sub: Any = None
        self._unsubscribed = False
        recorder.bridge.run(self._start)

    async def _start(self) -> None:
        recorder = self._recorder
        filters = recorder.notification_filters(self._topics)
        start = (self._last_notification_id or 0) + 1
        config = ConsumerConfig(filter_subjects=filters if len(filters) > 1 else None)
        policy = DeliverPolicy.ALL
        if start > 1:
            policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start

        async def on_message(msg: Msg) -> None:
            self._queue.put(recorder._notification(msg.metadata.sequence.stream, msg))

        self._sub = await recorder._js.subscribe(
            filters[0],
            stream=recorder.layout.stream,
            cb=on_message,
            ordered_consumer=True,
            config=config,
            deliver_policy=policy,
            idle_heartbeat=2.0,
            pending_msgs_limit=65536,
            pending_bytes_limit=256 * 1024 * 1024,
        )

    def stop(self) -> None:
        """Stop the subscription and delete its consumer; calling it again does nothing."""
        super().stop()
        self._queue.put(_STOP)
        if self._unsubscribed:
            return
        self._unsubscribed = True
        sub = self._sub
        bridge = self._recorder.bridge
        if sub is not None and not bridge.closed:
            with contextlib.suppress(Exception):
                bridge.run(sub.unsubscribe, timeout=5.0)

    def __next__(self) -> Notification:
        """Return the next notification, waiting for one to be committed."""
        if self._has_been_stopped:
            raise StopIteration
        item = self._queue.get()
        if item is _STOP or self._has_been_stopped:
            raise StopIteration
        assert isinstance(item, Notification)
        self._last_notification_id = item.id
        return item
