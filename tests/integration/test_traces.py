"""Goals as OpenTelemetry traces, sent by the real OTLP/HTTP exporter to a local collector."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from callsheet.agents import AgentRuntime
from callsheet.crew import build_crew
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.stream import StoreConfig
from callsheet.events.tracing import span_id, trace_id
from callsheet.observability import export_spans, spans_for
from tests.e2e.cli_support import CLI, cli_env
from tests.otlp_support import Collector, collector
from tests.support import assert_eventually

__all__ = ["collector"]  # the fixture


async def run_goal(store: EventStore, goal: str) -> list[StoredEvent]:
    async with AgentRuntime(store, build_crew(lease_seconds=2, step_seconds=0.01)):
        await store.append(
            GoalSubmitted.new(
                data=GoalSubmittedData(title="Build a login"), goal_id=goal, producer="test"
            )
        )

        async def completed() -> bool:
            return "goal.completed" in [s.event.event_type async for s in store.read(goal_id=goal)]

        await assert_eventually(completed, timeout=30, message="the goal did not complete")
    return [s async for s in store.read(goal_id=goal)]


async def test_a_goal_is_one_trace_whose_parents_follow_causation(store: EventStore) -> None:
    events = await run_goal(store, "g-trace")
    spans = spans_for(events)
    assert len(spans) == len(events)
    assert {s.context.trace_id for s in spans if s.context} == {int(trace_id("g-trace"), 16)}
    ids = {s.context.span_id for s in spans if s.context}
    for stored, span in zip(events, spans, strict=True):
        assert span.context is not None and span.context.span_id == int(
            span_id(stored.event.id), 16
        )
        cause = stored.event.causation_id
        if cause is None:
            assert span.parent is None
        else:
            assert span.parent is not None and span.parent.span_id == int(span_id(cause), 16)
            assert span.parent.span_id in ids  # every cause is in the same trace
        assert span.resource.attributes["service.name"] == stored.event.producer
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.end_time
    roots = [s for s in spans if s.parent is None]
    assert [s.name for s in roots] == ["goal.submitted"]


async def test_spans_reach_a_collector_through_the_otlp_exporter(
    store: EventStore, collector: Collector
) -> None:
    events = await run_goal(store, "g-otlp")
    exporter = OTLPSpanExporter(endpoint=collector.url, timeout=5)
    try:
        export_spans(exporter, spans_for(events), batch=7)
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    assert len(collector.spans) == len(events)
    by_id = {bytes(s.span.span_id): s.span for s in collector.spans}
    for stored in events:
        span = by_id[bytes.fromhex(span_id(stored.event.id))]
        assert bytes(span.trace_id) == bytes.fromhex(trace_id("g-otlp"))
        cause = stored.event.causation_id
        assert bytes(span.parent_span_id) == (bytes.fromhex(span_id(cause)) if cause else b"")
    assert {"controller", "supervisor", "test"} <= set(collector.services)


async def test_the_trace_command_exports_a_goal(
    nats_url: str, tmp_path: Path, collector: Collector, nc: Any
) -> None:
    env = cli_env(nats_url, tmp_path)
    store = await EventStore.open(
        nc, StoreConfig(stream=env["CALLSHEET_STREAM"], root=env["CALLSHEET_SUBJECT_ROOT"])
    )
    events = await run_goal(store, "g-cli")
    out = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "trace", "--goal", "g-cli", "--endpoint", collector.url],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"exported {len(events)} spans of goal g-cli" in out.stdout
    assert len(collector.spans) == len(events)
    bad = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "trace", "--goal", "g-cli", "--endpoint", "localhost:1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "must be an http(s) URL" in bad.stderr
    await nc.jetstream().delete_stream(env["CALLSHEET_STREAM"])


async def test_the_trace_command_writes_a_jaeger_file_and_prints_the_tree(
    nats_url: str, tmp_path: Path, nc: Any
) -> None:
    env = cli_env(nats_url, tmp_path)
    store = await EventStore.open(
        nc, StoreConfig(stream=env["CALLSHEET_STREAM"], root=env["CALLSHEET_SUBJECT_ROOT"])
    )
    events = await run_goal(store, "g-file")

    def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "trace", *args], env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    target = tmp_path / "g-file.json"
    out = await asyncio.to_thread(cli_run, "--goal", "g-file", "--jaeger-json", str(target))
    assert out.returncode == 0, out.stderr
    assert f"wrote {len(events)} spans in 1 trace(s) to {target}" in out.stdout
    (written,) = json.loads(target.read_text())["data"]
    assert written["traceID"] == trace_id("g-file")
    assert {s["spanID"] for s in written["spans"]} == {span_id(s.event.id) for s in events}

    tree = await asyncio.to_thread(cli_run, "--goal", "g-file", "--tree")
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0] == f"{len(events)} events"
    assert lines[1].startswith("└── goal.submitted")
    assert sum(1 for line in lines if "task.result" in line) == sum(
        1 for s in events if s.event.event_type == "task.result"
    )

    unknown = await asyncio.to_thread(cli_run, "--goal", "nope", "--jaeger-json", str(target))
    assert unknown.returncode == 2 and "no events of goal 'nope'" in unknown.stderr
    assert json.loads(target.read_text())["data"][0]["traceID"] == trace_id("g-file")  # kept
    nowhere = tmp_path / "missing" / "x.json"
    bad = await asyncio.to_thread(cli_run, "--goal", "g-file", "--jaeger-json", str(nowhere))
    assert bad.returncode == 2 and f"cannot write {nowhere}" in bad.stderr
    both = await asyncio.to_thread(cli_run, "--jaeger-json", str(target), "-f")
    assert both.returncode == 2 and "take no --follow" in both.stderr
    await nc.jetstream().delete_stream(env["CALLSHEET_STREAM"])
