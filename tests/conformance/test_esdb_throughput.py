"""Throughput of concurrent inserts: JetStream recorder against the library's SQLite module.

Both recorders get the same workload in the same run (threads writing new
aggregates, as the library's ``test_concurrent_throughput`` does); the rates
are printed (``pytest -s``) and attached to the test report as properties.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from tests.conformance.esdb_support import Recorders


@pytest.fixture
def recorders(nats_url: str) -> Iterator[Recorders]:
    made = Recorders(nats_url)
    yield made
    made.close()


def _rate(recorder: ApplicationRecorder, *, workers: int, jobs: int, events_per_job: int) -> float:
    def job() -> None:
        originator = uuid4()
        recorder.insert_events(
            [
                StoredEvent(originator, version, "topic", b'{"n":1}')
                for version in range(1, events_per_job + 1)
            ]
        )

    def run(count: int) -> None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(job) for _ in range(count)]:
                future.result()

    run(workers)  # warm up
    started = time.perf_counter()
    run(jobs)
    return jobs * events_per_job / (time.perf_counter() - started)


@pytest.mark.parametrize(
    ("workers", "jobs", "events_per_job"),
    [(4, 200, 1), (4, 40, 50), (16, 400, 1)],
)
def test_concurrent_insert_throughput_against_sqlite(
    recorders: Recorders,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    workers: int,
    jobs: int,
    events_per_job: int,
) -> None:
    jetstream = recorders.application()
    datastore = SQLiteDatastore(db_name=str(tmp_path / "bench.db"))
    sqlite = SQLiteApplicationRecorder(datastore)
    sqlite.create_table()
    try:
        js_rate = _rate(jetstream, workers=workers, jobs=jobs, events_per_job=events_per_job)
        sqlite_rate = _rate(sqlite, workers=workers, jobs=jobs, events_per_job=events_per_job)
        total = (jobs + workers) * events_per_job
        assert jetstream.max_notification_id() == total
        assert sqlite.max_notification_id() == total
    finally:
        datastore.close()
    record_property("jetstream_events_per_s", round(js_rate))
    record_property("sqlite_events_per_s", round(sqlite_rate))
    print(
        f"\n{workers} threads, {jobs} writes of {events_per_job} event(s): "
        f"JetStream {js_rate:,.0f} events/s, SQLite (file) {sqlite_rate:,.0f} events/s"
    )
