"""The dispatch benchmark runs and measures what it says (figures are not checked)."""

from __future__ import annotations

from tools.bench_agents import run


async def test_the_dispatch_benchmark_produces_figures(nats_url: str) -> None:
    figures = await run(nats_url, latency=20, tasks=40, workers=4, rounds=1, warmup=5)
    assert len(figures.latency_agent) == len(figures.latency_raw) == 20
    assert all(x > 0 for x in figures.latency_agent + figures.latency_raw)
    assert len(figures.tasks_per_s_agent) == len(figures.tasks_per_s_raw) == 1
    # Each no-op task leaves its assignment, task.started and task.result in the log.
    assert figures.events_per_task >= 3.0
