"""Events recorded by applications written with the ``eventsourcing`` library.

``callsheet.esdb`` stores every event of such an application's aggregates as an
``aggregate.recorded`` event of the log, so agents and projections see them like
any other event. The envelope maps the library's fields as follows:

- ``goal_id`` (and ``correlation_id``): the application (``ESDB_GOAL``, by default
  the application's name); all its aggregates live under that goal;
- ``task_id``: the aggregate's originator id (the entity whose events the server
  keeps in order, and the range that optimistic concurrency checks);
- ``data``: the version, the library's topic and the state, byte for byte.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from callsheet.events.envelope import Event, NonNegative, Payload

__all__ = ["AggregateRecorded", "AggregateRecordedData"]


class AggregateRecordedData(Payload, kw_only=True, frozen=True):
    """One stored event of an aggregate, as the ``eventsourcing`` library recorded it."""

    originator_version: Annotated[
        NonNegative, Meta(description="The aggregate's version after this event.")
    ]
    topic: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=1024,
            description="The library's topic of the event class, e.g. 'app.domain:Ticket.Opened'.",
        ),
    ]
    state: Annotated[
        bytes,
        Meta(
            description=(
                "The library's stored state, base64 in JSON: the event's JSON unless the "
                "application compresses or encrypts it."
            )
        ),
    ]
    id_kind: Annotated[
        Literal["uuid", "str"],
        Meta(description="Whether the originator id (the task_id) is a UUID or a string."),
    ] = "uuid"


class AggregateRecorded(Event, tag="aggregate.recorded", frozen=True, kw_only=True):
    """An application's aggregate recorded an event (``task_id`` is the originator id)."""

    data: AggregateRecordedData
