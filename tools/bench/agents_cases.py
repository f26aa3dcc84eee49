"""Cases on the runtime: ``dispatch`` latency and ``fanout`` over worker processes."""

from __future__ import annotations

import asyncio
import time

import nats
from nats.aio.client import Client
from nats.js.api import StreamConfig
from ulid import ULID

from callsheet.events.catalog import TaskAssigned, TaskAssignedData
from callsheet.events.codec import encode
from callsheet.events.store import EventStore
from tools import bench_agents
from tools.bench import peers
from tools.bench.common import Row, Settings, nats_server, pct
from tools.bench.procs import store_config
from tools.bench.spawn import Group

__all__ = ["WORKER_PROCESSES", "dispatch", "fanout"]

WORKER_PROCESSES = (1, 2, 4, 8)


async def _latencies(url: str, n: int, rounds: int) -> tuple[list[float], list[float]]:
    nc: Client = await nats.connect(url)
    ours: list[float] = []
    raw: list[float] = []
    try:
        for r in range(rounds):
            for side in ("ours", "raw") if r % 2 == 0 else ("raw", "ours"):
                if side == "ours":
                    ours += await bench_agents._agent_latency(nc, n, 20)
                else:
                    raw += await bench_agents._raw_latency(nc, n, 20)
    finally:
        await nc.close()
    return ours, raw


def dispatch(settings: Settings) -> list[Row]:
    """From the append of a ``task.assigned`` to the entry of the worker's handler."""
    n = 100 if settings.quick else 500
    with nats_server() as server:
        (ours, raw), autogen = _latencies_alternating_with_autogen(server.url, n, settings.rounds)
    rows = []
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        mine = pct(ours, q)
        theirs = pct(raw, q)
        rows.append(
            Row(
                "dispatch",
                f"latency {name}, µs ({n} tasks x {settings.rounds} rounds)",
                f"{mine:,.0f}",
                "raw nats-py (publish to fetch)",
                f"{theirs:,.0f}",
                theirs / mine,
            )
        )
        rows.append(_autogen_row(name, mine, autogen, q))
    return rows


def _latencies_alternating_with_autogen(
    url: str, n: int, rounds: int
) -> tuple[tuple[list[float], list[float]], peers.Samples]:
    ours: list[float] = []
    raw: list[float] = []
    autogen = peers.Samples()
    for r in range(rounds):
        if r % 2:
            autogen.extend(peers.autogen_latency(n))
        a, b = asyncio.run(_latencies(url, n, 1))
        ours += a
        raw += b
        if not r % 2:
            autogen.extend(peers.autogen_latency(n))
    return (ours, raw), autogen


def _autogen_row(name: str, mine: float, autogen: peers.Samples, q: float) -> Row:
    measure = f"latency {name} vs AutoGen gRPC one-way send_message, µs"
    if not autogen.values:
        return Row("dispatch", measure, f"{mine:,.0f}", "AutoGen gRPC", autogen.why, None)
    theirs = pct(autogen.values, q)
    return Row(
        "dispatch",
        measure,
        f"{mine:,.0f}",
        "AutoGen gRPC runtime",
        f"{theirs:,.0f}",
        theirs / mine,
        "below AutoGen's",
        mine < theirs,
    )


def _assigned(i: int) -> TaskAssigned:
    return TaskAssigned.new(
        data=TaskAssignedData(role="fan", instructions="no-op"),
        goal_id="g",
        task_id=f"t{i}",
        producer="bench",
    )


async def _ours(url: str, tasks: int, processes: int) -> float:
    uid = str(ULID()).lower()
    stream, root = f"F_{uid}", f"f{uid}"
    nc: Client = await nats.connect(url)
    store = await EventStore.open(nc, store_config(stream, root))
    events = [_assigned(i) for i in range(tasks)]
    try:
        with Group([Group.python("fan", url, stream, root) for _ in range(processes)]):
            async with store.subscribe(types=["task.result"], from_seq=1) as sub:
                start = time.perf_counter()
                for i in range(0, tasks, 500):
                    await store.append_many(events[i : i + 500])
                done = 0
                async for _ in sub:
                    done += 1
                    if done == tasks:
                        break
                elapsed = time.perf_counter() - start
    finally:
        await nc.jetstream().delete_stream(stream)
        await nc.close()
    return tasks / elapsed


async def _raw(url: str, tasks: int, processes: int) -> float:
    uid = str(ULID()).lower()
    stream, root = f"R_{uid}", f"r{uid}"
    nc: Client = await nats.connect(url)
    js = nc.jetstream(timeout=30.0)
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{root}.>"]))
    body = encode(_assigned(0))
    done = 0
    finished = asyncio.Event()

    async def count(_msg: object) -> None:
        nonlocal done
        done += 1
        if done == tasks:
            finished.set()

    sub = await nc.subscribe(f"{root}.result", cb=count)
    try:
        with Group([Group.python("raw", url, stream, root) for _ in range(processes)]):
            start = time.perf_counter()
            for i in range(0, tasks, 500):
                part = min(500, tasks - i)
                acks = [await js.publish_async(f"{root}.work", body) for _ in range(part)]
                await asyncio.gather(*acks)
            await asyncio.wait_for(finished.wait(), 300)
            elapsed = time.perf_counter() - start
    finally:
        await sub.unsubscribe()
        await js.delete_stream(stream)
        await nc.close()
    return tasks / elapsed


def fanout(settings: Settings) -> list[Row]:
    """No-op tasks done by 1, 2, 4 and 8 worker processes, each result durably in the log."""
    tasks = 200 if settings.quick else 1_000
    counts = (1, 2) if settings.quick else WORKER_PROCESSES
    rows = []
    with nats_server() as server:
        for processes in counts:
            ours: list[float] = []
            raw: list[float] = []
            celery: list[float] = []
            why = ""
            for r in range(settings.rounds):
                sides = ("ours", "raw", "celery") if r % 2 == 0 else ("celery", "raw", "ours")
                for side in sides:
                    if side == "ours":
                        ours.append(asyncio.run(_ours(server.url, tasks, processes)))
                    elif side == "raw":
                        raw.append(asyncio.run(_raw(server.url, tasks, processes)))
                    elif not why:
                        got = peers.celery_rate(tasks, processes)
                        if got.values:
                            celery += got.values
                        why = got.why
            mine, theirs = max(ours), max(raw)
            at_two = processes == 2
            rows.append(
                Row(
                    "fanout",
                    f"{tasks:,} no-op tasks, {processes} worker process(es), tasks/s",
                    f"{mine:,.0f}",
                    "raw nats-py, durable results",
                    f"{theirs:,.0f}",
                    mine / theirs,
                    ">= 0.8" if at_two else "",
                    mine / theirs >= 0.8 if at_two else None,
                    data={"ours": ours, "raw": raw},
                )
            )
            if celery:
                ratio = mine / max(celery)
                rows.append(
                    Row(
                        "fanout",
                        f"{tasks:,} tasks, {processes} process(es), vs Celery",
                        f"{mine:,.0f}",
                        "Celery + redis-server (group)",
                        f"{max(celery):,.0f}",
                        ratio,
                        ">= 10" if at_two else "",
                        ratio >= 10 if at_two else None,
                    )
                )
            else:
                rows.append(
                    Row(
                        "fanout",
                        f"{processes} process(es), vs Celery",
                        f"{mine:,.0f}",
                        "Celery + redis-server",
                        why,
                    )
                )
    return rows
