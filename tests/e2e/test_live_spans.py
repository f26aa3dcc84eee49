"""Live spans: a crew process exports its spans over OTLP, set up by the standard variables alone.

The receiver is a real OTLP/HTTP endpoint (``tests.otlp_support``); the spans it
gets must hang together with the trace rebuilt from the log: the same trace id,
the same span ids and parents for every event the crew appended.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callsheet.events.tracing import span_id, trace_id
from callsheet.observability import spans_for
from tests.e2e.cli_support import Processes, cli_env
from tests.e2e.test_crew_failures import open_log, submit
from tests.otlp_support import Collector, collector
from tests.support import assert_eventually

__all__ = ["collector"]  # the fixture

pytestmark = pytest.mark.e2e


async def test_a_running_crew_sends_the_goal_as_one_trace_with_the_rebuilt_ids(
    nats_url: str, tmp_path: Path, collector: Collector
) -> None:
    env = cli_env(nats_url, tmp_path)
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=collector.base, OTEL_BSP_SCHEDULE_DELAY="100")
    env.pop("OTEL_SDK_DISABLED", None)
    env.pop("OTEL_TRACES_EXPORTER", None)
    procs = Processes(env)
    nc, store = await open_log(env)
    try:
        procs.start("crew", "--lease", "2", "--step-seconds", "0.01")
        await submit(store, "g-live")

        async def completed() -> bool:
            types = [s.event.event_type async for s in store.read(goal_id="g-live")]
            return "goal.completed" in types

        await assert_eventually(completed, timeout=60, message="the goal did not complete")
        events = [s async for s in store.read(goal_id="g-live")]
    finally:
        procs.stop()  # SIGTERM: a clean stop flushes the batch of spans
        await nc.close()

    rebuilt = {s.context.span_id: s for s in spans_for(events) if s.context is not None}
    agent_events = [s for s in events if s.event.producer != "test"]

    def arrived() -> bool:
        got = {r.span_id for r in collector.received()}
        return all(span_id(s.event.id) in got for s in agent_events)

    await assert_eventually(arrived, timeout=20, message="the crew's spans did not all arrive")
    received = collector.received()
    assert {r.trace_id for r in received} == {trace_id("g-live")}  # one goal, one trace

    # Every event the crew appended has its live span: the rebuilt span's id and parent.
    by_event = {
        r.attributes["callsheet.event.id"]: r
        for r in received
        if "callsheet.event.id" in r.attributes
    }
    assert set(by_event) == {s.event.id for s in agent_events}
    handlings = {r.span_id: r for r in received if "callsheet.handler" in r.attributes}
    for stored in agent_events:
        live = by_event[stored.event.id]
        twin = rebuilt[int(live.span_id, 16)]
        assert twin.parent is not None
        assert (
            live.parent_id
            == f"{twin.parent.span_id:016x}"
            == span_id(stored.event.causation_id or "")
        )
        assert live.service == stored.event.producer
        assert live.span.name == twin.name
        # ... and it links to the handling that made it, which was sent too.
        (link,) = live.span.links
        made_by = handlings[bytes(link.span_id).hex()]
        assert made_by.parent_id == live.parent_id  # the handling's parent: the same cause

    # Each handling is a span whose parent is the span of the event it handled.
    assert len(received) == len(by_event) + len(handlings)
    ids = {f"{i:016x}" for i in rebuilt}
    for handling in handlings.values():
        assert handling.parent_id in ids
        assert handling.parent_id == span_id(handling.attributes["callsheet.cause.id"])
    names = sorted(h.span.name for h in handlings.values())
    assert "handle goal.submitted" in names and "handle goal.accepted" in names
    deliveries = [h for h in handlings.values() if h.span.name.startswith("work ")]
    started = [s for s in events if s.event.event_type == "task.started"]
    assert len(deliveries) >= len(started) > 0
    assert {h.service for h in deliveries} == {s.event.producer for s in started}

    # Model calls follow the GenAI conventions.
    calls = [s.event for s in events if s.event.event_type == "model.called"]
    assert calls
    for call in calls:
        span = by_event[call.id]
        data = getattr(call, "data")  # noqa: B009
        assert span.span.name == f"chat {data.model}"
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["gen_ai.request.model"] == data.model
        assert span.attributes["gen_ai.usage.input_tokens"] == data.input_tokens
        assert span.attributes["gen_ai.usage.output_tokens"] == data.output_tokens
        assert span.span.end_time_unix_nano - span.span.start_time_unix_nano == pytest.approx(
            data.latency_ms * 1e6, abs=2_000
        )
