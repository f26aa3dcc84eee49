"""W3C trace context derived from the log: one goal is one trace.

The trace id is a digest of the correlation id and a span id is a digest of an
event id, so the context of any event can be recomputed from the log alone (a
trace can be rebuilt afterwards), and a reaction's parent span is its cause's.
"""

from __future__ import annotations

import hashlib

__all__ = ["span_id", "trace_id", "traceparent"]


def trace_id(correlation_id: str) -> str:
    """The 32-hex-digit trace id of a goal (never all zeros)."""
    digest = hashlib.sha256(b"trace\x00" + correlation_id.encode()).hexdigest()[:32]
    return digest if digest.strip("0") else "1".rjust(32, "0")


def span_id(event_id: str) -> str:
    """The 16-hex-digit span id of the handling of one event (never all zeros)."""
    digest = hashlib.sha256(b"span\x00" + event_id.encode()).hexdigest()[:16]
    return digest if digest.strip("0") else "1".rjust(16, "0")


def traceparent(correlation_id: str, event_id: str) -> str:
    """The ``traceparent`` header of an event: its goal's trace, its own span."""
    return f"00-{trace_id(correlation_id)}-{span_id(event_id)}-01"
