"""``callsheet metrics``: printed once for a person, and sent to a real OTLP receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.cli_support import cli, cli_env
from tests.e2e.test_crew_failures import open_log
from tests.otlp_support import Collector, collector
from tests.views_support import goal_events

__all__ = ["collector"]  # the fixture

pytestmark = pytest.mark.e2e


async def test_metrics_are_printed_and_sent_over_otlp(
    nats_url: str, tmp_path: Path, collector: Collector
) -> None:
    env = cli_env(nats_url, tmp_path)
    nc, store = await open_log(env)
    for event in goal_events("g-m"):
        await store.append(event)
    await nc.close()

    plain = await asyncio.to_thread(cli, env, "metrics", "--goal", "g-m")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[-1] == "22 events of goal g-m"
    table = "\n".join(lines)
    for expected in ("callsheet.tasks", "state=done", "callsheet.task.dispatch_latency",
                     "count 4, mean 2.5, max 4", "gen_ai.client.token.usage",
                     "callsheet.events.rate", "callsheet.model.cost"):  # fmt: skip
        assert expected in table, expected
    assert collector.metrics == []  # no OTEL variables: nothing sent

    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=collector.base)
    sent = await asyncio.to_thread(cli, env, "metrics", "--goal", "g-m")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines()[-1] == "22 events of goal g-m, sent over OTLP"
    got = {m.name: m for _, m in collector.metrics}
    assert {s for s, _ in collector.metrics} == {"callsheet-metrics"}
    assert {"callsheet.tasks", "callsheet.task.dispatch_latency", "callsheet.task.duration",
            "gen_ai.client.token.usage", "callsheet.model.cost", "callsheet.events",
            "callsheet.events.rate"} <= set(got)  # fmt: skip
    tasks = {
        p.attributes[0].value.string_value: p.as_int
        for p in got["callsheet.tasks"].gauge.data_points
    }
    assert tasks == {"done": 3, "blocked": 1, "assigned": 1}
    (latency,) = got["callsheet.task.dispatch_latency"].histogram.data_points
    assert (latency.count, latency.sum, latency.max) == (4, 10.0, 4.0)

    unknown = await asyncio.to_thread(cli, env, "metrics", "--goal", "nope")
    assert unknown.returncode == 2 and "no events of goal 'nope'" in unknown.stderr
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT")
    follow = await asyncio.to_thread(cli, env, "metrics", "--follow")
    assert follow.returncode == 2 and "set OTEL_EXPORTER_OTLP_ENDPOINT" in follow.stderr
