"""OpenTelemetry spans rebuilt from the log: each event is a span, its cause is its parent.

Ids come from ``callsheet.events.tracing``: the trace id is a digest of the
correlation id (the goal) and a span id a digest of the event id, the same
values every event's ``traceparent`` header carries. So a goal's trace can be
built at any time from the log alone, live (``callsheet trace --follow``) or
long after, and it is always the same trace.

A span covers the handling that produced its event: it starts when the cause
was stored and ends when the event was stored (both the server's clock). Its
service is the producer, so each agent shows as a service in Jaeger.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from callsheet import __version__
from callsheet.events.store import StoredEvent
from callsheet.events.tracing import span_id, trace_id
from callsheet.observability.semconv import shape_of

__all__ = [
    "SCOPE",
    "TraceBuilder",
    "export_spans",
    "resource_of",
    "span_context",
    "spans_for",
    "unix_nanos",
]

SCOPE = InstrumentationScope("callsheet", __version__)
"""The instrumentation scope of every callsheet span."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def unix_nanos(at: datetime) -> int:
    """Nanoseconds since the epoch, exactly (a float timestamp loses the last microsecond)."""
    return (at - _EPOCH) // timedelta(microseconds=1) * 1000


def span_context(correlation_id: str, event_id: str) -> SpanContext:
    """The span context of an event's span: its goal's trace, its own span id."""
    return SpanContext(
        trace_id=int(trace_id(correlation_id), 16),
        span_id=int(span_id(event_id), 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )


@functools.lru_cache(maxsize=1024)
def resource_of(producer: str) -> Resource:
    """The resource of an agent's spans: each agent (the producer) is a service in Jaeger."""
    return Resource.create({"service.name": producer, "service.namespace": "callsheet"})


class TraceBuilder:
    """Turns stored events into spans, remembering recent events' times to start spans at.

    Args:
        remember: How many events' storage times to keep for the causes of later
            events (older causes give spans that start at their own event).
    """

    def __init__(self, remember: int = 100_000) -> None:
        self._stored: OrderedDict[str, datetime] = OrderedDict()
        self._remember = remember

    def span(self, stored: StoredEvent) -> ReadableSpan:
        """The span of one event (call in log order, so that causes come first)."""
        event = stored.event
        cause = event.causation_id
        started = self._stored.get(cause) if cause else None
        ended = stored.stored_at
        start = min(started or ended, ended)
        self._stored[event.id] = ended
        if len(self._stored) > self._remember:
            self._stored.popitem(last=False)
        shape = shape_of(event, stored.seq)
        return ReadableSpan(
            name=shape.name,
            context=span_context(event.correlation_id, event.id),
            parent=span_context(event.correlation_id, cause) if cause else None,
            resource=resource_of(event.producer),
            attributes=shape.attributes,
            kind=shape.kind,
            status=Status(StatusCode.ERROR if shape.failed else StatusCode.OK),
            start_time=unix_nanos(start),
            end_time=unix_nanos(ended),
            instrumentation_scope=SCOPE,
        )


def spans_for(events: Iterable[StoredEvent]) -> list[ReadableSpan]:
    """The spans of ``events`` (in log order): one trace per goal, parents from causation."""
    builder = TraceBuilder()
    return [builder.span(s) for s in events]


def export_spans(
    exporter: SpanExporter, spans: Sequence[ReadableSpan], *, batch: int = 512
) -> None:
    """Send spans with an exporter (e.g. OTLP to Jaeger), in batches.

    Raises:
        RuntimeError: The exporter reported a failure.
    """
    for start in range(0, len(spans), batch):
        if exporter.export(spans[start : start + batch]) is not SpanExportResult.SUCCESS:
            raise RuntimeError(f"the span exporter failed on spans {start}..{start + batch - 1}")
