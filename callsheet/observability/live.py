"""Live spans from running agents: each handling of an event and each work delivery, as it runs.

The runtime calls ``handling`` where an ``@on`` handler runs on an event and
``delivery`` where a worker takes a task; what they emit is reported with
``Handling.reacted``. Two kinds of span come out, all in the goal's trace (the
trace id is the digest of the correlation id, as in ``traces``):

- the span of the handling itself (``handle goal.accepted`` by ``supervisor``,
  ``work t1`` by ``backend-1``): parent = the span of the event handled, its id a
  digest of (event, agent, handler, delivery), its status an error when the
  handler raised;
- the span of each event the handling appended: the very span the trace rebuilt
  from the log has (same trace id, span id and parent, see ``semconv``), with
  the process's own times and a link to the handling that made it. A
  ``model.called`` or ``tool.called`` event's span covers the call itself and
  follows the GenAI conventions (``chat {model}``, ``execute_tool {tool}``).

So a Jaeger fed by the running agents and by ``callsheet trace`` shows one trace.

Spans are exported over OTLP/HTTP only when the standard variables ask for it
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER=otlp``; ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none`` turn them off). Otherwise nothing is built: every
call here returns a shared do-nothing value. The exporter reads the other
``OTEL_EXPORTER_OTLP_*`` and ``OTEL_BSP_*`` variables itself; spans leave in
batches from a background thread, and the rest is flushed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from callsheet.events.catalog import ModelCalled, ToolCalled
from callsheet.events.envelope import Event
from callsheet.events.tracing import span_id, trace_id
from callsheet.observability.semconv import shape_of, tool_attributes
from callsheet.observability.traces import SCOPE, resource_of, span_context, unix_nanos

__all__ = [
    "OFF",
    "Handling",
    "SpanSink",
    "ToolSpan",
    "delivery",
    "flush",
    "handling",
    "install",
    "sink",
    "tool_call",
    "wanted",
]

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the standard OpenTelemetry variables ask for traces to be exported; pure."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")}
    if "none" in exporters:
        return False
    return "otlp" in exporters or any(environ.get(name, "").strip() for name in _ENDPOINTS)


class SpanSink:
    """Where a process's live spans go: a span processor, and the ids it has sent lately.

    A span id seen again (a tool-call span, then the span of its ``tool.called``
    event) is dropped, so each id leaves once.

    Args:
        processor: Usually a ``BatchSpanProcessor`` around an OTLP exporter.
        remember: How many recent span ids to keep for that check.
    """

    def __init__(self, processor: SpanProcessor, *, remember: int = 10_000) -> None:
        self.processor = processor
        self._sent: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()

    def record(self, span: ReadableSpan) -> None:
        """Send one finished span (unless a span with its ids was sent lately)."""
        context = span.context
        if context is None:
            return
        key = (context.trace_id, context.span_id)
        with self._lock:
            if key in self._sent:
                return
            self._sent[key] = None
            if len(self._sent) > self._remember:
                self._sent.popitem(last=False)
        self.processor.on_end(span)

    def flush(self, timeout_millis: int = 10_000) -> bool:
        """Send what is waiting; whether it all went in time."""
        return self.processor.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop the processor."""
        self.processor.shutdown()


_sink: SpanSink | None = None
_configured = False
_lock = threading.Lock()


def sink() -> SpanSink | None:
    """The process's span sink, made from the environment on first use (``None``: no tracing)."""
    global _sink, _configured
    if _configured:
        return _sink
    with _lock:
        if not _configured:
            if wanted(os.environ):
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                made = SpanSink(BatchSpanProcessor(OTLPSpanExporter()))
                atexit.register(made.shutdown)
                _sink = made
            _configured = True
    return _sink


def install(exporter: SpanExporter | None, *, batched: bool = True) -> SpanSink | None:
    """Replace the process's span sink (``None``: no live spans); returns the new sink.

    For programs that set up their own exporter, and for tests. The previous sink
    is flushed and shut down.
    """
    global _sink, _configured
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    with _lock:
        old, _sink = _sink, None
        if exporter is not None:
            processor = BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter)
            _sink = SpanSink(processor)
        _configured = True
    if old is not None:
        old.shutdown()
    return _sink


def flush(timeout_millis: int = 10_000) -> bool:
    """Send the live spans waiting in the batch (at once); True when there is no tracing."""
    current = _sink if _configured else None
    return True if current is None else current.flush(timeout_millis)


def _context(trace: int, span: int) -> SpanContext:
    return SpanContext(trace, span, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))


_active: contextvars.ContextVar[Handling | None] = contextvars.ContextVar(
    "callsheet_live_handling", default=None
)


class Handling:
    """One handling under way; this base does nothing (``OFF``: no tracing).

    Use as ``with handling(...) as h: h.begin(); ...; h.reacted(events)``: the
    span ends with the block, as an error if the block raised or ``failed`` was
    called.
    """

    def begin(self) -> None:
        """The handler runs (a handling never begun, e.g. a filter said no, leaves no span)."""

    def reacted(self, events: Iterable[Event]) -> None:
        """Record the spans of events the handling has just appended."""

    def failed(self, error: str) -> None:
        """Mark the handling as failed (the handler raised, or its reaction was refused)."""

    def note(self, key: str, value: AttributeValue) -> None:
        """Add an attribute to the handling's span (``callsheet.<key>``)."""

    def __enter__(self) -> Handling:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        return None


OFF = Handling()
"""The handling returned when there is no tracing: every method does nothing."""


class _Live(Handling):
    def __init__(
        self,
        out: SpanSink,
        agent: Any,
        handler: str,
        cause: Event,
        *,
        name: str,
        attempt: int | None = None,
    ) -> None:
        self._sink = out
        self.agent_name: str = agent.name
        self.cause = cause
        self._trace = int(trace_id(cause.correlation_id), 16)
        key = f"{cause.id}/{agent.name}.{handler}" + ("" if attempt is None else f"#{attempt}")
        self.key = key
        self.context = _context(self._trace, int(span_id(key), 16))
        self._name = name
        self._start = time.time_ns()
        self._error: str | None = None
        self._emitted = 0
        self._tools = itertools.count(1)
        self._attributes: dict[str, AttributeValue] = {
            "callsheet.agent": agent.name,
            "callsheet.agent.kind": agent.kind,
            "callsheet.handler": handler,
            "callsheet.cause.id": cause.id,
            "callsheet.cause.type": cause.event_type,
            "callsheet.goal.id": cause.goal_id,
        }
        if cause.task_id is not None:
            self._attributes["callsheet.task.id"] = cause.task_id
        if attempt is not None:
            self._attributes["callsheet.delivery"] = attempt
        self._token: contextvars.Token[Handling | None] | None = None
        self._begun = False

    def begin(self) -> None:
        if not self._begun:
            self._begun, self._start = True, time.time_ns()

    def reacted(self, events: Iterable[Event]) -> None:
        now = time.time_ns()
        link = (Link(self.context),)
        for event in events:
            self._emitted += 1
            shape = shape_of(event)
            start = self._start
            end = now
            if isinstance(event, ModelCalled | ToolCalled):
                # The span covers the call: the event was made as the call returned.
                took = (
                    event.data.latency_ms
                    if isinstance(event, ModelCalled)
                    else event.data.duration_ms
                )
                end = unix_nanos(event.occurred_at)
                start = end - int(took * 1e6)
            attributes = dict(shape.attributes)
            attributes["callsheet.handling.span_id"] = f"{self.context.span_id:016x}"
            cause = event.causation_id
            self._sink.record(
                ReadableSpan(
                    name=shape.name,
                    context=span_context(event.correlation_id, event.id),
                    parent=span_context(event.correlation_id, cause) if cause else None,
                    resource=resource_of(event.producer),
                    attributes=attributes,
                    links=link,
                    kind=shape.kind,
                    status=Status(StatusCode.ERROR if shape.failed else StatusCode.OK),
                    start_time=min(start, end),
                    end_time=end,
                    instrumentation_scope=SCOPE,
                )
            )

    def failed(self, error: str) -> None:
        self._error = error

    def note(self, key: str, value: AttributeValue) -> None:
        self._attributes[f"callsheet.{key}"] = value

    def __enter__(self) -> Handling:
        self._token = _active.set(self)
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if self._token is not None:
            _active.reset(self._token)
        if not self._begun:
            return
        error = self._error
        if exc is not None and error is None:
            error = f"{type(exc).__name__}: {exc}"
        self._attributes["callsheet.emitted"] = self._emitted
        status = Status(StatusCode.OK) if error is None else Status(StatusCode.ERROR, error[:512])
        cause = self.cause
        self._sink.record(
            ReadableSpan(
                name=self._name,
                context=self.context,
                parent=span_context(cause.correlation_id, cause.id),
                resource=resource_of(self.agent_name),
                attributes=self._attributes,
                kind=SpanKind.CONSUMER,
                status=status,
                start_time=self._start,
                end_time=max(time.time_ns(), self._start),
                instrumentation_scope=SCOPE,
            )
        )

    def tool_key(self, tool: str) -> str:
        return f"{self.key}/tool/{tool}/{next(self._tools)}"


def handling(agent: Any, handler: str, cause: Event) -> Handling:
    """The span of an ``@on`` handler running on ``cause`` (``OFF`` without tracing).

    Args:
        agent: The agent (its ``name`` and ``kind``).
        handler: The handler's name.
        cause: The event handled.
    """
    out = sink()
    if out is None:
        return OFF
    return _Live(out, agent, handler, cause, name=f"handle {cause.event_type}")


def delivery(agent: Any, handler: str, assigned: Event, attempt: int) -> Handling:
    """The span of one delivery of a task to a worker (``OFF`` without tracing)."""
    out = sink()
    if out is None:
        return OFF
    name = f"work {assigned.task_id}"
    span = _Live(out, agent, handler, assigned, name=name, attempt=attempt)
    span.begin()
    return span


class ToolSpan:
    """A tool call under way (see ``tool_call``); does nothing without tracing."""

    def __init__(self) -> None:
        self.attributes: dict[str, AttributeValue] = {}
        self.error: str | None = None

    def set(self, key: str, value: AttributeValue) -> None:
        """Add an attribute to the span (a full name, e.g. ``process.exit.code``)."""
        self.attributes[key] = value

    def failed(self, error: str) -> None:
        """Mark the call as failed (a tool that ran and reported a failure)."""
        self.error = error


@contextlib.contextmanager
def tool_call(
    tool: str,
    *,
    call_id: str | None = None,
    event_id: str | None = None,
    cause: Event | None = None,
    agent: str | None = None,
) -> Iterator[ToolSpan]:
    """A span for one tool call, following the GenAI conventions (``execute_tool {tool}``).

    Use inside a handler: ``with tool_call("ruff", event_id=called.id) as span: ...``.
    Its parent is the span of the event being handled (the running handling's
    cause, or ``cause``), like the ``tool.called`` event recording the call.
    With ``event_id`` (that event's id) the span takes the event's span id, so it
    is the span the rebuilt trace has for it, and the event's own live span is
    not sent again. An exception in the block marks the span as an error and
    goes on. Outside a handling and without ``cause``, or without tracing, it
    records nothing.

    Args:
        tool: The tool's name (``gen_ai.tool.name``).
        call_id: The call's id (``gen_ai.tool.call.id``), e.g. the arguments' digest.
        event_id: Id of the ``tool.called`` event that records this call.
        cause: The event the call is made for, when not inside a handling.
        agent: The agent making the call (its service); the handling's by default.
    """
    span = ToolSpan()
    out = sink()
    running = _active.get()
    if out is None or (cause is None and not isinstance(running, _Live)):
        yield span
        return
    start = time.time_ns()
    try:
        yield span
    except BaseException as exc:
        span.failed(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        parent = cause if cause is not None else running.cause  # type: ignore[union-attr]
        who = agent or (running.agent_name if isinstance(running, _Live) else parent.producer)
        trace = int(trace_id(parent.correlation_id), 16)
        if event_id is not None:
            sid = int(span_id(event_id), 16)
        elif isinstance(running, _Live):
            sid = int(span_id(running.tool_key(tool)), 16)
        else:
            sid = int(span_id(f"{parent.id}/{who}/tool/{tool}/{time.time_ns()}"), 16)
        attributes: dict[str, AttributeValue] = {
            **tool_attributes(tool, call_id=call_id),
            "callsheet.agent": who,
            "callsheet.goal.id": parent.goal_id,
            **span.attributes,
        }
        if event_id is not None:
            attributes["callsheet.event.id"] = event_id
        error = span.error
        out.record(
            ReadableSpan(
                name=f"execute_tool {tool}",
                context=_context(trace, sid),
                parent=span_context(parent.correlation_id, parent.id),
                resource=resource_of(who),
                attributes=attributes,
                kind=SpanKind.INTERNAL,
                status=Status(StatusCode.OK)
                if error is None
                else Status(StatusCode.ERROR, error[:512]),
                start_time=start,
                end_time=max(time.time_ns(), start),
                instrumentation_scope=SCOPE,
            )
        )
