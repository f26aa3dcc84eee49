"""The esdb insert benchmark runs and measures what it says (figures are not compared)."""

from __future__ import annotations

from pathlib import Path

from tools.bench_esdb import Workload, measure, report


def test_the_esdb_benchmark_measures_both_recorders(nats_url: str, tmp_path: Path) -> None:
    workloads = (Workload(2, 10, 1), Workload(2, 4, 5))
    results = measure(nats_url, tmp_path, workloads, rounds=2)
    assert [f.workload for f in results] == list(workloads)
    for figures in results:
        assert len(figures.jetstream) == len(figures.sqlite) == 2
        assert all(rate > 0 for rate in figures.jetstream + figures.sqlite)
    lines: list[str] = []
    report(results, lines.append)
    assert len(lines) == 3 and "JetStream/SQLite" in lines[1]
