"""Benchmark the event store against raw nats-py on the same server, side by side.

Run::

    python tools/bench_store.py [--events N] [--nats-url URL] [--rounds R]

Unless ``--nats-url`` is given, a private ``nats-server`` (JetStream, random port,
temporary store directory) is started and stopped at the end. Every figure is
measured in one run against that one server, and each round creates fresh
streams (same configuration, from ``callsheet.events.stream.stream_config``), so
the typed/raw ratios are comparable even on a noisy machine. The order of the
typed and raw side alternates from round to round; all rounds are printed.

What is measured, per round:

1. **Append throughput.** ``EventStore.append_many`` (validation, encoding,
   subjects, headers, pipelined publish, acks awaited per chunk) on N
   ``task.progress`` events in chunks, versus raw ``js.publish_async`` of the same
   bytes (subject of the same length, body from ``codec.encode``, the same headers
   with ``Nats-Msg-Id``) into a twin stream, in the same chunks, acks awaited per
   chunk. The raw side's messages are prepared before the clock starts: it is the
   floor a store built on nats-py can reach, so ``typed/raw`` is the store's
   efficiency. For information, concurrent single ``append()`` calls (many tasks at
   once) next to concurrent raw ``js.publish``.
2. **Append latency.** Sequential single ``EventStore.append()`` calls, interleaved
   call by call with raw ``js.publish`` (request, wait for the ack) of the same
   bytes; p50/p90/p99/max in microseconds.
3. **Catch-up read throughput.** ``EventStore.read()`` over the N events appended
   in step 1, versus a raw ordered consumer on the same stream (same subscription
   settings as the store) decoding each body with ``msgspec.json.Decoder(AnyEvent)``
   and stopping at ``num_pending == 0``. Both include creating and deleting the
   consumer.

How to read it: throughput is events per second (higher is better), latency is
microseconds (lower is better). The summary takes the best round of each side
for throughput and all samples pooled for latency, and gives three ratios where
1.0 means the store costs nothing over raw nats-py (next to each, the median of
the per-round ratios, to show how much the machine's noise moves it):

- append ``typed/raw`` events/s, target >= 0.8;
- append latency ``raw p50 / typed p50``, target >= 0.8 (typed p50 within 1.25x);
- read ``store/raw`` events/s, target >= 0.8.

Nothing here fails on speed: the targets are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import IO, Final, TypeVar

import msgspec
import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from ulid import ULID

from callsheet.events.catalog import AnyEvent, TaskProgress, TaskProgressData
from callsheet.events.codec import encode
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig, stream_config
from callsheet.events.subjects import event_subject, stream_filter
from callsheet.events.wire import headers_for

_LISTEN_RE: Final = re.compile(r"Listening for client connections on (\S+)")
_TARGET: Final = 0.8
T = TypeVar("T")


# -- the server ----------------------------------------------------------------


class NatsServer:
    """A private nats-server with JetStream on a random port and a temporary store."""

    def __init__(self, binary: str, store_dir: Path) -> None:
        self._binary = binary
        self._store_dir = store_dir
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log: list[str] = []
        self.url = ""

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and return its client URL once it listens."""
        args = [self._binary, "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", str(self._store_dir)]
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert self._proc.stderr is not None
        threading.Thread(target=self._drain, args=(self._proc.stderr,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError(f"nats-server did not listen within {timeout}s: {self._log}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                code = self._proc.wait()
                raise RuntimeError(f"nats-server exited with {code}: {self._log}")
            match = _LISTEN_RE.search(line)
            if match:
                _, _, port = match.group(1).rpartition(":")
                self.url = f"nats://127.0.0.1:{int(port)}"
                return self.url

    def _drain(self, stream: IO[str]) -> None:
        # Keep reading so the server never blocks on a full stderr pipe.
        for line in stream:
            if len(self._log) < 200:
                self._log.append(line.rstrip())
            self._lines.put(line)
        self._lines.put(None)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def find_server_binary(explicit: str | None) -> str:
    """Return the nats-server to run: explicit, next to this Python, or on PATH."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise SystemExit("nats-server not found: pass --nats-url or --nats-server")
    return found


# -- workload --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawMsg:
    """What the raw side publishes: exactly the bytes the store would send."""

    subject: str
    body: bytes
    headers: dict[str, str]


_NOTES: Final = (
    "parsed the input files",
    "called the search tool, 12 results",
    "drafted section 2 of the report",
    "waiting for the model response",
    "checked the citations against the sources",
)


def make_events(count: int, *, start: datetime, tag: str) -> list[TaskProgress]:
    """Return ``count`` realistic ``task.progress`` events over 20 goals and 400 tasks."""
    events = []
    for i in range(count):
        goal = f"goal-{tag}-{i % 20:02d}"
        task = f"task-{i % 400:03d}"
        worker = f"worker-{i % 16}"
        data = TaskProgressData(
            worker=worker,
            percent=round((i % 100) + 0.5, 1),
            note=f"step {i % 40 + 1} of 40: {_NOTES[i % len(_NOTES)]}",
        )
        events.append(
            TaskProgress.new(
                data=data,
                goal_id=goal,
                task_id=task,
                producer=worker,
                occurred_at=start + timedelta(microseconds=i),
            )
        )
    return events


def raw_messages(events: Sequence[TaskProgress], root: str) -> list[RawMsg]:
    """Subject, body and headers as ``EventStore`` makes them, under ``root``."""
    return [
        RawMsg(
            event_subject(e.goal_id, e.task_id, e.event_type, e.route_role, root=root),
            encode(e),
            headers_for(e),
        )
        for e in events
    ]


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of at most ``size`` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- measurements ------------------------------------------------------------------


async def timed(run: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    """Run ``run`` after a GC pass; return its count and elapsed seconds."""
    gc.collect()
    start = time.perf_counter()
    count = await run()
    return count, time.perf_counter() - start


async def typed_append_many(store: EventStore, events: Sequence[TaskProgress], chunk: int) -> int:
    stored = 0
    for part in chunks(events, chunk):
        results = await store.append_many(part)
        stored += sum(1 for r in results if not r.duplicate)
    return stored


async def raw_publish_async(js: JetStreamContext, msgs: Sequence[RawMsg], chunk: int) -> int:
    stored = 0
    for part in chunks(msgs, chunk):
        futures = [await js.publish_async(m.subject, m.body, headers=m.headers) for m in part]
        acks = await asyncio.wait_for(asyncio.gather(*futures), 30.0)
        stored += sum(1 for a in acks if not a.duplicate)
    return stored


async def typed_concurrent(store: EventStore, events: Sequence[TaskProgress], width: int) -> int:
    items = iter(events)
    stored = 0

    async def worker() -> None:
        nonlocal stored
        for event in items:
            result = await store.append(event)
            stored += not result.duplicate

    async with asyncio.TaskGroup() as group:
        for _ in range(width):
            group.create_task(worker())
    return stored


async def raw_concurrent(js: JetStreamContext, msgs: Sequence[RawMsg], width: int) -> int:
    items = iter(msgs)
    stored = 0

    async def worker() -> None:
        nonlocal stored
        for m in items:
            ack = await js.publish(m.subject, m.body, headers=m.headers, timeout=10.0)
            stored += not ack.duplicate

    async with asyncio.TaskGroup() as group:
        for _ in range(width):
            group.create_task(worker())
    return stored


async def latencies(
    store: EventStore,
    js: JetStreamContext,
    events: Sequence[TaskProgress],
    msgs: Sequence[RawMsg],
) -> tuple[list[float], list[float]]:
    """Sequential appends, typed and raw interleaved call by call; seconds each."""
    typed: list[float] = []
    raw: list[float] = []
    clock = time.perf_counter
    gc.collect()
    for i, (event, m) in enumerate(zip(events, msgs, strict=True)):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            if side == 0:
                start = clock()
                await store.append(event)
                typed.append(clock() - start)
            else:
                start = clock()
                await js.publish(m.subject, m.body, headers=m.headers, timeout=10.0)
                raw.append(clock() - start)
    return typed, raw


async def store_read(store: EventStore) -> int:
    count = 0
    async for _ in store.read():
        count += 1
    return count


async def raw_read(js: JetStreamContext, config: StoreConfig) -> int:
    decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
    # The same subscription settings as EventStore.read, so only per-message work differs.
    sub = await js.subscribe(
        stream_filter(config.root),
        stream=config.stream,
        ordered_consumer=True,
        idle_heartbeat=2.0,
        pending_msgs_limit=65536,
        pending_bytes_limit=256 * 1024 * 1024,
    )
    count = 0
    try:
        async for msg in sub.messages:
            decoder.decode(msg.data)
            count += 1
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return count


# -- reporting -------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencyStats:
        values = sorted(samples)
        return cls(
            percentile(values, 50),
            percentile(values, 90),
            percentile(values, 99),
            values[-1],
            statistics.fmean(values),
        )

    def row(self) -> str:
        us = 1e6
        return (
            f"p50 {self.p50 * us:8.0f}  p90 {self.p90 * us:8.0f}  p99 {self.p99 * us:8.0f}"
            f"  max {self.max * us:8.0f}  mean {self.mean * us:8.0f} us"
        )


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def throughput_line(label: str, count: int, seconds: float) -> str:
    return f"    {label:<34} {count:>8} ev in {seconds:7.3f} s = {rate(count, seconds):>9,.0f} ev/s"


@dataclass(slots=True)
class Results:
    append_typed: list[float]
    append_raw: list[float]
    conc_typed: list[float]
    conc_raw: list[float]
    lat_typed: list[float]
    lat_raw: list[float]
    read_store: list[float]
    read_raw: list[float]
    lat_ratio: list[float]  # per round: raw p50 / typed p50


# -- the run ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """The events of a run, and the raw side's messages made from them."""

    run_id: str
    typed_root: str
    raw_root: str
    bulk: list[TaskProgress]
    bulk_raw: list[RawMsg]
    lat: list[TaskProgress]
    lat_raw: list[RawMsg]
    conc: list[TaskProgress]
    conc_raw: list[RawMsg]


def make_workload(args: argparse.Namespace) -> Workload:
    run_id = str(ULID()).lower()[-10:]
    typed_root, raw_root = f"bench{run_id}t", f"bench{run_id}r"  # equal lengths
    n_events: int = args.events
    n_lat: int = args.latency_samples
    n_conc: int = args.concurrent_events or min(10_000, max(n_events, 500))
    start = datetime.now(UTC)
    print(f"preparing {n_events} + {n_lat} + {n_conc} task.progress events ...", flush=True)
    bulk = make_events(n_events, start=start, tag="bulk")
    lat = make_events(n_lat, start=start + timedelta(seconds=1), tag="lat")
    conc = make_events(n_conc, start=start + timedelta(seconds=2), tag="conc")
    work = Workload(
        run_id,
        typed_root,
        raw_root,
        bulk,
        raw_messages(bulk, raw_root),
        lat,
        raw_messages(lat, raw_root),
        conc,
        raw_messages(conc, raw_root),
    )
    sizes = [len(m.body) for m in work.bulk_raw]
    print(
        f"body size: mean {statistics.fmean(sizes):.0f} B, max {max(sizes)} B; "
        f"subject e.g. {work.bulk_raw[0].subject}",
        flush=True,
    )
    return work


class Bench:
    """The rounds of one run, on one connection."""

    def __init__(self, nc: Client, args: argparse.Namespace, work: Workload) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=10.0)
        self.args = args
        self.work = work
        self.res = Results([], [], [], [], [], [], [], [], [])

    async def fresh_pair(self, round_no: int) -> tuple[EventStore, StoreConfig, StoreConfig]:
        """A store on a fresh stream, and a fresh twin stream for the raw side."""
        w = self.work
        bucket = f"BB_{w.run_id}"
        typed_cfg = StoreConfig(
            stream=f"BENCH_{w.run_id}_{round_no}_T", root=w.typed_root, blob_bucket=bucket
        )
        raw_cfg = StoreConfig(
            stream=f"BENCH_{w.run_id}_{round_no}_R", root=w.raw_root, blob_bucket=bucket
        )
        store = await EventStore.open(self.nc, typed_cfg)
        await self.js.add_stream(stream_config(raw_cfg))
        return store, typed_cfg, raw_cfg

    async def drop(self, *configs: StoreConfig) -> None:
        for cfg in configs:
            with contextlib.suppress(Exception):
                await self.js.delete_stream(cfg.stream)

    async def warm_up(self) -> None:
        """First subscriptions, async reply inboxes, code paths; not reported."""
        w, js, chunk = self.work, self.js, self.args.chunk
        store, typed_cfg, raw_cfg = await self.fresh_pair(0)
        try:
            warm = min(500, len(w.bulk))
            await typed_append_many(store, w.bulk[:warm], chunk)
            await raw_publish_async(js, w.bulk_raw[:warm], chunk)
            await latencies(store, js, w.lat[:50], w.lat_raw[:50])
            await store_read(store)
            await raw_read(js, typed_cfg)
        finally:
            await self.drop(typed_cfg, raw_cfg)

    async def round(self, round_no: int) -> None:
        w, js, res, args = self.work, self.js, self.res, self.args
        typed_first = round_no % 2 == 1
        first = "typed" if typed_first else "raw"
        print(f"\nround {round_no}/{args.rounds} ({first} first)", flush=True)
        store, typed_cfg, raw_cfg = await self.fresh_pair(round_no)
        try:
            # 1. append throughput
            print(f"  append throughput ({len(w.bulk)} events, chunks of {args.chunk})")
            for side in ("typed", "raw") if typed_first else ("raw", "typed"):
                if side == "typed":
                    count, secs = await timed(lambda: typed_append_many(store, w.bulk, args.chunk))
                    res.append_typed.append(rate(count, secs))
                    print(throughput_line("EventStore.append_many", count, secs), flush=True)
                else:
                    count, secs = await timed(lambda: raw_publish_async(js, w.bulk_raw, args.chunk))
                    res.append_raw.append(rate(count, secs))
                    print(throughput_line("raw js.publish_async", count, secs), flush=True)
            print(f"    ratio typed/raw {res.append_typed[-1] / res.append_raw[-1]:.2f}")

            # 3. catch-up read of the stream written in step 1 (before it grows)
            print(f"  catch-up read ({len(w.bulk)} events, same stream)")
            for side in ("store", "raw") if typed_first else ("raw", "store"):
                if side == "store":
                    count, secs = await timed(lambda: store_read(store))
                    res.read_store.append(rate(count, secs))
                    print(throughput_line("EventStore.read", count, secs), flush=True)
                else:
                    count, secs = await timed(lambda: raw_read(js, typed_cfg))
                    res.read_raw.append(rate(count, secs))
                    print(throughput_line("raw ordered consumer + decode", count, secs))
            print(f"    ratio store/raw {res.read_store[-1] / res.read_raw[-1]:.2f}", flush=True)

            # 2. latency, interleaved call by call
            typed_lat, raw_lat = await latencies(store, js, w.lat, w.lat_raw)
            res.lat_typed.extend(typed_lat)
            res.lat_raw.extend(raw_lat)
            res.lat_ratio.append(LatencyStats.of(raw_lat).p50 / LatencyStats.of(typed_lat).p50)
            print(f"  sequential append latency ({len(w.lat)} calls each, interleaved)")
            print(f"    {'EventStore.append':<22} {LatencyStats.of(typed_lat).row()}")
            print(f"    {'raw js.publish':<22} {LatencyStats.of(raw_lat).row()}", flush=True)

            # 1b. concurrent single appends, for information
            width = args.concurrency
            print(f"  concurrent single appends ({len(w.conc)} events, {width} tasks)")
            for side in ("typed", "raw") if typed_first else ("raw", "typed"):
                if side == "typed":
                    count, secs = await timed(lambda: typed_concurrent(store, w.conc, width))
                    res.conc_typed.append(rate(count, secs))
                    print(throughput_line("EventStore.append x concurrent", count, secs))
                else:
                    count, secs = await timed(lambda: raw_concurrent(js, w.conc_raw, width))
                    res.conc_raw.append(rate(count, secs))
                    print(throughput_line("raw js.publish x concurrent", count, secs))
            print(f"    ratio typed/raw {res.conc_typed[-1] / res.conc_raw[-1]:.2f}", flush=True)
        finally:
            await self.drop(typed_cfg, raw_cfg)


def summarize(res: Results) -> None:
    append_ratio = max(res.append_typed) / max(res.append_raw)
    read_ratio = max(res.read_store) / max(res.read_raw)
    lat_typed = LatencyStats.of(res.lat_typed)
    lat_raw = LatencyStats.of(res.lat_raw)
    lat_ratio = lat_raw.p50 / lat_typed.p50

    print("\nsummary (best round for throughput, all rounds pooled for latency)")
    for label, typed, raw in (
        ("append_many", res.append_typed, res.append_raw),
        ("append x concurrent", res.conc_typed, res.conc_raw),
        ("read", res.read_store, res.read_raw),
    ):
        print(f"  {label:<20} {max(typed):>9,.0f} ev/s   raw {max(raw):>9,.0f} ev/s")
    print(f"  append latency   typed {lat_typed.row()}")
    print(f"                   raw   {lat_raw.row()}")
    print()
    print(f"  {'ratio':<36} {'value':>6}  {'rounds (median)':>15}  {'target':>7}  met")
    rows = [
        ("append throughput typed/raw", append_ratio, per_round(res.append_typed, res.append_raw)),
        ("append latency p50 raw/typed", lat_ratio, res.lat_ratio),
        ("catch-up read store/raw", read_ratio, per_round(res.read_store, res.read_raw)),
    ]
    for label, value, rounds in rows:
        verdict = "yes" if value >= _TARGET else "NO"
        median = statistics.median(rounds)
        print(f"  {label:<36} {value:>6.2f}  {median:>15.2f}  {'>= ' + str(_TARGET):>7}  {verdict}")
    conc = max(res.conc_typed) / max(res.conc_raw)
    conc_median = statistics.median(per_round(res.conc_typed, res.conc_raw))
    print(f"  {'(info) concurrent append typed/raw':<36} {conc:>6.2f}  {conc_median:>15.2f}")
    print("  value: best round vs best round (latency: pooled p50); rounds: median of round ratios")


def per_round(typed: Sequence[float], raw: Sequence[float]) -> list[float]:
    return [t / r for t, r in zip(typed, raw, strict=True)]


async def amain(args: argparse.Namespace) -> None:
    server: NatsServer | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    url: str = args.nats_url or ""
    try:
        if not url:
            tmp = tempfile.TemporaryDirectory(prefix="bench-store-")
            server = NatsServer(find_server_binary(args.nats_server), Path(tmp.name))
            url = server.start()
            print(f"started nats-server at {url} (store {tmp.name})")
        nc = await nats.connect(url, name="callsheet-bench", connect_timeout=5)
        try:
            print(
                f"python {platform.python_version()}, nats-py {version('nats-py')}, "
                f"msgspec {msgspec.__version__}, nats-server {nc.connected_server_version}, "
                f"{os.cpu_count()} cpus"
            )
            started = time.perf_counter()
            bench = Bench(nc, args, make_workload(args))
            await bench.warm_up()
            for round_no in range(1, args.rounds + 1):
                await bench.round(round_no)
            summarize(bench.res)
            print(f"\ntotal {time.perf_counter() - started:.1f} s")
        finally:
            await nc.close()
    finally:
        if server is not None:
            server.stop()
        if tmp is not None:
            tmp.cleanup()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events appended and read")
    parser.add_argument("--nats-url", help="use this server (JetStream on) instead of starting one")
    parser.add_argument("--nats-server", help="nats-server binary to start")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with fresh streams")
    parser.add_argument("--chunk", type=int, default=1000, help="events per append_many call")
    parser.add_argument("--latency-samples", type=int, default=2000, help="sequential appends")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent appenders")
    parser.add_argument(
        "--concurrent-events",
        type=int,
        default=None,
        help="events for the concurrent appends (default: min(10000, events))",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.rounds < 1 or args.chunk < 1 or args.concurrency < 1:
        parser.error("--events, --rounds, --chunk and --concurrency must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    main()
