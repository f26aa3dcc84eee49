"""Times typed by people: one parser for every command that takes one.

ISO 8601 / RFC 3339: ``2026-11-23T10:42:00Z``, ``2026-11-23T11:42:00+01:00``,
``2026-11-23 10:42`` or ``2026-11-23``. A time with ``Z`` or an offset means that
instant; a time without one is local time (the machine's time zone), as a clock
on the wall shows it.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["TIME_HELP", "TimeFormatError", "parse_time"]

TIME_HELP = "ISO 8601 time: with Z or an offset (2026-11-23T10:42:00Z), or local without one"
"""How to describe the accepted format in a command's help."""


class TimeFormatError(ValueError):
    """Text that is not an ISO 8601 time."""


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time; a naive one is taken as local time.

    Returns:
        A timezone-aware datetime.

    Raises:
        TimeFormatError: The text is not an ISO 8601 date or time.
    """
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeFormatError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-23T10:42:00Z, "
            "2026-11-23T11:42:00+01:00, or 2026-11-23 10:42 for local time)"
        ) from None
    return when if when.tzinfo is not None else when.astimezone()
