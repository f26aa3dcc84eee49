"""What a span of an event says: its name, kind, status and attributes, for both kinds of trace.

The trace rebuilt from the log (``traces``) and the live spans of running agents
(``live``) describe an event the same way, so Jaeger shows the same span
whichever sent it. Model calls (``model.called``) and tool calls
(``tool.called``) follow the OpenTelemetry GenAI semantic conventions
(``gen_ai.*``: operation, provider, model, tokens, tool name); cost, which the
conventions do not name, is ``callsheet.cost_usd``.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from callsheet.events.catalog import ModelCalled, ToolCalled
from callsheet.events.envelope import Event

__all__ = ["FAILURES", "EventSpanShape", "model_call_attributes", "shape_of", "tool_attributes"]

FAILURES = frozenset({"agent.error", "task.failed", "goal.rejected", "budget.exceeded"})
"""Event types whose span is marked as an error."""

Attributes = dict[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class EventSpanShape:
    """How the span of one event looks, apart from its ids and times.

    Attributes:
        name: The span's name (``task.assigned t1``; ``chat claude-...`` for a model call).
        kind: Producer for a root event, consumer for a reaction, client for a model call.
        failed: Whether the span is an error (a failure event, or a tool call that failed).
        attributes: ``callsheet.*`` attributes of the event, and ``gen_ai.*`` ones.
    """

    name: str
    kind: SpanKind
    failed: bool
    attributes: Attributes


def model_call_attributes(
    provider: str, model: str, input_tokens: int, output_tokens: int, stop_reason: str | None
) -> Attributes:
    """The GenAI conventions' attributes of one chat call to a model."""
    attributes: Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # the older name, still read by many back ends
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    if stop_reason:
        attributes["gen_ai.response.finish_reasons"] = (stop_reason,)
    return attributes


def tool_attributes(tool: str, *, call_id: str | None = None) -> Attributes:
    """The GenAI conventions' attributes of one tool execution."""
    attributes: Attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.type": "function",
    }
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    return attributes


def shape_of(event: Event, seq: int | None = None) -> EventSpanShape:
    """The name, kind, status and attributes of the span of ``event``; pure."""
    attributes: Attributes = {
        "callsheet.event.id": event.id,
        "callsheet.event.type": event.event_type,
        "callsheet.goal.id": event.goal_id,
        "callsheet.producer": event.producer,
    }
    if seq is not None:
        attributes["callsheet.event.seq"] = seq
    if event.task_id is not None:
        attributes["callsheet.task.id"] = event.task_id
    cause = event.causation_id
    if cause is not None:
        attributes["callsheet.causation.id"] = cause
    name = event.event_type if event.task_id is None else f"{event.event_type} {event.task_id}"
    kind = SpanKind.CONSUMER if cause else SpanKind.PRODUCER
    failed = event.event_type in FAILURES
    if isinstance(event, ModelCalled):
        data = event.data
        attributes.update(
            model_call_attributes(
                data.provider, data.model, data.input_tokens, data.output_tokens, data.stop_reason
            )
        )
        attributes["callsheet.cost_usd"] = data.cost_usd
        attributes["gen_ai.agent.name"] = data.agent
        name, kind = f"chat {data.model}", SpanKind.CLIENT
    elif isinstance(event, ToolCalled):
        tool = event.data
        attributes.update(tool_attributes(tool.tool, call_id=tool.request_digest))
        if tool.exit_code is not None:
            attributes["process.exit.code"] = tool.exit_code
        if tool.command:
            attributes["process.command_args"] = tuple(tool.command)
        attributes["gen_ai.agent.name"] = tool.agent
        name, kind = f"execute_tool {tool.tool}", SpanKind.INTERNAL
        failed = tool.error is not None
    return EventSpanShape(name, kind, failed, attributes)
