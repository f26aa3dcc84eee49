"""JetStream persistence for the ``eventsourcing`` library: ``PERSISTENCE_MODULE=callsheet.esdb``.

Any application written with the library records its aggregates' events in a
JetStream stream, where callsheet agents can read them. See ``factory`` for the
settings and ``recorders`` for the mapping and guarantees.
"""

from callsheet.esdb.bridge import BridgeCallError, LoopBridge
from callsheet.esdb.factory import Factory, JetStreamFactory
from callsheet.esdb.recorders import (
    BatchTooLargeError,
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamSubscription,
    Layout,
)

__all__ = [
    "BatchTooLargeError",
    "BridgeCallError",
    "Factory",
    "JetStreamAggregateRecorder",
    "JetStreamApplicationRecorder",
    "JetStreamFactory",
    "JetStreamSubscription",
    "Layout",
    "LoopBridge",
]
