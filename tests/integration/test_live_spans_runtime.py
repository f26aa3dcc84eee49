"""Live spans from an in-process runtime, through the OTLP exporter to a real receiver.

Covers the paths the crew's e2e run does not: reports appended as an atomic
batch (``ctx.flush``), and a handler that raises (an error span and the
``agent.error`` it recorded).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from callsheet.agents import Agent, AgentRuntime, HandlerContext, WorkContext, on, work
from callsheet.events.catalog import (
    GoalSubmitted,
    TaskAssigned,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.store import EventStore
from callsheet.events.tracing import span_id
from callsheet.observability import live, spans_for
from tests.integration.agent_support import assigned, stored_log, submitted, wait_for_type
from tests.otlp_support import Collector, collector
from tests.support import assert_eventually

__all__ = ["collector"]  # the fixture


class Batcher(Agent):
    kind, role, lease_seconds = "worker", "writer", 5.0

    @work()
    async def write(self, task: TaskAssigned, ctx: WorkContext) -> dict[str, int]:
        for step in range(3):
            ctx.emit(TaskProgress, TaskProgressData(worker=self.name, percent=25.0 * (step + 1)))
        await ctx.flush()  # one atomic batch of three reports
        return {"steps": 3}


class Grumpy(Agent):
    kind = "observer"

    @on()
    async def refuse(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        raise ValueError("not today")


@pytest.fixture
def exported(collector: Collector) -> Iterator[Collector]:
    live.install(OTLPSpanExporter(endpoint=collector.url, timeout=5))
    try:
        yield collector
    finally:
        live.install(None)


async def test_batched_reports_and_a_failing_handler_are_live_spans(
    store: EventStore, exported: Collector
) -> None:
    async with AgentRuntime(store, [Batcher("w1"), Grumpy("grumpy")]):
        await store.append(submitted("g"))
        await store.append(assigned("t1"))
        await wait_for_type(store, "task.result")
        await wait_for_type(store, "agent.error")
    events = await stored_log(store, "g")
    mine = [s for s in events if s.event.producer in ("w1", "grumpy")]
    assert sum(s.event.event_type == "task.progress" for s in mine) == 3

    def arrived() -> bool:
        assert live.flush()
        got = {r.span_id for r in exported.received()}
        return all(span_id(s.event.id) in got for s in mine)

    await assert_eventually(arrived, timeout=20, message="not every event's span arrived")
    rebuilt = {f"{s.context.span_id:016x}": s for s in spans_for(events) if s.context}
    received = exported.received()
    by_id = {r.span_id: r for r in received}
    for stored in mine:
        span = by_id[span_id(stored.event.id)]
        parent: Any = rebuilt[span.span_id].parent
        assert span.parent_id == f"{parent.span_id:016x}"
    failed = [r for r in received if r.attributes.get("callsheet.handler") == "refuse"]
    (handling,) = failed
    assert handling.span.status.code == 2  # STATUS_CODE_ERROR
    assert "ValueError: not today" in handling.span.status.message
    assert handling.parent_id == span_id(events[0].event.id)
    error = next(s for s in mine if s.event.event_type == "agent.error")
    assert bytes(by_id[span_id(error.event.id)].span.links[0].span_id).hex() == handling.span_id
    (delivery,) = [r for r in received if r.span.name == "work t1"]
    assert delivery.attributes["callsheet.emitted"] == 5  # started, 3 progress, result
