"""The bodies of the HTTP ingress, as msgspec types: what ``/v1`` takes and answers.

The OpenAPI document (``callsheet.web.openapi``) is generated from these and
from the event catalog, so the document and the server cannot disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from callsheet.events.catalog import AnyEvent

__all__ = ["BatchAnswer", "BatchRequest", "EventPage", "PageEvent", "Position", "Problem"]


class Problem(msgspec.Struct, kw_only=True, frozen=True):
    """Why a request was refused."""

    error: Annotated[str, Meta(description="The problem, in one line.")]
    field: Annotated[
        str | None,
        Meta(
            description=(
                "What is at fault: a JSON path into the body (`$.data.percent`, "
                "`$.events[2].id`), a query or path parameter, or a header."
            )
        ),
    ] = None


class Position(msgspec.Struct, kw_only=True, frozen=True):
    """Where an event is stored."""

    id: Annotated[str, Meta(description="The event's id.")]
    seq: Annotated[int, Meta(ge=1, description="Its sequence in the log.")]
    duplicate: Annotated[
        bool, Meta(description="True when it was stored already (a retry): nothing was appended.")
    ]


class BatchRequest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Events appended atomically: all of them, at consecutive sequences, or none."""

    events: Annotated[
        list[AnyEvent], Meta(min_length=1, description="The events, in the order to store them.")
    ]


class BatchAnswer(msgspec.Struct, kw_only=True, frozen=True):
    """Where each event of a batch is stored, in the order given."""

    events: list[Position]


class PageEvent(msgspec.Struct, kw_only=True, frozen=True):
    """An event read from the log, with its position."""

    seq: Annotated[int, Meta(ge=1, description="Sequence in the log.")]
    subject: Annotated[str, Meta(description="The subject it is stored on.")]
    stored_at: Annotated[datetime, Meta(description="When the server stored it.")]
    event: AnyEvent


class EventPage(msgspec.Struct, kw_only=True, frozen=True):
    """A page of the log's events, oldest first."""

    events: list[PageEvent]
    next_from_seq: Annotated[
        int | None,
        Meta(description="Ask again with from_seq=this for the next page; null at the end."),
    ] = None
