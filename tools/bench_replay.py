"""Benchmark a full replay of the board projection against a raw ordered read, side by side.

Run::

    python tools/bench_replay.py [--events N] [--rounds R] [--keep DIR] [--quick]

A private ``nats-server`` (JetStream, random port) is started on a temporary
store, or on ``--keep DIR`` (then the generated log is reused by later runs:
generating a million events takes a while). The log holds realistic goal
histories: per goal a submission, a plan, ten tasks each planned, assigned,
started, three progress reports, two heartbeats and a result, and the goal's
completion (93 events per goal, so about 10,750 goals for 1,000,000 events).

Measured, with the two sides alternating round by round:

1. **Raw**: one ordered consumer over the whole stream (the store's own
   subscription settings), each body decoded with msgspec into the catalog
   union; no fold. The floor any replay on nats-py stands on.
2. **Replay**: ``EventStore.read()`` of the whole stream folded into the
   registry's ``board`` projection (every goal's board) by
   ``projections.replay_log`` (one bulk fold, ``Projection.start``, fed chunks
   of 1,000 events, the cyclic garbage collector paused meanwhile). Events/s,
   and the ratio to raw (target >= 0.8). Before each side the other's leftovers
   are dropped and collected, so neither runs beside a replayed state.
3. **Cold start**: a snapshot of the board at ``N - 1000`` (saved once,
   compressed; in the Object Store if it is still over a message), then, in a
   fresh process as a real cold start is, a ``ProjectionRunner`` that loads it
   and catches up the 1,000-event tail (target < 1 s).
4. **Peak memory**: the resident set before a full replay and its peak during
   it, sampled every 10 ms in a child process that does only the replay. Plus
   the encoded snapshot's size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import nats
from nats.aio.client import Client

from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import (
    AnyEvent,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    PlannedTask,
    PlanProposed,
    PlanProposedData,
    TaskAssigned,
    TaskAssignedData,
    TaskHeartbeat,
    TaskHeartbeatData,
    TaskPlanned,
    TaskPlannedData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.consume import ordered_messages
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.events.subjects import stream_filter
from callsheet.projections import PROJECTIONS, replay_log
from callsheet.projections.runner import ProjectionRunner
from callsheet.projections.snapshots import SnapshotStore

__all__ = ["Figures", "generate", "main", "measure"]

CONFIG = StoreConfig(stream="BENCH_REPLAY", root="br", blob_bucket="BENCH_REPLAY_BLOBS")
TASKS_PER_GOAL = 10
EVENTS_PER_GOAL = 3 + TASKS_PER_GOAL * 9
CHUNK = 20_000


def goal_history(goal: str) -> Iterator[Event]:
    """One goal's 93 events."""
    yield GoalSubmitted.new(
        data=GoalSubmittedData(title=f"goal {goal}"), goal_id=goal, producer="u"
    )
    tasks = [f"t{i}" for i in range(TASKS_PER_GOAL)]
    plan = [PlannedTask(task_id=t, title=f"task {t}", role="r") for t in tasks]
    yield PlanProposed.new(
        data=PlanProposedData(plan_version=1, tasks=plan), goal_id=goal, producer="s"
    )
    for t in tasks:
        w = f"w{t}"

        def ev(cls: type[Event], data: Any, t: str = t, w: str = w) -> Event:
            return cls.new(data=data, goal_id=goal, task_id=t, producer=w)

        yield ev(TaskPlanned, TaskPlannedData(title=f"task {t}", role="r"))
        yield ev(TaskAssigned, TaskAssignedData(role="r"))
        yield ev(TaskStarted, TaskStartedData(worker=w))
        for p in (25.0, 50.0, 75.0):
            yield ev(TaskProgress, TaskProgressData(worker=w, percent=p, note="step"))
        for _ in range(2):
            yield ev(TaskHeartbeat, TaskHeartbeatData(worker=w))
        yield ev(TaskResult, TaskResultData(worker=w, output={"ok": True}, summary="done"))
    yield GoalCompleted.new(data=GoalCompletedData(outcome="succeeded"), goal_id=goal, producer="s")


async def generate(store: EventStore, events: int) -> int:
    """Append about ``events`` events of whole goal histories; return the log's last sequence."""
    have = await store.stream_last_seq()
    goals = max(1, events // EVENTS_PER_GOAL)
    if have >= goals * EVENTS_PER_GOAL:
        print(f"reusing the {have:,} events already in the log", flush=True)
        return have
    started = time.perf_counter()
    batch: list[Event] = []
    for g in range(goals):
        batch.extend(goal_history(f"goal-{g:06d}"))
        if len(batch) >= CHUNK or g == goals - 1:
            await store.append_many(batch, timeout=120)
            batch = []
            done = (g + 1) * EVENTS_PER_GOAL
            if (g + 1) % 500 == 0 or g == goals - 1:
                rate = done / (time.perf_counter() - started)
                print(f"  generated {done:,} events ({rate:,.0f}/s)", flush=True)
    return await store.stream_last_seq()


async def raw_read(store: EventStore) -> tuple[int, float]:
    """Ordered consumer + msgspec decode of every body; no fold."""
    decoder = msgspec.json.Decoder(AnyEvent)
    count = 0
    js = store.nc.jetstream()
    started = time.perf_counter()
    async for msg in ordered_messages(js, CONFIG.stream, [stream_filter(CONFIG.root)]):
        decoder.decode(msg.data)
        count += 1
    return count, time.perf_counter() - started


async def replay_board(store: EventStore, until_seq: int | None = None) -> tuple[int, float, Any]:
    """``EventStore.read`` of the log folded into every goal's board (``replay_log``)."""
    started = time.perf_counter()
    state, count = await replay_log(PROJECTIONS["board"], store.read(until_seq=until_seq))
    return count, time.perf_counter() - started, state


async def save_snapshot(store: EventStore, last: int) -> int:
    """Save the board as of ``last - 1000`` as its snapshot; return the snapshot's size."""
    board = PROJECTIONS["board"]
    _, _, state = await replay_board(store, until_seq=last - 1000)
    snapshots = SnapshotStore(store.nc, CONFIG.stream)
    saved = await snapshots.save(board.name, board.version, last - 1000, state)
    return len(saved.state)


async def timed_cold_start(store: EventStore) -> tuple[float, int]:
    """Time a fresh runner loading the snapshot and catching up; return seconds and tail."""
    board = PROJECTIONS["board"]
    snapshots = SnapshotStore(store.nc, CONFIG.stream)
    runner = ProjectionRunner(store, board, snapshots=snapshots, snapshot_every=10**9)
    started = time.perf_counter()
    await runner.catch_up()
    elapsed = time.perf_counter() - started
    assert runner.started_from > 0, "the runner did not start from the snapshot"
    return elapsed, runner.seq - runner.started_from


async def cold_start(store: EventStore, last: int) -> tuple[float, int, int]:
    """Snapshot at ``last - 1000``, then time a cold start in a fresh process (as in real life)."""
    size = await save_snapshot(store, last)
    server = next(iter(store.nc.servers)).netloc
    code = (
        "import asyncio, json, sys, nats\n"
        "sys.path.insert(0, '.')\n"
        "from tools.bench_replay import CONFIG, timed_cold_start\n"
        "from callsheet.events.store import EventStore\n"
        "async def main():\n"
        f"    nc = await nats.connect('nats://{server}')\n"
        "    elapsed, tail = await timed_cold_start(await EventStore.open(nc, CONFIG))\n"
        "    print(json.dumps([elapsed, tail]))\n"
        "    await nc.close()\n"
        "asyncio.run(main())\n"
    )
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    elapsed, tail = json.loads(out.stdout.strip().splitlines()[-1])
    await SnapshotStore(store.nc, CONFIG.stream).drop_bucket()
    return float(elapsed), int(tail), size


@dataclass
class Figures:
    """What one run measured."""

    events: int
    raw_rates: list[float]
    replay_rates: list[float]
    cold_start_s: float
    tail: int
    snapshot_bytes: int


async def measure(url: str, events: int, rounds: int) -> Figures:
    """Generate (or reuse) the log and measure everything on it."""
    nc: Client = await nats.connect(url)
    try:
        store = await EventStore.open(nc, CONFIG)
        last = await generate(store, events)
        figures = Figures(last, [], [], 0.0, 0, 0)
        for r in range(rounds):
            for side in ("raw", "replay") if r % 2 == 0 else ("replay", "raw"):
                # Neither side runs with the other's leftovers (a replayed state) in memory.
                state = None
                gc.collect()
                if side == "raw":
                    n, seconds = await raw_read(store)
                    figures.raw_rates.append(n / seconds)
                else:
                    n, seconds, state = await replay_board(store)
                    assert len(state.goals) == n // EVENTS_PER_GOAL
                    figures.replay_rates.append(n / seconds)
            print(
                f"round {r + 1}: raw {figures.raw_rates[-1]:,.0f} ev/s, "
                f"board replay {figures.replay_rates[-1]:,.0f} ev/s",
                flush=True,
            )
        figures.cold_start_s, figures.tail, figures.snapshot_bytes = await cold_start(store, last)
        return figures
    finally:
        await nc.close()


def _peak_memory(url: str) -> dict[str, float]:
    """Peak memory of one full replay, in a child process that does only that.

    A thread samples the resident set (``/proc/self/statm``) every 10 ms while
    the replay runs; reported: the resident set before the replay and its peak
    during it. (``tracemalloc`` would slow the reader so much that the server
    would drop it as a slow consumer.)
    """
    code = (
        "import asyncio, json, os, sys, threading, time, nats\n"
        "sys.path.insert(0, '.')\n"
        "from tools.bench_replay import CONFIG, replay_board\n"
        "from callsheet.events.store import EventStore\n"
        "page = os.sysconf('SC_PAGE_SIZE')\n"
        "def rss():\n"
        "    with open('/proc/self/statm') as f:\n"
        "        return int(f.read().split()[1]) * page\n"
        "peak, running = [0], [True]\n"
        "def sample():\n"
        "    while running[0]:\n"
        "        peak[0] = max(peak[0], rss())\n"
        "        time.sleep(0.01)\n"
        "async def main():\n"
        f"    nc = await nats.connect({url!r})\n"
        "    store = await EventStore.open(nc, CONFIG)\n"
        "    before = rss()\n"
        "    sampler = threading.Thread(target=sample)\n"
        "    sampler.start()\n"
        "    n, _, state = await replay_board(store)\n"
        "    running[0] = False\n"
        "    sampler.join()\n"
        "    mb = {'before_mb': before / 2**20, 'after_mb': peak[0] / 2**20, 'events': n}\n"
        "    print(json.dumps(mb))\n"
        "    await nc.close()\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=3600
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(f: Figures, memory: dict[str, float]) -> None:
    """Print the summary."""
    best_raw, best_replay = max(f.raw_rates), max(f.replay_rates)
    ratios = [b / a for a, b in zip(f.raw_rates, f.replay_rates, strict=True)]
    print()
    print(
        f"full replay of {f.events:,} events into the board ({f.events // EVENTS_PER_GOAL:,} goals)"
    )
    rounds = len(f.raw_rates)
    print(f"  raw ordered consumer + msgspec decode: {best_raw:,.0f} ev/s (best of {rounds})")
    print(f"  EventStore.read + board fold:          {best_replay:,.0f} ev/s")
    print(
        f"  replay/raw: {best_replay / best_raw:.2f} best-to-best, "
        f"rounds {', '.join(f'{r:.2f}' for r in ratios)} (target >= 0.8)"
    )
    where = "Object Store" if f.snapshot_bytes > 1_000_000 else "Key-Value bucket"
    print(
        f"cold start from a snapshot + {f.tail:,}-event tail: {f.cold_start_s:.3f} s "
        f"(target < 1 s; snapshot {f.snapshot_bytes / 1e6:.1f} MB, in the {where})"
    )
    grew = memory["after_mb"] - memory["before_mb"]
    print(
        f"peak memory of a full replay (child process, resident set sampled): "
        f"{memory['after_mb']:.0f} MB, {grew:.0f} MB over the "
        f"{memory['before_mb']:.0f} MB before it "
        f"({grew * 2**20 / max(memory['events'], 1):.0f} B per event replayed)"
    )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep the server's store here")
    parser.add_argument("--quick", action="store_true", help="20,000 events, one round")
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds = 20_000, 1
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = args.keep or Path(tmp)
        server = NatsServerProcess(store_dir=store_dir)
        server.start()
        try:
            print(
                f"{datetime.now(UTC):%H:%M:%S} server at {server.url}, store in {store_dir}",
                flush=True,
            )
            figures = asyncio.run(measure(server.url, args.events, args.rounds))
            memory = _peak_memory(server.url)
        finally:
            server.stop()
    report(figures, memory)


if __name__ == "__main__":
    main()
