"""``callsheet trace``: send a goal's causal chain to Jaeger (or any OTLP collector)."""

from __future__ import annotations

import asyncio

import click

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.observability.traces import TraceBuilder, export_spans

__all__ = ["trace"]


@click.command()
@click.option("--goal", "goal_id", default=None, help="Only this goal (one trace).")
@click.option(
    "--endpoint",
    default=None,
    help="OTLP/HTTP traces endpoint, e.g. http://localhost:4318/v1/traces (Jaeger); "
    "default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or localhost:4318.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep exporting new events as they arrive.")
def trace(goal_id: str | None, endpoint: str | None, follow: bool) -> None:
    """Export events as OpenTelemetry spans: each goal is a trace, each cause a parent span."""
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
