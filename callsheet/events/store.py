"""The event log on JetStream: append, read, subscribe.

Guarantees, and how each is obtained:

- **Idempotent appends.** The event id is the ``Nats-Msg-Id``; within the stream's
  duplicate window the server drops a repeated id and answers with the stored
  position, so a retried append never duplicates. A repeated id whose body differs
  from the stored one raises ``DuplicateEventIdError``; the stored event is kept.
- **Optimistic concurrency per entity.** ``expected_last_seq`` becomes
  ``Nats-Expected-Last-Subject-Sequence`` over the entity's subject range. When the
  server refuses, the store looks for the event in that range: if an earlier attempt
  was stored (its ack was lost), ``append`` returns that position with
  ``duplicate=True``; otherwise it raises ``ConcurrencyConflict``.
- **Atomic batches** use JetStream atomic batch publish: all events are stored, at
  consecutive sequences, or none. A batch over ``StoreConfig.max_batch`` (the
  server's limit, 1000 by default) is refused with ``BatchTooLargeError`` before
  anything is sent; it is never split, since that would break atomicity.
- **Large events** (over the server's message limit) are stored in the Object
  Store; the log keeps a pointer with the digest, resolved transparently on read.
- **Ordered reads and subscriptions** use an ordered consumer: catch-up and live
  delivery are one consumer, so there is no gap and no duplicate at the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Self

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from callsheet.events.batch import (
    ERR_BATCH_DUP_ID,
    ERR_BATCH_TOO_LARGE,
    ERR_WRONG_LAST_SEQ,
    H_EXPECTED_SEQ,
    H_EXPECTED_SUBJ,
    AtomicBatchRefused,
    publish_atomic,
)
from callsheet.events.blobs import BlobStore
from callsheet.events.catalog import AnyEvent
from callsheet.events.codec import decode_trusted, encode, encode_validated
from callsheet.events.consume import ordered_messages
from callsheet.events.envelope import Event
from callsheet.events.errors import (
    AppendError,
    AppendTimeout,
    BatchTooLargeError,
    ConcurrencyConflict,
    DuplicateEventIdError,
    EventDecodeError,
    StoreError,
    StoreUnavailable,
    SubjectError,
)
from callsheet.events.stream import StoreConfig, ensure_stream
from callsheet.events.subjects import encode_token, entity_filter, event_subject, stream_filter
from callsheet.events.wire import H_BLOB, H_MSG_ID, BlobPointer, BlobRef, headers_for

__all__ = [
    "Appended",
    "CorruptEventError",
    "EntityKey",
    "EventStore",
    "EventSubscription",
    "StoredEvent",
]

EntityKey = tuple[str, str | None]
"""(goal id, task id or None): the entity an event belongs to."""

_HEADER_ROOM: Final = 4096  # room left for headers under the server's max_payload
_LAST_SEQ_RE = re.compile(r"wrong last sequence: (\d+)")
_pointer_encoder = msgspec.json.Encoder()
_pointer_decoder = msgspec.json.Decoder(BlobPointer)
_UNAVAILABLE: Final = (
    nats.js.errors.NoStreamResponseError,  # no stream leader took the message
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionClosedError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
)
_PAUSE_MAX: Final = 1.0  # longest wait between tries while the stream has no leader


def _unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the log is away for now (nothing was stored by that attempt)."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    # 503: JetStream has no leader for the stream yet, or is starting.
    return isinstance(exc, APIError) and exc.code == 503


def _as_store_error(exc: nats.errors.Error, what: str) -> StoreError:
    """A raw nats-py error met while appending, as the store's own error."""
    if _unavailable(exc):
        detail = str(exc) or type(exc).__name__
        return StoreUnavailable(
            f"the log is unavailable for now ({detail}) while appending {what}: try again, "
            "it will not duplicate"
        )
    if isinstance(exc, nats.errors.TimeoutError):
        return AppendTimeout(
            f"no ack for {what}; it may or may not be stored: append it again, it will "
            "not duplicate"
        )
    description = exc.description if isinstance(exc, APIError) else str(exc)
    return AppendError(f"server refused {what}: {description or type(exc).__name__}")


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an event was stored.

    Attributes:
        seq: Stream sequence of the event.
        event_id: The event's id.
        duplicate: True when the event was already stored (a retry, or a lost ack).
    """

    seq: int
    event_id: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event read back from the log, with its position.

    Attributes:
        seq: Stream sequence.
        subject: Subject it is stored on.
        stored_at: Server time of storage.
        event: The decoded event.
        pending: Matching events after this one when it was delivered (0: caught up).
    """

    seq: int
    subject: str
    stored_at: datetime
    event: AnyEvent
    pending: int = 0


class CorruptEventError(StoreError):
    """A message in the log is not a valid event (it bypassed the store and the gatekeeper)."""

    def __init__(self, seq: int, subject: str, reason: str) -> None:
        self.seq = seq
        self.subject = subject
        self.reason = reason
        super().__init__(f"message {seq} on {subject} is not a valid event: {reason}")


OnCorrupt = Callable[[CorruptEventError], None]
"""Called with each message a read skips because it is not a valid event."""


@functools.lru_cache(maxsize=8192)
def _subject(
    root: str, goal_id: str, task_id: str | None, event_type: str, role: str | None
) -> str:
    # Entities repeat constantly; encoding their ids is a measurable share of an append.
    return event_subject(goal_id, task_id, event_type, role, root=root)


@dataclass(slots=True)
class _Prepared:
    event: Event
    subject: str
    body: bytes
    headers: dict[str, str]
    entity: EntityKey


class EventStore:
    """The append-only event log of callsheet, on a JetStream stream."""

    def __init__(self, nc: Client, config: StoreConfig | None = None) -> None:
        """Wrap a connected client; call ``open`` instead to also create the stream."""
        self._nc = nc
        self._config = config or StoreConfig()
        self._js: JetStreamContext = nc.jetstream(timeout=10.0)
        self._blobs = BlobStore(self._js, self._config.blob_bucket, replicas=self._config.replicas)

    @classmethod
    async def open(cls, nc: Client, config: StoreConfig | None = None) -> Self:
        """Return a store, creating the stream or verifying an existing one.

        Raises:
            StreamConfigError: The stream exists with settings that break the log's guarantees.
        """
        store = cls(nc, config)
        await ensure_stream(store._js, store._config)
        # Where the log is, the ingress is: what services publish before any gatekeeper
        # has run waits there (imported here: the ingress builds on the store).
        from callsheet.ingress.gatekeeper import ensure_ingress

        await ensure_ingress(store._js, store._config.root, store._config.replicas)
        return store

    @property
    def config(self) -> StoreConfig:
        """The store's configuration."""
        return self._config

    @property
    def nc(self) -> Client:
        """The NATS connection the store uses."""
        return self._nc

    # -- append ---------------------------------------------------------------

    async def _prepare(self, event: Event, traceparent: str | None, *, check: bool) -> _Prepared:
        body = encode_validated(event) if check else encode(event)
        headers = headers_for(event, traceparent=traceparent)
        limit = self._nc.max_payload - _HEADER_ROOM
        if len(body) > limit:
            ref = await self._blobs.put(body)
            body = _pointer_encoder.encode(_pointer(event, ref))
            headers[H_BLOB] = ref.digest
        subject = _subject(
            self._config.root, event.goal_id, event.task_id, event.event_type, event.route_role
        )
        return _Prepared(event, subject, body, headers, (event.goal_id, event.task_id))

    async def append(
        self,
        event: Event,
        *,
        expected_last_seq: int | None = None,
        traceparent: str | None = None,
        timeout: float = 5.0,
        retries: int = 2,
    ) -> Appended:
        """Append one event.

        Args:
            event: The event; it is validated against the catalog first.
            expected_last_seq: The entity's last sequence the caller based this on
                (0: the entity must have no event yet); None appends unconditionally.
            traceparent: W3C trace context to carry in the headers.
            timeout: Seconds to wait for the server's ack per attempt.
            retries: Attempts after a timed-out ack; safe, since the id dedups. While
                the stream has no leader (an election) the append is tried again, with
                backoff, for up to ``timeout * (retries + 1)`` seconds in all.

        Returns:
            The stored position; ``duplicate`` is set if the event was already stored.

        Raises:
            EventDecodeError: The event breaks a constraint of the catalog.
            ConcurrencyConflict: Another event was appended to the entity since.
            DuplicateEventIdError: The id is stored with a different body.
            StoreUnavailable: The log stayed unavailable (no leader, no connection).
            AppendTimeout: No ack after every attempt.
            AppendError: The server refused the event for another reason.
        """
        prep = await self._prepare(event, traceparent, check=True)
        headers = dict(prep.headers)
        if expected_last_seq is not None:
            if expected_last_seq < 0:
                raise ValueError("expected_last_seq cannot be negative")
            headers[H_EXPECTED_SEQ] = str(expected_last_seq)
            headers[H_EXPECTED_SUBJ] = self._entity_range(prep.entity)
        try:
            return await self._append_one(prep, headers, expected_last_seq, timeout, retries)
        except nats.errors.Error as exc:  # raw errors of the lookups after a lost ack
            raise _as_store_error(exc, f"event {event.id}") from exc

    async def _append_one(
        self,
        prep: _Prepared,
        headers: dict[str, str],
        expected_last_seq: int | None,
        timeout: float,
        retries: int,
    ) -> Appended:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout * (retries + 1)
        timeouts = pauses = 0
        event_id = prep.event.id
        while True:
            try:
                ack = await self._js.publish(
                    prep.subject, prep.body, timeout=timeout, headers=headers
                )
            except nats.errors.TimeoutError:
                timeouts += 1
                if timeouts > retries:
                    raise AppendTimeout(
                        f"no ack for event {event_id} after {timeouts} attempts; "
                        "it may or may not be stored: append it again, it will not duplicate"
                    ) from None
                continue
            except APIError as exc:
                if exc.err_code == ERR_WRONG_LAST_SEQ and expected_last_seq is not None:
                    return await self._resolve_conflict(prep, expected_last_seq, exc.description)
                if not _unavailable(exc):
                    raise AppendError(
                        f"server refused event {event_id}: {exc.description}"
                    ) from exc
                delay = self._pause(pauses, deadline - loop.time(), exc, event_id)
            except nats.errors.Error as exc:
                if not _unavailable(exc) or isinstance(exc, nats.errors.ConnectionClosedError):
                    raise _as_store_error(exc, f"event {event_id}") from exc
                delay = self._pause(pauses, deadline - loop.time(), exc, event_id)
            else:
                if ack.duplicate:
                    await self._check_same_body(prep, ack.seq)
                return Appended(ack.seq, event_id, bool(ack.duplicate))
            pauses += 1
            await asyncio.sleep(delay)  # a leader election takes a few seconds

    @staticmethod
    def _pause(pauses: int, left: float, exc: nats.errors.Error, event_id: str) -> float:
        """The wait before trying again, or StoreUnavailable if the deadline comes first."""
        delay = min(0.05 * 2.0**pauses, _PAUSE_MAX)
        if delay >= left:
            raise _as_store_error(exc, f"event {event_id}") from exc
        return delay

    async def append_many(
        self, events: Iterable[Event], *, timeout: float = 10.0
    ) -> list[Appended]:
        """Append events one by one, pipelined (not atomic); each is idempotent.

        This is the fast path for bulk writes: acks are awaited together.

        Raises:
            EventDecodeError: An event breaks a constraint (nothing is sent).
            DuplicateEventIdError: An id is stored with a different body.
            AppendError: The server refused an event.
        """
        prepared = [await self._prepare(e, None, check=True) for e in events]
        futures = [
            await self._js.publish_async(p.subject, p.body, headers=p.headers) for p in prepared
        ]
        results: list[Appended] = []
        try:
            acks = await asyncio.wait_for(asyncio.gather(*futures), timeout)
        except APIError as exc:
            if _unavailable(exc):
                raise _as_store_error(exc, "a pipelined event") from exc
            raise AppendError(f"server refused an event: {exc.description}") from exc
        except nats.errors.Error as exc:
            raise _as_store_error(exc, "a pipelined event") from exc
        except TimeoutError:
            raise AppendTimeout(
                "acks timed out; append the same events again, they will not duplicate"
            ) from None
        for prep, ack in zip(prepared, acks, strict=True):
            if ack.duplicate:
                await self._check_same_body(prep, ack.seq)
            results.append(Appended(ack.seq, prep.event.id, bool(ack.duplicate)))
        return results

    async def append_batch(
        self,
        events: Sequence[Event],
        *,
        expected: Mapping[EntityKey, int] | None = None,
        timeout: float = 10.0,
    ) -> list[Appended]:
        """Append events atomically: all are stored, at consecutive sequences, or none.

        Args:
            events: At most ``config.max_batch`` events with distinct ids.
            expected: Expected last sequence per entity ``(goal_id, task_id)``; each
                entity named must have an event in the batch. The expectation is
                put on the first event of that entity, as the server requires.
            timeout: Seconds to wait for the commit's ack.

        Raises:
            BatchTooLargeError: More events than the server accepts in one batch.
            ConcurrencyConflict: An entity moved past its expected sequence.
            DuplicateEventIdError: An id is stored with a different body, or repeated.
            AppendError: The server refused the batch for another reason.
        """
        if len(events) > self._config.max_batch:
            raise BatchTooLargeError(len(events), self._config.max_batch)
        if not events:
            return []
        prepared = [await self._prepare(e, None, check=True) for e in events]
        ids = [p.event.id for p in prepared]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise AppendError(f"batch contains event id {dup} more than once")
        expected = dict(expected or {})
        firsts: dict[EntityKey, int] = {}
        for index, prep in enumerate(prepared):
            firsts.setdefault(prep.entity, index)
        missing = [key for key in expected if key not in firsts]
        if missing:
            raise ValueError(
                f"expected sequence given for entities with no event in batch: {missing}"
            )
        messages = []
        for index, prep in enumerate(prepared):
            headers = dict(prep.headers)
            if prep.entity in expected and firsts[prep.entity] == index:
                # The server takes the expectation only on the first message of a subject.
                headers[H_EXPECTED_SEQ] = str(expected[prep.entity])
                headers[H_EXPECTED_SUBJ] = self._entity_range(prep.entity)
            messages.append((prep.subject, prep.body, headers))
        try:
            seqs = await publish_atomic(self._nc, messages, timeout=timeout)
        except nats.errors.NoRespondersError as exc:
            raise _as_store_error(exc, "the atomic batch") from exc
        except nats.errors.TimeoutError:
            raise AppendTimeout(
                "no ack for the atomic batch; it may or may not be stored: "
                "append the same events again, they will not duplicate"
            ) from None
        except AtomicBatchRefused as exc:
            if exc.err_code in (ERR_WRONG_LAST_SEQ, ERR_BATCH_DUP_ID):
                stored = await self._already_stored_batch(prepared)
                if stored is not None:
                    return stored
                if exc.err_code == ERR_WRONG_LAST_SEQ:
                    entity = next((key for key in expected if key in firsts), prepared[0].entity)
                    match = _LAST_SEQ_RE.search(exc.description)
                    raise ConcurrencyConflict(
                        self._entity_range(entity),
                        expected.get(entity, -1),
                        int(match.group(1)) if match else None,
                    ) from exc
                raise AppendError(
                    f"atomic batch refused: {exc.description} (some ids are already stored)"
                ) from exc
            if exc.err_code == ERR_BATCH_TOO_LARGE:
                raise BatchTooLargeError(len(events), None) from exc
            raise AppendError(f"atomic batch refused: {exc.description}") from exc
        return [Appended(seq, p.event.id, False) for seq, p in zip(seqs, prepared, strict=True)]

    # -- lost acks, duplicates and conflicts ----------------------------------

    def _entity_range(self, entity: EntityKey) -> str:
        return entity_filter(entity[0], entity[1], root=self._config.root)

    async def _check_same_body(self, prep: _Prepared, seq: int) -> None:
        # From the leader, not a direct get: a replica that lags may not have it yet.
        raw = await self._js.get_msg(self._config.stream, seq)
        if not _same_body(raw.data, prep.body):
            raise DuplicateEventIdError(prep.event.id, seq)

    async def _find(self, prep: _Prepared, *, start_seq: int | None) -> tuple[int, bytes] | None:
        """Find an event by id on its own subject, from start_seq or the dedup window."""
        since = None
        if start_seq is None:
            window = self._config.duplicate_window + 60.0
            since = datetime.now(UTC) - timedelta(seconds=window)
        messages = self._messages([prep.subject], from_seq=start_seq, since=since)
        async with contextlib.aclosing(messages):  # found early: its consumer goes now
            async for msg in messages:
                if msg.headers and msg.headers.get(H_MSG_ID) == prep.event.id:
                    return msg.metadata.sequence.stream, msg.data
        return None

    async def _resolve_conflict(
        self, prep: _Prepared, expected: int, description: str | None
    ) -> Appended:
        found = await self._find(prep, start_seq=expected + 1)
        if found is not None:
            seq, body = found
            if not _same_body(body, prep.body):
                raise DuplicateEventIdError(prep.event.id, seq)
            return Appended(seq, prep.event.id, duplicate=True)
        match = _LAST_SEQ_RE.search(description or "")
        raise ConcurrencyConflict(
            self._entity_range(prep.entity), expected, int(match.group(1)) if match else None
        )

    async def _already_stored_batch(self, prepared: list[_Prepared]) -> list[Appended] | None:
        """Tell whether a refused batch was in fact committed earlier (a lost ack)."""
        found = await self._find(prepared[0], start_seq=None)
        if found is None:
            for prep in prepared[1:]:
                other = await self._find(prep, start_seq=None)
                if other is not None:
                    raise DuplicateEventIdError(prep.event.id, other[0])
            return None
        first, body = found
        if not _same_body(body, prepared[0].body):
            raise DuplicateEventIdError(prepared[0].event.id, first)
        results = []
        for offset, prep in enumerate(prepared):
            raw = await self._js.get_msg(self._config.stream, first + offset)  # the leader
            if (raw.headers or {}).get(H_MSG_ID) != prep.event.id or not _same_body(
                raw.data, prep.body
            ):
                raise DuplicateEventIdError(prep.event.id, first + offset)
            results.append(Appended(first + offset, prep.event.id, duplicate=True))
        return results

    # -- read -----------------------------------------------------------------

    def filters(
        self,
        *,
        goal_id: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
    ) -> list[str]:
        """Return the subject filters selecting a goal, a task and/or event types.

        Types may name a category with ``*`` (``task.*``); a type its category also
        names is left out, since JetStream refuses filters that overlap.
        """
        root = self._config.root
        goal = "*" if goal_id is None else encode_token(goal_id)
        if task_id is not None:
            kind, entity = "task", encode_token(task_id)
        else:
            kind, entity = "*", "*"
        if not types:
            if goal_id is None and task_id is None:
                return [stream_filter(root)]
            return [f"{root}.ev.{goal}.{kind}.{entity}.>"]
        result = []
        categories = {t.partition(".")[0] for t in types if t.endswith(".*")}
        for event_type in types:
            category, dot, action = event_type.partition(".")
            if action != "*" and category in categories:
                continue  # task.progress with task.*: the category has it already
            if not dot or not category or not action or "." in action:
                raise ValueError(f"event type filter {event_type!r} must be 'category.action'")
            result.append(f"{root}.ev.{goal}.{kind}.{entity}.*.{category}.{action}")
        return sorted(set(result))

    def _messages(
        self,
        filters: list[str],
        *,
        from_seq: int | None = None,
        since: datetime | None = None,
        follow: bool = False,
    ) -> AsyncGenerator[Msg, None]:
        return ordered_messages(
            self._js, self._config.stream, filters, from_seq=from_seq, since=since, follow=follow
        )

    async def _decode(
        self, seq: int, subject: str, headers: dict[str, str] | None, data: bytes
    ) -> AnyEvent:
        """Decode a stored body, resolving a large event's pointer from the object store."""
        try:
            if headers and H_BLOB in headers:
                data = await self._blobs.get(_pointer_decoder.decode(data).data_ref)
            event = decode_trusted(data)
        except (EventDecodeError, msgspec.DecodeError, StoreError) as exc:
            raise CorruptEventError(seq, subject, str(exc)) from exc
        self._check_subject(seq, subject, event)
        return event

    def _check_subject(self, seq: int, subject: str, event: AnyEvent) -> None:
        """Refuse a body whose type, goal, task or role is not what its subject says.

        The broker's permissions are per subject: a body claiming more than its
        subject (a ``goal.completed`` stored on a ``task.progress`` subject) would
        let a producer say what it may not.
        """
        try:
            expected = _subject(
                self._config.root, event.goal_id, event.task_id, event.event_type, event.route_role
            )
        except SubjectError as exc:
            raise CorruptEventError(seq, subject, f"its ids do not fit a subject: {exc}") from exc
        if subject != expected:
            raise CorruptEventError(
                seq,
                subject,
                f"the body is a {event.event_type} of goal {event.goal_id!r}, task "
                f"{event.task_id!r}, which belongs on {expected}: its subject says otherwise",
            )

    async def _stored(self, msg: Msg) -> StoredEvent:
        headers = msg.headers
        if not (headers and H_BLOB in headers):
            return self._stored_inline(msg)
        meta = msg.metadata
        seq = meta.sequence.stream
        event = await self._decode(seq, msg.subject, headers, msg.data)
        return StoredEvent(seq, msg.subject, meta.timestamp, event, meta.num_pending)

    def _stored_inline(self, msg: Msg) -> StoredEvent:
        """Decode a message whose body is the event itself (no object-store pointer)."""
        meta = msg.metadata
        seq = meta.sequence.stream
        try:
            event = decode_trusted(msg.data)
        except (EventDecodeError, msgspec.DecodeError) as exc:
            raise CorruptEventError(seq, msg.subject, str(exc)) from exc
        self._check_subject(seq, msg.subject, event)
        return StoredEvent(seq, msg.subject, meta.timestamp, event, meta.num_pending)

    async def decode_message(self, msg: Msg) -> StoredEvent:
        """Decode a message delivered by a consumer of the log's stream.

        Raises:
            CorruptEventError: The message is not a valid event.
        """
        return await self._stored(msg)

    async def find(self, event: Event, *, from_seq: int | None = None) -> StoredEvent | None:
        """Look an event up by id on its own subject, from ``from_seq`` (or the dedup window).

        Use it to tell whether an event made earlier (a reaction with a derived
        id) is already stored, beyond the server's duplicate window.
        """
        prep = await self._prepare(event, None, check=False)
        found = await self._find(prep, start_seq=from_seq if from_seq is not None else 1)
        if found is None:
            return None
        return await self.get(found[0])

    async def read(
        self,
        *,
        goal_id: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        from_seq: int | None = None,
        until_seq: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        on_corrupt: OnCorrupt | None = None,
    ) -> AsyncGenerator[StoredEvent, None]:
        """Read stored events in order, up to the end of the log as it was when reading began.

        Args:
            goal_id: Only this goal's events.
            task_id: Only this task's events.
            types: Only these types (``task.assigned``) or categories (``task.*``).
            from_seq: First stream sequence to read.
            until_seq: Last stream sequence to read (inclusive).
            since: Only events stored at or after this time.
            until: Only events stored at or before this time.
            on_corrupt: Given, a message that is not a valid event (bad body, a body
                that does not match its subject, a blob that does not match its
                digest) is passed to it and reading goes on after it.

        Raises:
            CorruptEventError: A stored message is not a valid event (without ``on_corrupt``).
        """
        filters = self.filters(goal_id=goal_id, task_id=task_id, types=types)
        if until_seq is not None and from_seq is not None and until_seq < from_seq:
            return
        messages = self._messages(filters, from_seq=from_seq, since=since)
        async with contextlib.aclosing(messages):  # stopped early: its consumer goes now
            async for msg in messages:
                meta = msg.metadata
                if until_seq is not None and meta.sequence.stream > until_seq:
                    return
                if until is not None and meta.timestamp > until:
                    return
                headers = msg.headers
                try:
                    if headers and H_BLOB in headers:
                        stored = await self._stored(msg)
                    else:  # the common case: decoded here, without a coroutine per event
                        stored = self._stored_inline(msg)
                except CorruptEventError as exc:
                    if on_corrupt is None:
                        raise
                    on_corrupt(exc)
                    continue
                yield stored

    def subscribe(
        self,
        *,
        goal_id: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        from_seq: int | None = None,
        since: datetime | None = None,
        on_corrupt: OnCorrupt | None = None,
    ) -> EventSubscription:
        """Catch up from a position, then continue live, in order, with no gap or duplicate.

        Use as ``async with store.subscribe(...) as sub: async for stored in sub: ...``.
        A message that is not a valid event raises ``CorruptEventError`` from the
        iteration (the subscription goes on after it), or, with ``on_corrupt``,
        is passed to it and skipped.
        """
        filters = self.filters(goal_id=goal_id, task_id=task_id, types=types)
        return EventSubscription(
            self, filters, from_seq=from_seq, since=since, on_corrupt=on_corrupt
        )

    async def get(self, seq: int) -> StoredEvent:
        """Return the event stored at ``seq``.

        Raises:
            StoreError: There is no event at that sequence.
        """
        try:
            raw = await self._js.get_msg(self._config.stream, seq, direct=True)
        except NotFoundError as exc:
            raise StoreError(f"no event at sequence {seq}") from exc
        event = await self._decode(seq, raw.subject or "", raw.headers, raw.data or b"")
        stored_at = raw.time or datetime.now(UTC)
        return StoredEvent(seq, raw.subject or "", stored_at, event, 0)

    async def last_seq(self, goal_id: str, task_id: str | None = None) -> int:
        """Return the last sequence of an entity's events (0 if it has none)."""
        try:
            raw = await self._js.get_msg(
                self._config.stream, subject=entity_filter(goal_id, task_id, root=self._config.root)
            )
        except NotFoundError:
            return 0
        return raw.seq or 0

    async def last(
        self, goal_id: str, task_id: str | None = None, *, types: Sequence[str] | None = None
    ) -> StoredEvent | None:
        """Return an entity's last event (of the given types, if any), or None.

        One direct read on the server, whatever the length of the entity's history.

        Raises:
            CorruptEventError: The stored message is not a valid event.
        """
        filters = self.filters(goal_id=goal_id, task_id=task_id, types=types)
        if len(filters) != 1:
            raise ValueError("last() takes at most one event type")
        try:
            raw = await self._js.get_msg(self._config.stream, subject=filters[0])
        except NotFoundError:
            return None
        seq, subject = raw.seq or 0, raw.subject or ""
        event = await self._decode(seq, subject, raw.headers, raw.data or b"")
        return StoredEvent(seq, subject, raw.time or datetime.now(UTC), event, 0)

    async def stream_last_seq(self) -> int:
        """Return the last sequence of the whole log (0 when empty)."""
        info = await self._js.stream_info(self._config.stream)
        return info.state.last_seq

    async def put_blob(self, data: bytes) -> BlobRef:
        """Store bytes in the Object Store of the log (content-addressed, idempotent)."""
        return await self._blobs.put(data)

    async def get_blob(self, ref: BlobRef) -> bytes:
        """Read bytes stored with ``put_blob``, checked against their digest.

        Raises:
            StoreError: The blob is missing or does not match its digest.
        """
        return await self._blobs.get(ref)


class EventSubscription:
    """A live, ordered view of the log; see ``EventStore.subscribe``."""

    def __init__(
        self,
        store: EventStore,
        filters: list[str],
        *,
        from_seq: int | None,
        since: datetime | None,
        on_corrupt: OnCorrupt | None = None,
    ) -> None:
        self._store = store
        self._on_corrupt = on_corrupt
        self._messages: AsyncGenerator[Msg, None] = store._messages(
            filters, from_seq=from_seq, since=since, follow=True
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StoredEvent:
        while True:
            msg = await self._messages.__anext__()
            try:
                return await self._store._stored(msg)
            except CorruptEventError as exc:
                if self._on_corrupt is None:
                    raise
                self._on_corrupt(exc)

    async def close(self) -> None:
        """Stop the subscription and delete its consumer."""
        await self._messages.aclose()


def _pointer(event: Event, ref: BlobRef) -> BlobPointer:
    return BlobPointer(
        type=event.event_type,
        id=event.id,
        schema_version=event.schema_version,
        occurred_at=event.occurred_at,
        producer=event.producer,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        goal_id=event.goal_id,
        task_id=event.task_id,
        data_ref=ref,
    )


def _same_body(stored: bytes | None, prepared: bytes) -> bool:
    """Tell whether a stored body holds the event about to be appended.

    Equal bytes, or the same event in canonical form (decoded and encoded again):
    ``"percent":7`` and ``"percent":7.0`` are one retry, not a forgery.
    """
    if stored == prepared:
        return True
    if stored is None:
        return False
    try:
        return encode(decode_trusted(stored)) == encode(decode_trusted(prepared))
    except EventDecodeError:
        return False  # a blob pointer or an unreadable body: only equal bytes match
