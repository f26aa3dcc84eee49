"""Errors raised by the event contract and the store."""

from __future__ import annotations

__all__ = [
    "AppendError",
    "AppendTimeout",
    "BatchTooLargeError",
    "ConcurrencyConflict",
    "DuplicateEventIdError",
    "EventDecodeError",
    "EventError",
    "StoreError",
    "StoreUnavailable",
    "StreamConfigError",
    "SubjectError",
]


class EventError(ValueError):
    """Base class for every problem with an event's content."""


class EventDecodeError(EventError):
    """Bytes or a mapping could not be turned into a catalog event.

    Attributes:
        field: JSON path of the offending field (``$`` for the whole document).
        problem: What is wrong with it, in a few words.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid event: {field}: {problem}")


class SubjectError(EventError):
    """A subject token or subject could not be built or parsed."""


class StoreError(Exception):
    """Base class for failures of the event store."""


class StoreUnavailable(StoreError):
    """The log cannot answer for now; trying again later is safe.

    Its stream has no leader (an election, a node lost), JetStream is starting, or the
    connection is being re-established. Appends dedup by event id, so a retry never
    duplicates; ``callsheet.agents.retry`` treats this error as transient.
    """


class StreamConfigError(StoreError):
    """The stream exists with a configuration that breaks the store's guarantees."""


class AppendError(StoreError):
    """The server refused an append for a reason other than concurrency."""


class AppendTimeout(AppendError):
    """No answer from the server: the event may or may not be stored; appending it again is safe."""


class BatchTooLargeError(AppendError):
    """An atomic batch has more events than the server accepts in one batch."""

    def __init__(self, size: int, limit: int | None) -> None:
        self.size = size
        self.limit = limit
        of = "" if limit is None else f" of {limit}"
        super().__init__(
            f"atomic batch of {size} events is over the server's limit{of}: "
            "split it into several batches (each is atomic on its own) or raise the "
            "server's jetstream max_batch_size"
        )


class DuplicateEventIdError(AppendError):
    """An event id is already stored with a different body (a forged or reused id)."""

    def __init__(self, event_id: str, seq: int) -> None:
        self.event_id = event_id
        self.seq = seq
        super().__init__(
            f"event id {event_id} is already stored at sequence {seq} with a different body; "
            "the stored event was kept and this one was not appended"
        )


class ConcurrencyConflict(StoreError):
    """Another writer appended to the entity since the position the caller expected.

    A lost acknowledgement is never reported as a conflict: when the event being
    appended is already stored (an earlier attempt succeeded but its ack was lost),
    ``append`` returns that stored position with ``duplicate=True`` instead.

    Attributes:
        entity: The entity subject range that was checked.
        expected: The last sequence the caller expected for the entity.
        actual: The entity's actual last sequence, when the server reports it.
    """

    def __init__(self, entity: str, expected: int, actual: int | None) -> None:
        self.entity = entity
        self.expected = expected
        self.actual = actual
        found = "unknown" if actual is None else str(actual)
        super().__init__(
            f"concurrency conflict on {entity}: expected last sequence {expected}, found {found}"
        )
