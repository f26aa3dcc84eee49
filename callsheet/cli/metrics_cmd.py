"""``callsheet metrics``: the crew's metrics from the log, printed once, and sent over OTLP."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from callsheet.agents import queue_depth
from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.events.store import EventStore
from callsheet.observability.metrics import Instruments, Tally, points, wanted

__all__ = ["metrics"]


async def _depths(store: EventStore, roles: set[str]) -> dict[str, int]:
    js = store.nc.jetstream()
    found = {}
    for role in sorted(roles):
        depth = await queue_depth(js, store.config.stream, role)
        if depth is not None:
            found[role] = depth.waiting
    return found


def _value(point: Any) -> str:
    if hasattr(point, "bucket_counts"):  # a histogram
        mean = point.sum / point.count if point.count else 0.0
        return f"count {point.count}, mean {mean:.4g}, max {point.max:.4g}"
    value = point.value
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print(data: Any) -> None:
    table = Table("metric", "attributes", "value", "unit", show_edge=False)
    for name, unit, attributes, point in sorted(points(data), key=lambda p: (p[0], str(p[2]))):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
        table.add_row(name, shown, _value(point), unit)
    Console(width=None if os.isatty(1) else 140).print(table)


@click.command()
@click.option("--goal", "goal_id", default=None, help="Only this goal's events.")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Keep following the log and send the metrics over OTLP every "
    "OTEL_METRIC_EXPORT_INTERVAL ms (needs OTEL_EXPORTER_OTLP_ENDPOINT).",
)
def metrics(goal_id: str | None, follow: bool) -> None:
    """Print the crew's metrics once, folded from the log.

    Tasks by state, dispatch latency, task durations, retries and failures, queue
    depth per role, tokens and cost per model, events per second. With the
    standard OTEL_* variables set they are also sent over OTLP.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        InMemoryMetricReader,
        MetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource

    export = wanted(os.environ)
    if follow and not export:
        fail("--follow sends metrics over OTLP: set OTEL_EXPORTER_OTLP_ENDPOINT", EXIT_INVALID)
    memory = InMemoryMetricReader()
    readers: list[MetricReader] = [memory]
    if export:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    resource = Resource.create(
        {"service.name": "callsheet-metrics", "service.namespace": "callsheet"}
    )
    provider = MeterProvider(metric_readers=readers, resource=resource)
    tally = Tally()
    depths: dict[str, int] = {}
    instruments = Instruments(provider, tally, lambda: depths)

    async def main() -> int:
        async with open_store() as store:
            async for stored in store.read(goal_id=goal_id):
                instruments.fold(stored.event)
            if goal_id is not None and not tally.events:
                fail(f"no events of goal {goal_id!r}", EXIT_INVALID)
            depths.update(await _depths(store, tally.roles))
            if follow:
                await _follow(store, instruments, depths, goal_id)
        return tally.events

    try:
        count = run(main)
        data = memory.get_metrics_data()
        if not follow:
            _print(data)
            what = f"goal {goal_id}" if goal_id else "the log"
            sent = ", sent over OTLP" if export else ""
            click.echo(f"{count} events of {what}{sent}")
    finally:
        provider.shutdown()  # the OTLP reader's last export


async def _follow(
    store: EventStore, instruments: Instruments, depths: dict[str, int], goal_id: str | None
) -> None:
    async def refresh() -> None:
        while True:
            await asyncio.sleep(5)
            depths.update(await _depths(store, instruments.tally.roles))

    refreshing = asyncio.ensure_future(refresh())
    try:
        last = instruments.tally.events
        async with store.subscribe(goal_id=goal_id) as sub:
            async for stored in sub:
                last -= 1
                if last >= 0:
                    continue  # folded by the first read
                instruments.fold(stored.event)
    finally:
        refreshing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refreshing
