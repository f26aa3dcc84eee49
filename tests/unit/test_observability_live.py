"""Live spans on their own: when they are on, the tool-call helper, the handling spans."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    ModelCalled,
    ModelCalledData,
    ToolCalled,
    ToolCalledData,
)
from callsheet.events.tracing import span_id, trace_id
from callsheet.observability import live
from callsheet.observability.traces import unix_nanos

AGENT = SimpleNamespace(name="analyzer-1", kind="worker")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    live.install(exporter, batched=False)
    try:
        yield exporter
    finally:
        live.install(None)


def goal() -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g1", producer="cli")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, True),
    ],
)
def test_the_standard_variables_decide_whether_spans_are_sent(
    environ: dict[str, str], expected: bool
) -> None:
    assert live.wanted(environ) is expected


def test_without_tracing_every_call_returns_the_shared_do_nothing_value() -> None:
    live.install(None)
    cause = goal()
    assert live.handling(AGENT, "h", cause) is live.OFF
    assert live.delivery(AGENT, "h", cause, 1) is live.OFF
    with live.tool_call("ruff", cause=cause) as span:
        span.set("process.exit.code", 1)
    assert live.flush()


def test_a_tool_call_is_a_genai_span_under_the_running_handling(
    spans: InMemorySpanExporter,
) -> None:
    cause = goal()
    with live.handling(AGENT, "review", cause) as handling:
        handling.begin()
        with live.tool_call("ruff", call_id="sha256:ab") as tool:
            tool.set("process.exit.code", 1)
        with pytest.raises(RuntimeError), live.tool_call("mypy"):
            raise RuntimeError("mypy crashed")
    ruff, mypy, handled = spans.get_finished_spans()
    assert ruff.name == "execute_tool ruff" and ruff.kind is SpanKind.INTERNAL
    assert ruff.attributes is not None
    assert ruff.attributes["gen_ai.operation.name"] == "execute_tool"
    assert ruff.attributes["gen_ai.tool.name"] == "ruff"
    assert ruff.attributes["gen_ai.tool.call.id"] == "sha256:ab"
    assert ruff.attributes["process.exit.code"] == 1
    assert ruff.status.status_code is StatusCode.OK
    assert mypy.status.status_code is StatusCode.ERROR
    assert mypy.status.description == "RuntimeError: mypy crashed"
    for span in (ruff, mypy, handled):
        assert span.context is not None and span.parent is not None
        assert span.context.trace_id == int(trace_id("g1"), 16)
        assert span.parent.span_id == int(span_id(cause.id), 16)  # the cause's span
    assert ruff.context is not None and mypy.context is not None
    assert ruff.context.span_id != mypy.context.span_id
    assert ruff.resource.attributes["service.name"] == "analyzer-1"
    assert handled.name == "handle goal.submitted"


def test_a_tool_call_with_its_event_id_is_that_event_s_span_sent_once(
    spans: InMemorySpanExporter,
) -> None:
    cause = goal()
    with live.tool_call("bandit", event_id="01TOOLCALLED", cause=cause, agent="sec-1"):
        pass
    live.sink().record(spans.get_finished_spans()[0])  # type: ignore[union-attr]
    (span,) = spans.get_finished_spans()
    assert span.context is not None and span.context.span_id == int(span_id("01TOOLCALLED"), 16)
    assert span.resource.attributes["service.name"] == "sec-1"


def test_outside_a_handling_and_without_a_cause_a_tool_call_records_nothing(
    spans: InMemorySpanExporter,
) -> None:
    with live.tool_call("ruff"):
        pass
    assert spans.get_finished_spans() == ()


def test_a_handling_that_never_began_leaves_no_span_and_a_failure_is_an_error(
    spans: InMemorySpanExporter,
) -> None:
    cause = goal()
    with live.handling(AGENT, "filtered", cause):
        pass
    with live.handling(AGENT, "broken", cause) as handling:
        handling.begin()
        handling.failed("ValueError: no plan")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: no plan"
    assert span.attributes is not None and span.attributes["callsheet.handler"] == "broken"


def test_a_model_call_s_span_covers_the_call_and_follows_the_genai_conventions(
    spans: InMemorySpanExporter,
) -> None:
    cause = goal()
    data = ModelCalledData(
        agent="analyzer-1", provider="anthropic", model="claude-x",
        request_digest="sha256:" + "0" * 64, response={"a": 1}, stop_reason="end_turn",
        input_tokens=12, output_tokens=5,
        cost_usd=0.25, latency_ms=40.0,
    )  # fmt: skip
    called = ModelCalled.new(data=data, goal_id="g1", producer="analyzer-1", causation_id=cause.id)
    with live.handling(AGENT, "plan", cause) as handling:
        handling.begin()
        handling.reacted([called])
    model, _ = spans.get_finished_spans()
    assert model.name == "chat claude-x" and model.kind is SpanKind.CLIENT
    assert model.context is not None and model.context.span_id == int(span_id(called.id), 16)
    assert model.attributes is not None
    assert model.attributes["gen_ai.provider.name"] == "anthropic"
    assert model.attributes["gen_ai.usage.input_tokens"] == 12
    assert model.attributes["gen_ai.usage.output_tokens"] == 5
    assert model.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert model.attributes["callsheet.cost_usd"] == 0.25
    assert model.end_time is not None and model.start_time is not None
    assert model.end_time - model.start_time == 40_000_000
    assert model.end_time == unix_nanos(called.occurred_at)


def test_a_recorded_tool_call_s_span_covers_the_run_with_its_exit_code(
    spans: InMemorySpanExporter,
) -> None:
    cause = goal()
    data = ToolCalledData(
        agent="analyzer-1", tool="ruff", request_digest="sha256:" + "1" * 64,
        command=["ruff", "check", "."], exit_code=1, duration_ms=250.0,
    )  # fmt: skip
    called = ToolCalled.new(data=data, goal_id="g1", producer="analyzer-1", causation_id=cause.id)
    with live.handling(AGENT, "analyze", cause) as handling:
        handling.begin()
        handling.reacted([called])
    tool, _ = spans.get_finished_spans()
    assert tool.name == "execute_tool ruff" and tool.kind is SpanKind.INTERNAL
    assert tool.context is not None and tool.context.span_id == int(span_id(called.id), 16)
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.name"] == "ruff"
    assert tool.attributes["process.exit.code"] == 1
    assert tool.attributes["process.command_args"] == ("ruff", "check", ".")
    assert tool.end_time is not None and tool.start_time is not None
    assert tool.end_time - tool.start_time == 250_000_000
    assert tool.status.status_code is StatusCode.OK
