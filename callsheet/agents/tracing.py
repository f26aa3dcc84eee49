"""Trace context of events (see ``callsheet.events.tracing``), re-exported for agents."""

from callsheet.events.tracing import span_id, trace_id, traceparent

__all__ = ["span_id", "trace_id", "traceparent"]
