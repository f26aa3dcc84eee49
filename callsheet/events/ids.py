"""Event ids: ULIDs, sortable by time, also used as the ``Nats-Msg-Id`` for dedup."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Final

from ulid import ULID

__all__ = [
    "EVENT_ID_PATTERN",
    "MAX_ID_BYTES",
    "derived_event_id",
    "fit_id_bytes",
    "id_size_problem",
    "is_event_id",
    "new_event_id",
]

MAX_ID_BYTES: Final = 128
"""The one limit on a producer-chosen id (goal, task, role, producer, ...): UTF-8 bytes.

It is what one subject token is allowed to hold (``subjects.encode_token``); the
codec enforces it on every ``Id`` field when decoding and when encoding, so an id
the log cannot store is refused at the door. In characters it is also at most 128
(the JSON Schema's ``maxLength``), but only the byte count decides.
"""

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


def id_size_problem(value: str) -> str | None:
    """Say why ``value`` cannot be an id (empty, over ``MAX_ID_BYTES``, lone surrogate), or None."""
    if not value:
        return "must not be empty"
    if len(value) * 4 <= MAX_ID_BYTES:
        return None  # at most 4 UTF-8 bytes a character: cannot be over the limit
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    if size > MAX_ID_BYTES:
        return f"is {size} UTF-8 bytes, over the limit of {MAX_ID_BYTES} bytes for an id"
    return None


def fit_id_bytes(value: str) -> str:
    """Cut ``value`` to whole characters within ``MAX_ID_BYTES`` UTF-8 bytes (for derived ids)."""
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_ID_BYTES:
        return value
    return raw[:MAX_ID_BYTES].decode("utf-8", "ignore")
