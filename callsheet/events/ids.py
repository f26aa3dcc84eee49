"""Event ids: ULIDs, sortable by time, also used as the ``Nats-Msg-Id`` for dedup."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from ulid import ULID

__all__ = ["EVENT_ID_PATTERN", "derived_event_id", "is_event_id", "new_event_id"]

EVENT_ID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$(?!\n)"
"""Crockford base32 ULID, upper case, 26 characters.

``(?!\\n)`` stops Python's ``$`` from also matching before a trailing newline (an id
is a header value); in JSON Schema's ECMA dialect it is a no-op.
"""

_EVENT_ID_RE = re.compile(EVENT_ID_PATTERN)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id(at: datetime | None = None) -> str:
    """Return a fresh ULID string, optionally stamped with the time ``at``."""
    if at is None:
        return str(ULID())
    return str(ULID.from_datetime(at))


def derived_event_id(cause_id: str, handler: str, index: int) -> str:
    """Return a deterministic ULID for the ``index``-th event a handler emits for a cause.

    The time part is the cause's, so derived ids still sort near their cause; the
    random part is a hash of (cause, handler, index), so a redelivered cause makes
    the same ids and the server's dedup drops the repeated reactions.
    """
    if not is_event_id(cause_id):
        raise ValueError(f"cause id {cause_id!r} is not an event id")
    digest = hashlib.sha256(f"{cause_id}\x00{handler}\x00{index}".encode()).digest()
    rand = int.from_bytes(digest[:10], "big")  # 80 random bits
    chars = [_CROCKFORD[(rand >> (5 * i)) & 31] for i in range(15, -1, -1)]
    return cause_id[:10] + "".join(chars)


def is_event_id(value: str) -> bool:
    """Tell whether ``value`` is a well-formed event id."""
    return _EVENT_ID_RE.fullmatch(value) is not None
