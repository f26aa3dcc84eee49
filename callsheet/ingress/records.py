"""Dead-letter records: what the gatekeeper refused, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = ["DeadLetter", "Reason"]

Reason = Literal[
    "invalid_event",
    "duplicate_id",
    "refused_by_store",
    "forbidden",
    "internal_error",
    "redelivered",
]
"""``forbidden``: the producer's policy refuses it (or the body names another producer);
``internal_error``: the gatekeeper failed on it unexpectedly; ``redelivered``: it was
delivered too often without being settled (a poison message that crashed gatekeepers)."""


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A message published to the ingress that did not become an event."""

    reason: Annotated[Reason, Meta(description="Why it was refused, as a keyword.")]
    error: Annotated[str, Meta(description="The refusal, in one line.")]
    field: Annotated[str | None, Meta(description="JSON path of the bad field, if any.")] = None
    received_subject: Annotated[str, Meta(description="Ingress subject it was published on.")]
    received_at: Annotated[datetime, Meta(description="When the ingress stored it.")]
    ingress_seq: Annotated[int, Meta(description="Its sequence in the ingress stream.")]
    body_text: Annotated[
        str | None, Meta(description="The body, when it is UTF-8 (truncated to 64 KiB).")
    ] = None
    body_base64: Annotated[
        str | None, Meta(description="The body, base64, when it is not UTF-8 (truncated).")
    ] = None
    body_size: Annotated[int, Meta(description="Size of the original body in bytes.")]
