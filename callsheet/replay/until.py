"""``--until``: a stream sequence, an event id or a time, and cutting a log there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from callsheet.events.ids import is_event_id
from callsheet.events.store import StoredEvent
from callsheet.events.times import TimeFormatError, parse_time
from callsheet.replay.chain import UnknownEventError

__all__ = ["Until", "UntilError", "cut", "parse_until"]


class UntilError(ValueError):
    """An ``--until`` value that is none of a sequence, an event id or an ISO 8601 time."""


@dataclass(frozen=True, slots=True)
class Until:
    """Where a replay stops (inclusive).

    Attributes:
        kind: ``seq``, ``event`` or ``time``.
        seq: The last stream sequence, for ``seq``.
        event_id: The last event, for ``event``.
        time: The last storage time, for ``time`` (timezone-aware).
    """

    kind: Literal["seq", "event", "time"]
    seq: int = 0
    event_id: str = ""
    time: datetime | None = None


def parse_until(text: str) -> Until:
    """Parse an ``--until`` value: ``SEQ``, ``EVENT_ID`` (a ULID) or a time (``parse_time``).

    Raises:
        UntilError: The value is none of these.
    """
    value = text.strip()
    if is_event_id(value):
        return Until("event", event_id=value)
    if value.isdigit():
        seq = int(value)
        if seq < 1:
            raise UntilError(f"--until {text!r}: sequences start at 1")
        return Until("seq", seq=seq)
    try:
        when = parse_time(value)
    except TimeFormatError:
        raise UntilError(
            f"--until {text!r} is not a sequence, an event id or an ISO 8601 time "
            "(with Z or an offset, or local without one)"
        ) from None
    return Until("time", time=when)


def cut(events: Iterable[StoredEvent], until: Until | None) -> list[StoredEvent]:
    """Return the events up to and including the ``until`` point, in order; pure.

    Args:
        events: Stored events in log order.
        until: Where to stop; ``None`` keeps every event.

    Raises:
        UnknownEventError: ``until`` names an event id that is not among ``events``.
    """
    items = list(events)
    if until is None:
        return items
    if until.kind == "seq":
        return [s for s in items if s.seq <= until.seq]
    if until.kind == "time":
        assert until.time is not None
        return [s for s in items if s.stored_at <= until.time]
    for position, stored in enumerate(items):
        if stored.event.id == until.event_id:
            return items[: position + 1]
    raise UnknownEventError(until.event_id)
