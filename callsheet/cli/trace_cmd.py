"""``callsheet trace``: a goal as a trace, to Jaeger (OTLP), a Jaeger JSON file or a tree."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.events.store import StoredEvent
from callsheet.observability.jaeger import jaeger_document
from callsheet.observability.traces import TraceBuilder, export_spans, spans_for
from callsheet.observability.tree import causal_tree, render_tree

__all__ = ["trace"]


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a failure leaves no half file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_INVALID)


@click.command()
@click.option("--goal", "goal_id", default=None, help="Only this goal (one trace).")
@click.option(
    "--endpoint",
    default=None,
    help="OTLP/HTTP traces endpoint, e.g. http://localhost:4318/v1/traces (Jaeger); "
    "default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or localhost:4318.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep exporting new events as they arrive.")
@click.option(
    "--jaeger-json",
    "jaeger_json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the trace to FILE in the format Jaeger's UI opens (Search, JSON File) instead.",
)
@click.option("--tree", is_flag=True, help="Print the causal tree (✗ failed, ↻ retry) instead.")
def trace(
    goal_id: str | None, endpoint: str | None, follow: bool, jaeger_json: Path | None, tree: bool
) -> None:
    """Export events as OpenTelemetry spans: each goal is a trace, each cause a parent span."""
    if jaeger_json is not None or tree:
        if follow or endpoint is not None:
            fail("--jaeger-json and --tree take no --follow or --endpoint", EXIT_INVALID)
        if jaeger_json is not None and tree:
            fail("give --jaeger-json or --tree, not both", EXIT_INVALID)
        _offline(goal_id, jaeger_json)
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        fail(f"--endpoint {endpoint!r} must be an http(s) URL", EXIT_INVALID)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=10)
    builder = TraceBuilder()

    async def main() -> int:
        sent = 0
        async with open_store() as store:
            if not follow:
                spans = [builder.span(s) async for s in store.read(goal_id=goal_id)]
                if goal_id is not None and not spans:
                    fail(f"goal {goal_id!r} has no events", EXIT_INVALID)
                await asyncio.to_thread(export_spans, exporter, spans)
                return len(spans)
            async with store.subscribe(goal_id=goal_id) as sub:
                async for stored in sub:
                    span = builder.span(stored)
                    await asyncio.to_thread(export_spans, exporter, [span])
                    sent += 1
        return sent

    try:
        count = run(main)
    except RuntimeError as exc:
        fail(f"{exc} (is the collector at {endpoint or 'the default endpoint'} up?)")
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    what = f"goal {goal_id}" if goal_id else "the log"
    click.echo(f"exported {count} spans of {what}")


def _offline(goal_id: str | None, jaeger_json: Path | None) -> None:
    async def main() -> list[StoredEvent]:
        async with open_store() as store:
            return [s async for s in store.read(goal_id=goal_id)]

    events = run(main)
    if not events:
        fail(f"no events of goal {goal_id!r}" if goal_id else "the log is empty", EXIT_INVALID)
    if jaeger_json is None:
        click.echo(render_tree(causal_tree(events)), nl=False)
        return
    document = jaeger_document(spans_for(events))
    _write_atomically(jaeger_json, json.dumps(document, indent=1) + "\n")
    traces = len(document["data"])
    click.echo(f"wrote {len(events)} spans in {traces} trace(s) to {jaeger_json}")
