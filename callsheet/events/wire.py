"""What an event looks like on NATS: headers, and the pointer body of a large event."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from msgspec import Meta

from callsheet.events.envelope import Event, EventId, Id, UtcTime
from callsheet.events.tracing import traceparent as derived_traceparent

__all__ = [
    "H_BLOB",
    "H_CAUSATION",
    "H_CORRELATION",
    "H_MSG_ID",
    "H_TRACEPARENT",
    "H_TYPE",
    "BlobPointer",
    "BlobRef",
    "headers_for",
]

H_MSG_ID: Final = "Nats-Msg-Id"
H_TYPE: Final = "Callsheet-Type"
H_CORRELATION: Final = "Callsheet-Correlation-Id"
H_CAUSATION: Final = "Callsheet-Causation-Id"
H_TRACEPARENT: Final = "traceparent"
H_BLOB: Final = "Callsheet-Blob"
"""Set on a pointer body; its value is the digest of the full event in the object store."""


class BlobRef(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where the full body of a large event lives in the JetStream Object Store."""

    bucket: Annotated[str, Meta(description="Object store bucket.")]
    name: Annotated[str, Meta(description="Object name: the digest, so writes are idempotent.")]
    digest: Annotated[str, Meta(description="sha256:<hex> of the full encoded event.")]
    size: Annotated[int, Meta(ge=0, description="Size of the full encoded event in bytes.")]


class BlobPointer(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The body stored in the log for an event larger than the server's message limit.

    It repeats the envelope (so filters, tools and other languages can still see
    what the event is) and replaces ``data`` with ``data_ref``.
    """

    type: str
    id: EventId
    schema_version: int
    occurred_at: UtcTime
    producer: Id
    correlation_id: Id
    causation_id: EventId | None
    goal_id: Id
    task_id: Id | None
    data_ref: BlobRef


def headers_for(event: Event, *, traceparent: str | None = None) -> dict[str, str]:
    """Return the NATS headers that repeat what the server and tracing need.

    ``traceparent`` defaults to the one derived from the event itself (its goal's
    trace, its own span: see ``callsheet.events.tracing``), so every event
    carries trace context even when its producer has none.
    """
    headers = {
        H_MSG_ID: event.id,
        H_TYPE: event.event_type,
        H_CORRELATION: event.correlation_id,
    }
    if event.causation_id is not None:
        headers[H_CAUSATION] = event.causation_id
    headers[H_TRACEPARENT] = traceparent or derived_traceparent(event.correlation_id, event.id)
    return headers
