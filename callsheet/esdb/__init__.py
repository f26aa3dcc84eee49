"""JetStream persistence for the ``eventsourcing`` library: ``PERSISTENCE_MODULE=callsheet.esdb``.

Any application written with the library records its aggregates' events in
callsheet's log, as ``aggregate.recorded`` events that agents and projections
read like any other. See ``factory`` for the settings and ``recorders`` for the
mapping and guarantees.
"""

from callsheet.esdb.bridge import BridgeCallError, LoopBridge
from callsheet.esdb.factory import Factory, JetStreamFactory
from callsheet.esdb.recorders import (
    AGGREGATE_TYPE,
    BatchTooLargeError,
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamSubscription,
)

__all__ = [
    "AGGREGATE_TYPE",
    "BatchTooLargeError",
    "BridgeCallError",
    "Factory",
    "JetStreamAggregateRecorder",
    "JetStreamApplicationRecorder",
    "JetStreamFactory",
    "JetStreamSubscription",
    "LoopBridge",
]
