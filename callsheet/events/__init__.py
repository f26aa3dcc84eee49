"""The event contract and the log: the envelope, the catalog, the codec, the store.

Everything is typed (msgspec Structs); ``catalog`` holds the event types (``from
callsheet.events.catalog import GoalSubmitted, GoalSubmittedData``), the store
appends and reads them on JetStream::

    store = await EventStore.open(nc, StoreConfig())
    await store.append(GoalSubmitted.new(data=GoalSubmittedData(title="Ship"), goal_id="g1",
                                         producer="me"))
    async for stored in store.read(goal_id="g1"):
        print(stored.seq, stored.event.event_type)
"""

from callsheet.events.codec import decode, encode, from_dict, to_dict
from callsheet.events.envelope import Event
from callsheet.events.errors import (
    AppendError,
    AppendTimeout,
    BatchTooLargeError,
    ConcurrencyConflict,
    DuplicateEventIdError,
    EventDecodeError,
    EventError,
    StoreError,
    StoreUnavailable,
    StreamConfigError,
    SubjectError,
)
from callsheet.events.ids import new_event_id
from callsheet.events.store import Appended, CorruptEventError, EventStore, StoredEvent
from callsheet.events.stream import StoreConfig

__all__ = [
    "AppendError",
    "AppendTimeout",
    "Appended",
    "BatchTooLargeError",
    "ConcurrencyConflict",
    "CorruptEventError",
    "DuplicateEventIdError",
    "Event",
    "EventDecodeError",
    "EventError",
    "EventStore",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "StoredEvent",
    "StreamConfigError",
    "SubjectError",
    "decode",
    "encode",
    "from_dict",
    "new_event_id",
    "to_dict",
]
