"""Benchmark the agent runtime's work dispatch against raw nats-py, side by side.

Run::

    python tools/bench_agents.py [--latency N] [--tasks N] [--workers N] [--rounds R] [--quick]

A private ``nats-server`` (JetStream, random port, temporary store) is started
and stopped at the end; every figure comes from that one server in one run, and
the runtime and raw sides alternate round by round, so the ratios hold on a
noisy machine. Nothing fails on speed: figures and targets are printed.

1. **Dispatch latency**: from just before ``EventStore.append`` of a
   ``task.assigned`` to the entry of the worker's ``@work`` handler (one worker,
   one task at a time: the next is appended once the previous one's result is
   stored and acked), next to raw nats-py: ``js.publish`` of a message of the
   same size to a plain stream, to its receipt by a durable pull consumer
   fetching in a loop as the worker does. p50/p99 in microseconds; target p50 <=
   1 ms, p99 <= 5 ms on loopback.
2. **Throughput**: 1,000 no-op tasks appended at once (``append_many``) and done
   by 20 workers of one role (one process, one runtime), from the first append to
   the last ``task.result`` in the log; next to raw: the same number of messages
   through one durable pull consumer with 20 fetch-and-ack loops. Tasks/s, and
   the runtime's overhead per task over raw.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from ulid import ULID

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import TaskAssigned, TaskAssignedData
from callsheet.events.codec import encode
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig

__all__ = ["Figures", "main", "run"]


@dataclass
class Figures:
    """What one run measured (latencies in microseconds)."""

    latency_agent: list[float]
    latency_raw: list[float]
    tasks_per_s_agent: list[float]
    tasks_per_s_raw: list[float]
    events_per_task: float


class _Probe(Agent):
    kind = "worker"
    role = "probe"
    lease_seconds = 30.0
    max_in_flight = 4
    entered: dict[str, int]
    signal: asyncio.Event

    @work()
    async def handle(self, event: TaskAssigned, ctx: WorkContext) -> None:
        self.entered[event.task_id or ""] = time.perf_counter_ns()
        self.signal.set()


def _config() -> StoreConfig:
    uid = str(ULID()).lower()
    return StoreConfig(stream=f"B_{uid}", root=f"b{uid}", blob_bucket=f"BB_{uid}")


def _assigned(goal: str, task: str) -> TaskAssigned:
    return TaskAssigned.new(
        data=TaskAssignedData(role="probe", instructions="no-op"),
        goal_id=goal,
        task_id=task,
        producer="bench",
    )


async def _agent_latency(nc: Client, n: int, warmup: int) -> list[float]:
    config = _config()
    store = await EventStore.open(nc, config)
    probe = _Probe("probe-1")
    probe.entered, probe.signal = {}, asyncio.Event()
    samples: list[float] = []
    try:
        async with AgentRuntime(store, [probe]) as runtime:
            loop = runtime.workers[0]
            for i in range(warmup + n):
                # One task at a time: the previous one is finished (result stored, acked).
                if loop.running:
                    await asyncio.wait(set(loop.running))
                event = _assigned("g", f"t{i}")
                probe.signal.clear()
                start = time.perf_counter_ns()
                await store.append(event)
                await asyncio.wait_for(probe.signal.wait(), 10)
                if i >= warmup:
                    samples.append((probe.entered[f"t{i}"] - start) / 1000)
    finally:
        await nc.jetstream().delete_stream(config.stream)
    return samples


async def _raw_stream(nc: Client, name: str, durable: str) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"]))
    await js.add_consumer(
        name, ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    )


async def _raw_latency(nc: Client, n: int, warmup: int) -> list[float]:
    name = f"R{str(ULID()).lower()}"
    js = nc.jetstream()
    await _raw_stream(nc, name, "work")
    psub = await js.pull_subscribe_bind("work", stream=name)
    body = encode(_assigned("g", "t0"))
    received: asyncio.Queue[int] = asyncio.Queue()
    stop = asyncio.Event()

    async def fetcher() -> None:
        while not stop.is_set():
            try:
                msgs = await psub.fetch(4, timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                received.put_nowait(time.perf_counter_ns())
                await msg.ack()

    task = asyncio.create_task(fetcher())
    samples: list[float] = []
    try:
        for i in range(warmup + n):
            start = time.perf_counter_ns()
            await js.publish(f"{name.lower()}.work", body)
            got = await asyncio.wait_for(received.get(), 10)
            if i >= warmup:
                samples.append((got - start) / 1000)
    finally:
        stop.set()
        await task
        await js.delete_stream(name)
    return samples


async def _agent_throughput(nc: Client, tasks: int, workers: int) -> tuple[float, float]:
    config = _config()
    store = await EventStore.open(nc, config)
    probes = []
    for i in range(workers):
        probe = _Probe(f"probe-{i}")
        probe.entered, probe.signal = {}, asyncio.Event()
        probes.append(probe)
    events = [_assigned("g", f"t{i}") for i in range(tasks)]
    try:
        async with AgentRuntime(store, probes):
            start = time.perf_counter()
            await store.append_many(events)
            async with store.subscribe(types=["task.result"]) as sub:
                done = 0
                async for _ in sub:
                    done += 1
                    if done == tasks:
                        break
            elapsed = time.perf_counter() - start
        total = await store.stream_last_seq()
    finally:
        await nc.jetstream().delete_stream(config.stream)
    return tasks / elapsed, total / tasks


async def _raw_throughput(nc: Client, tasks: int, workers: int) -> float:
    name = f"R{str(ULID()).lower()}"
    js = nc.jetstream()
    await _raw_stream(nc, name, "work")
    body = encode(_assigned("g", "t0"))
    left = tasks
    finished = asyncio.Event()

    async def fetcher() -> None:
        nonlocal left
        psub = await js.pull_subscribe_bind("work", stream=name)
        while not finished.is_set():
            try:
                msgs = await psub.fetch(4, timeout=0.2)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for msg in msgs:
                # Like the worker: the ack is confirmed (a loaded machine may take more than
                # the 1 s default; a timed-out ack would end this loop with an error).
                await msg.ack_sync(timeout=10)
                left -= 1
                if left == 0:
                    finished.set()

    loops = [asyncio.create_task(fetcher()) for _ in range(workers)]
    start = time.perf_counter()
    acks = [await js.publish_async(f"{name.lower()}.work", body) for _ in range(tasks)]
    await asyncio.gather(*acks)
    await asyncio.wait_for(finished.wait(), 120)
    elapsed = time.perf_counter() - start
    await asyncio.gather(*loops)
    await js.delete_stream(name)
    return tasks / elapsed


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    url: str, *, latency: int, tasks: int, workers: int, rounds: int, warmup: int = 50
) -> Figures:
    """Measure everything on the server at ``url``; print each round."""
    nc = await nats.connect(url)
    figures = Figures([], [], [], [], 0.0)
    try:
        for r in range(rounds):
            sides = ["agent", "raw"] if r % 2 == 0 else ["raw", "agent"]
            for side in sides:
                if side == "agent":
                    figures.latency_agent += await _agent_latency(nc, latency, warmup)
                    tps, per_task = await _agent_throughput(nc, tasks, workers)
                    figures.tasks_per_s_agent.append(tps)
                    figures.events_per_task = per_task
                else:
                    figures.latency_raw += await _raw_latency(nc, latency, warmup)
                    figures.tasks_per_s_raw.append(await _raw_throughput(nc, tasks, workers))
            print(
                f"round {r + 1}: tasks/s runtime {figures.tasks_per_s_agent[-1]:,.0f} "
                f"raw {figures.tasks_per_s_raw[-1]:,.0f}",
                flush=True,
            )
    finally:
        await nc.close()
    return figures


def report(f: Figures, tasks: int, workers: int) -> None:
    """Print the summary table."""
    print()
    print(f"{'dispatch latency (us)':<28}{'p50':>10}{'p90':>10}{'p99':>10}{'mean':>10}")
    for label, s in (
        ("runtime append->handler", f.latency_agent),
        ("raw publish->fetch", f.latency_raw),
    ):
        print(
            f"{label:<28}{_pct(s, 0.5):>10.0f}{_pct(s, 0.9):>10.0f}{_pct(s, 0.99):>10.0f}"
            f"{statistics.fmean(s):>10.0f}"
        )
    print(
        f"runtime p50 {_pct(f.latency_agent, 0.5) / 1000:.2f} ms (target <= 1 ms), "
        f"p99 {_pct(f.latency_agent, 0.99) / 1000:.2f} ms (target <= 5 ms); "
        f"p50 ratio runtime/raw {_pct(f.latency_agent, 0.5) / _pct(f.latency_raw, 0.5):.2f}"
    )
    best_agent, best_raw = max(f.tasks_per_s_agent), max(f.tasks_per_s_raw)
    print()
    print(f"throughput: {tasks} no-op tasks over {workers} workers (best round)")
    print(f"  runtime {best_agent:,.0f} tasks/s ({1e6 / best_agent:,.0f} us/task wall)")
    print(f"  raw     {best_raw:,.0f} msgs/s ({1e6 / best_raw:,.0f} us/msg wall)")
    print(
        f"  overhead per task {1e6 / best_agent - 1e6 / best_raw:,.0f} us; "
        f"runtime/raw {best_agent / best_raw:.2f}; "
        f"{f.events_per_task:.2f} log events per task (assigned, started, result, ...)"
    )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=1000, help="latency samples per round")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small numbers, one round")
    args = parser.parse_args()
    if args.quick:
        args.latency, args.tasks, args.rounds = 100, 200, 1
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServerProcess(store_dir=Path(tmp))
        server.start()
        try:
            figures = asyncio.run(
                run(
                    server.url,
                    latency=args.latency,
                    tasks=args.tasks,
                    workers=args.workers,
                    rounds=args.rounds,
                )
            )
        finally:
            server.stop()
    report(figures, args.tasks, args.workers)


if __name__ == "__main__":
    main()
