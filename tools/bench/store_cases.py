"""Cases on the log itself: ``append`` (typed vs raw, lazy and durable) and ``replay``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial

import nats
from nats.aio.client import Client
from ulid import ULID

from callsheet.events.catalog import TaskProgress
from callsheet.events.group_commit import GroupCommit
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig, stream_config
from tools import bench_replay
from tools.bench.common import Row, Settings, nats_server
from tools.bench_store import (
    make_events,
    raw_messages,
    raw_publish_async,
    timed,
    typed_append_many,
)

__all__ = ["append", "replay"]

CHUNK = 500


async def _grouped(store: EventStore, events: list[TaskProgress]) -> int:
    """Concurrent single appends through group commit (at most ``CHUNK`` callers at once)."""
    committer = GroupCommit(store)
    stored = 0
    for i in range(0, len(events), CHUNK):
        done = await asyncio.gather(*(committer.append(e) for e in events[i : i + CHUNK]))
        stored += sum(1 for a in done if not a.duplicate)
    return stored


async def _append_rates(
    url: str, events: int, rounds: int
) -> tuple[list[float], list[float], list[float]]:
    """Events/s of ``append_many``, raw ``publish_async`` and group commit, alternating."""
    nc: Client = await nats.connect(url)
    js = nc.jetstream(timeout=30.0)
    typed_rates: list[float] = []
    raw_rates: list[float] = []
    group_rates: list[float] = []
    try:
        for r in range(rounds + 1):  # round 0 warms up
            uid = str(ULID()).lower()
            typed_cfg = StoreConfig(stream=f"A_{uid}_T", root=f"a{uid}t", blob_bucket=f"AB_{uid}")
            raw_cfg = StoreConfig(stream=f"A_{uid}_R", root=f"a{uid}r", blob_bucket=f"AB_{uid}")
            store = await EventStore.open(nc, typed_cfg)
            await js.add_stream(stream_config(raw_cfg))
            start = datetime.now(UTC)
            batch = make_events(events, start=start, tag=f"{uid}t")
            singles = make_events(events, start=start, tag=f"{uid}g")
            raw = raw_messages(make_events(events, start=start, tag=f"{uid}r"), raw_cfg.root)
            for side in ("typed", "raw", "group") if r % 2 else ("group", "raw", "typed"):
                if side == "group":
                    count, secs = await timed(partial(_grouped, store, singles))
                    if r:
                        group_rates.append(count / secs)
                elif side == "typed":
                    count, secs = await timed(partial(typed_append_many, store, batch, CHUNK))
                    if r:
                        typed_rates.append(count / secs)
                else:
                    count, secs = await timed(partial(raw_publish_async, js, raw, CHUNK))
                    if r:
                        raw_rates.append(count / secs)
            for cfg in (typed_cfg, raw_cfg):
                await js.delete_stream(cfg.stream)
    finally:
        await nc.close()
    return typed_rates, raw_rates, group_rates


def append(settings: Settings) -> list[Row]:
    """Appends of ``task.progress`` events in chunks, typed next to raw, lazy and durable."""
    events = 2_000 if settings.quick else 20_000
    rates: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for mode in ("lazy", "durable"):
        with nats_server(durable=mode == "durable") as server:
            rates[mode] = asyncio.run(_append_rates(server.url, events, settings.rounds))
    lazy_typed, lazy_raw, _ = (max(v) for v in rates["lazy"])
    durable_typed, durable_raw, durable_group = (max(v) for v in rates["durable"])
    rows = [
        Row(
            "append",
            f"lazy (sync every 2 min), {events:,} events, ev/s",
            f"{lazy_typed:,.0f}",
            "raw publish_async, lazy",
            f"{lazy_raw:,.0f}",
            lazy_typed / lazy_raw,
            data={"typed": rates["lazy"][0], "raw": rates["lazy"][1]},
        ),
        Row(
            "append",
            f"durable (sync_interval: always), {events:,} events, ev/s",
            f"{durable_typed:,.0f}",
            "raw publish_async, durable",
            f"{durable_raw:,.0f}",
            durable_typed / durable_raw,
            data={"typed": rates["durable"][0], "raw": rates["durable"][1]},
        ),
        Row(
            "append",
            "durable typed vs lazy raw",
            f"{durable_typed:,.0f}",
            "raw publish_async, lazy",
            f"{lazy_raw:,.0f}",
            durable_typed / lazy_raw,
            ">= 0.8",
            durable_typed / lazy_raw >= 0.8,
        ),
        Row(
            "append",
            f"durable, {CHUNK} concurrent single appends at a time (group commit)",
            f"{durable_group:,.0f}",
            "raw publish_async, lazy",
            f"{lazy_raw:,.0f}",
            durable_group / lazy_raw,
            ">= 0.8",
            durable_group / lazy_raw >= 0.8,
            data={"group": rates["durable"][2], "group_lazy": rates["lazy"][2]},
        ),
    ]
    return rows


def replay(settings: Settings) -> list[Row]:
    """A full board replay next to a raw ordered read and decode, at three sizes."""
    sizes = [10_000, 100_000, 1_000_000]
    if settings.quick:
        sizes = [2_000]
    sizes = [max(1_000, int(n * settings.scale)) for n in sizes]
    rows = []
    for n in sizes:
        with nats_server() as server:
            fig = asyncio.run(bench_replay.measure(server.url, n, max(2, settings.rounds)))
        ratio = max(fig.replay_rates) / max(fig.raw_rates)
        rows.append(
            Row(
                "replay",
                f"board replay, {fig.events:,} events, ev/s",
                f"{max(fig.replay_rates):,.0f}",
                "raw ordered read + decode",
                f"{max(fig.raw_rates):,.0f}",
                ratio,
                ">= 0.8",
                ratio >= 0.8,
                data={"replay": fig.replay_rates, "raw": fig.raw_rates},
            )
        )
        rows.append(
            Row(
                "replay",
                f"cold start at {fig.events:,} events (snapshot + {fig.tail:,}-event tail)",
                f"{fig.cold_start_s:.2f} s",
                target="< 1 s",
                met=fig.cold_start_s < 1.0,
            )
        )
    return rows
