"""Throughput of concurrent inserts: ``callsheet.esdb`` on JetStream against the library's SQLite.

Run: ``python -m tools.bench_esdb`` (``--quick`` for a short run). It starts its
own ``nats-server`` (file storage, in a temporary folder).

Both recorders get the same workload in the same run, alternating round by
round, the way the library's own ``test_concurrent_throughput`` writes: threads
each inserting new aggregates (``events_per_job`` events of one new originator
per insert). The JetStream recorder writes ``aggregate.recorded`` events into a
callsheet log (atomic batches, server-enforced versions); SQLite is the library's
``SQLiteApplicationRecorder`` on a file (WAL). Events/s of each, and their ratio,
are printed per workload; the best round of each side is compared.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from ulid import ULID

from callsheet.broker.process import NatsServerProcess
from callsheet.esdb import JetStreamApplicationRecorder, LoopBridge
from callsheet.events.stream import StoreConfig

__all__ = ["WORKLOADS", "Workload", "insert_rate", "main", "measure"]


@dataclass(frozen=True, slots=True)
class Workload:
    """Threads writing new aggregates: ``jobs`` inserts of ``events_per_job`` events."""

    workers: int
    jobs: int
    events_per_job: int

    def __str__(self) -> str:
        return f"{self.workers} threads, {self.jobs} inserts of {self.events_per_job} event(s)"


WORKLOADS = (Workload(4, 400, 1), Workload(16, 800, 1), Workload(4, 80, 50))


@dataclass(slots=True)
class Figures:
    """Events/s per round of each recorder, for one workload."""

    workload: Workload
    jetstream: list[float] = field(default_factory=list)
    sqlite: list[float] = field(default_factory=list)


def insert_rate(recorder: ApplicationRecorder, workload: Workload) -> float:
    """Run a workload (after a warm-up of one insert per thread); return events/s."""

    def job() -> None:
        originator = uuid4()
        recorder.insert_events(
            [
                StoredEvent(originator, version, "bench:Thing.Happened", b'{"n":1}')
                for version in range(1, workload.events_per_job + 1)
            ]
        )

    def run(count: int) -> None:
        with ThreadPoolExecutor(max_workers=workload.workers) as pool:
            for future in [pool.submit(job) for _ in range(count)]:
                future.result()

    run(workload.workers)
    started = time.perf_counter()
    run(workload.jobs)
    return workload.jobs * workload.events_per_job / (time.perf_counter() - started)


def measure(
    nats_url: str, folder: Path, workloads: tuple[Workload, ...], rounds: int
) -> list[Figures]:
    """Measure every workload on fresh recorders of both kinds, alternating sides."""
    results = []
    bridge = LoopBridge([nats_url], name="bench-esdb")
    try:
        for n, workload in enumerate(workloads):
            figures = Figures(workload)
            for r in range(rounds):
                uid = str(ULID()).lower()
                config = StoreConfig(stream=f"B_{uid}", root=f"b{uid}", blob_bucket=f"B_{uid}")
                jetstream = JetStreamApplicationRecorder(bridge, config, goal="bench")
                jetstream.create_stream()
                datastore = SQLiteDatastore(db_name=str(folder / f"bench-{n}-{r}.db"))
                sqlite = SQLiteApplicationRecorder(datastore)
                sqlite.create_table()
                sides: list[tuple[list[float], ApplicationRecorder]] = [
                    (figures.jetstream, jetstream),
                    (figures.sqlite, sqlite),
                ]
                try:
                    for rates, recorder in sides if r % 2 == 0 else reversed(sides):
                        rates.append(insert_rate(recorder, workload))
                        _check_count(recorder, workload)
                finally:
                    datastore.close()
            results.append(figures)
    finally:
        bridge.close()
    return results


def _check_count(recorder: ApplicationRecorder, workload: Workload) -> None:
    # Every event was stored once (the warm-up's and the measured inserts').
    stored = len(recorder.select_notifications(None, 1_000_000))
    expected = (workload.jobs + workload.workers) * workload.events_per_job
    if stored != expected:
        raise AssertionError(f"{type(recorder).__name__} holds {stored} events, not {expected}")


def report(results: list[Figures], show: Callable[[str], None] = print) -> None:
    """Print events/s of both sides per workload, and their ratio (best to best)."""
    show("concurrent inserts, events/s (best of the rounds; each round's in brackets)")
    for figures in results:
        js, sq = max(figures.jetstream), max(figures.sqlite)
        show(
            f"  {figures.workload}: JetStream {js:,.0f} "
            f"[{', '.join(f'{x:,.0f}' for x in figures.jetstream)}], "
            f"SQLite {sq:,.0f} [{', '.join(f'{x:,.0f}' for x in figures.sqlite)}], "
            f"JetStream/SQLite {js / sq:.2f}"
        )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small workloads, one round")
    args = parser.parse_args()
    workloads: tuple[Workload, ...] = WORKLOADS
    if args.quick:
        workloads = tuple(Workload(w.workers, w.jobs // 10, w.events_per_job) for w in WORKLOADS)
        args.rounds = 1
    with tempfile.TemporaryDirectory() as tmp, NatsServerProcess(store_dir=Path(tmp)) as server:
        print(f"server at {server.url}; SQLite files in {tmp}", flush=True)
        report(measure(server.url, Path(tmp), workloads, args.rounds))


if __name__ == "__main__":
    main()
