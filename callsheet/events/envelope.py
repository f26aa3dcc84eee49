"""The envelope every event shares, and the constrained field types it uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self, TypeAlias

import msgspec
from msgspec import Meta

from callsheet.events.ids import EVENT_ID_PATTERN, MAX_ID_BYTES, new_event_id

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "EventId",
    "Id",
    "Json",
    "NonNegative",
    "Payload",
    "Text",
    "UtcTime",
]

SCHEMA_VERSION = 1

EventId: TypeAlias = Annotated[
    str, Meta(pattern=EVENT_ID_PATTERN, description="A ULID, e.g. 01J9Z6N3V6E2K1X4W0M8QH7R5T.")
]
Id: TypeAlias = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_ID_BYTES,
        description=f"An id chosen by its producer: at most {MAX_ID_BYTES} UTF-8 bytes.",
        extra={"max_bytes": MAX_ID_BYTES},
    ),
]
Text: TypeAlias = Annotated[str, Meta(max_length=65536)]
NonNegative: TypeAlias = Annotated[int, Meta(ge=0)]
UtcTime: TypeAlias = Annotated[datetime, Meta(tz=True, description="RFC 3339 with an offset.")]
Json: TypeAlias = Any
"""Free-form JSON value (object, array, string, number, boolean or null)."""


class Payload(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base of every event's ``data``: strict, immutable, keyword-only."""


class Event(
    msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag_field="type"
):
    """The envelope shared by every event of the catalog.

    The ``type`` tag on the wire is the class's tag (``task.assigned``); each
    subclass adds a typed ``data`` field.
    """

    id: Annotated[EventId, Meta(description="Unique, sortable id; also the Nats-Msg-Id.")]
    schema_version: Annotated[
        int, Meta(ge=1, description="Version of this event type's schema.")
    ] = SCHEMA_VERSION
    occurred_at: Annotated[UtcTime, Meta(description="When the producer made the event.")]
    producer: Annotated[Id, Meta(description="Id of the agent or service that emitted it.")]
    correlation_id: Annotated[
        Id, Meta(description="The unit of work this belongs to (the goal): one trace.")
    ]
    causation_id: Annotated[
        EventId | None, Meta(description="Id of the event this one reacts to, if any.")
    ] = None
    goal_id: Annotated[Id, Meta(description="The goal this event belongs to.")]
    task_id: Annotated[
        Id | None, Meta(description="The task this event is about; none for goal-level events.")
    ] = None

    route_role_field: ClassVar[str | None] = None
    """Name of the ``data`` field holding the role this event is routed to, if any."""

    @property
    def event_type(self) -> str:
        """The catalog type of this event, e.g. ``task.assigned``."""
        return str(type(self).__struct_config__.tag)

    @property
    def route_role(self) -> str | None:
        """The role that should act on this event (a subject token), if any."""
        name = type(self).route_role_field
        if name is None:
            return None
        role = getattr(getattr(self, "data"), name)  # noqa: B009 - data is declared by subclasses
        return None if role is None else str(role)

    @classmethod
    def new(
        cls,
        *,
        data: Any,
        goal_id: str,
        producer: str,
        task_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Self:
        """Make an event with a fresh id and the current time.

        Args:
            data: The typed payload of this event type.
            goal_id: The goal the event belongs to.
            producer: The agent or service emitting it.
            task_id: The task it is about, for task-level events.
            correlation_id: Defaults to ``goal_id``.
            causation_id: The event this one reacts to.
            event_id: A deterministic id; a fresh ULID by default.
            occurred_at: Defaults to now, in UTC.
        """
        at = occurred_at or datetime.now(UTC)
        return cls(
            id=event_id or new_event_id(at),
            occurred_at=at,
            producer=producer,
            correlation_id=correlation_id or goal_id,
            causation_id=causation_id,
            goal_id=goal_id,
            task_id=task_id,
            data=data,  # type: ignore[call-arg]  # declared by each subclass
        )
