"""Observability: a goal's causal chain as an OpenTelemetry trace (one goal, one trace)."""

from callsheet.observability.traces import TraceBuilder, export_spans, spans_for

__all__ = ["TraceBuilder", "export_spans", "spans_for"]
