"""Recorded side effects and spending: model and tool calls, usage, budgets."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from callsheet.events.envelope import Event, Id, Json, NonNegative, Payload, Text

__all__ = [
    "BudgetExceeded",
    "BudgetExceededData",
    "ModelCalled",
    "ModelCalledData",
    "ToolCalled",
    "ToolCalledData",
    "UsageRecorded",
    "UsageRecordedData",
]

Digest = Annotated[
    str, Meta(pattern=r"^sha256:[0-9a-f]{64}$(?!\n)", description="sha256:<hex> of the content.")
]
Usd = Annotated[float, Meta(ge=0, description="Amount in US dollars.")]


class ModelCalledData(Payload, kw_only=True, frozen=True):
    """A model call, recorded so that a replay never calls the model again."""

    agent: Annotated[Id, Meta(description="Agent that made the call.")]
    provider: Annotated[str, Meta(max_length=64, description="e.g. 'anthropic', 'offline'.")]
    model: Annotated[str, Meta(max_length=128, description="Model name.")]
    request_digest: Annotated[Digest, Meta(description="Digest of the canonical request.")]
    request: Annotated[Json, Meta(description="The request (messages, tools).")] = None
    response: Annotated[Json, Meta(description="The model's answer, as structured data.")]
    stop_reason: Annotated[
        Annotated[str, Meta(max_length=64)] | None, Meta(description="Why it stopped.")
    ] = None
    input_tokens: Annotated[NonNegative, Meta(description="Tokens sent.")] = 0
    output_tokens: Annotated[NonNegative, Meta(description="Tokens received.")] = 0
    cost_usd: Usd = 0.0
    latency_ms: Annotated[float, Meta(ge=0, description="Wall time of the call.")] = 0.0
    error: Annotated[
        Text | None, Meta(description="Why the call failed, if it did (no response then).")
    ] = None


class ModelCalled(Event, tag="model.called", frozen=True, kw_only=True):
    """An agent called a model."""

    data: ModelCalledData


class ToolCalledData(Payload, kw_only=True, frozen=True):
    """A tool call (or any other non-deterministic input), recorded for replay."""

    agent: Annotated[Id, Meta(description="Agent that made the call.")]
    tool: Annotated[Id, Meta(description="Tool name.")]
    request_digest: Annotated[Digest, Meta(description="Digest of the canonical arguments.")]
    arguments: Annotated[Json, Meta(description="The arguments.")] = None
    result: Annotated[
        Json, Meta(description="What the tool returned (a process: its exit code and output).")
    ] = None
    error: Annotated[Text | None, Meta(description="The error, if it failed.")] = None
    command: Annotated[
        list[Annotated[str, Meta(max_length=65536)]],
        Meta(description="The exact command line run, for a process."),
    ] = []
    exit_code: Annotated[int | None, Meta(description="The process's exit status.")] = None
    duration_ms: Annotated[float, Meta(ge=0, description="Wall time of the call.")] = 0.0
    output_digest: Annotated[
        Digest | None, Meta(description="sha256 of the result as canonical JSON.")
    ] = None


class ToolCalled(Event, tag="tool.called", frozen=True, kw_only=True):
    """An agent called a tool."""

    data: ToolCalledData


class UsageRecordedData(Payload, kw_only=True, frozen=True):
    """Tokens and money spent, for the cost projection."""

    agent: Annotated[Id, Meta(description="Agent that spent it.")]
    model: Annotated[str, Meta(max_length=128, description="Model name.")]
    input_tokens: Annotated[NonNegative, Meta(description="Tokens sent.")] = 0
    output_tokens: Annotated[NonNegative, Meta(description="Tokens received.")] = 0
    cost_usd: Usd = 0.0


class UsageRecorded(Event, tag="usage.recorded", frozen=True, kw_only=True):
    """Usage was recorded."""

    data: UsageRecordedData


class BudgetExceededData(Payload, kw_only=True, frozen=True):
    """A spending limit was crossed."""

    scope: Annotated[Literal["goal", "agent", "model"], Meta(description="What is limited.")]
    scope_id: Annotated[Id, Meta(description="Id of the goal, agent or model.")]
    limit_usd: Annotated[Usd | None, Meta(description="The money limit.")] = None
    spent_usd: Usd = 0.0
    limit_tokens: Annotated[NonNegative | None, Meta(description="The token limit.")] = None
    spent_tokens: Annotated[NonNegative, Meta(description="Tokens spent.")] = 0
    action: Annotated[
        Literal["warn", "pause", "stop"], Meta(description="What the crew does now.")
    ] = "stop"
    details: Annotated[Json, Meta(description="Extra structured details.")] = None


class BudgetExceeded(Event, tag="budget.exceeded", frozen=True, kw_only=True):
    """A budget was exceeded."""

    data: BudgetExceededData
