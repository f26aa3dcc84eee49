"""The metrics' fold and its instruments, read back through OpenTelemetry's in-memory reader."""

from __future__ import annotations

from datetime import timedelta

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from callsheet.events.catalog import TaskFailed, TaskFailedData, TaskStarted, TaskStartedData
from callsheet.observability.metrics import Instruments, Tally, points, wanted
from tests.views_support import T0, goal_events


def test_a_delivery_gives_its_dispatch_latency_and_its_duration() -> None:
    tally = Tally()
    samples = [s for e in goal_events() for s in tally.fold(e)]
    latency = [s.value for s in samples if s.instrument == "callsheet.task.dispatch_latency"]
    assert latency == [1.0, 2.0, 3.0, 4.0]  # t1..t4 start n seconds after their assignment
    duration = [s for s in samples if s.instrument == "callsheet.task.duration"]
    assert [s.value for s in duration] == [1.0, 1.0, 1.0]
    assert {s.attributes["outcome"] for s in duration} == {"succeeded"}
    tokens = [s for s in samples if s.instrument == "gen_ai.client.token.usage"]
    assert [(s.attributes["gen_ai.token.type"], s.value) for s in tokens] == [
        ("input", 300),
        ("output", 79),
    ]
    assert tally.states() == {"done": 3, "blocked": 1, "assigned": 1}
    assert tally.roles == {"backend"}
    assert tally.events == 22


def test_a_retry_and_a_failure_are_counted_with_the_failed_delivery_s_duration() -> None:
    tally = Tally()
    events = goal_events()
    for event in events:
        tally.fold(event)
    assigned = next(e for e in events if e.event_type == "task.assigned" and e.task_id == "t5")
    at = T0 + timedelta(seconds=10)
    again = TaskStarted.new(
        data=TaskStartedData(worker="backend-2", attempt=2), goal_id="g1", task_id="t5",
        producer="backend-2", causation_id=assigned.id, occurred_at=at,
    )  # fmt: skip
    failed = TaskFailed.new(
        data=TaskFailedData(reason="boom", worker="backend-2", attempt=2, retryable=False),
        goal_id="g1", task_id="t5", producer="backend-2", causation_id=assigned.id,
        occurred_at=at + timedelta(seconds=2.5),
    )  # fmt: skip
    started = {s.instrument: s for s in tally.fold(again)}
    assert started["callsheet.task.retries"].value == 1
    assert started["callsheet.task.dispatch_latency"].value == 10.0
    ended = {s.instrument: s for s in tally.fold(failed)}
    assert ended["callsheet.task.duration"].value == 2.5
    assert ended["callsheet.task.duration"].attributes["outcome"] == "failed"
    assert ended["callsheet.task.failures"].attributes == {"role": "backend", "retryable": "false"}


def test_the_instruments_report_what_the_fold_gave() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instruments = Instruments(provider, Tally(), lambda: {"backend": 3})
    for event in goal_events():
        instruments.fold(event)
    got = {(n, tuple(sorted(a.items()))): p for n, _, a, p in points(reader.get_metrics_data())}
    assert got[("callsheet.tasks", (("state", "done"),))].value == 3
    assert got[("callsheet.queue.depth", (("role", "backend"),))].value == 3
    latency = got[("callsheet.task.dispatch_latency", (("role", "backend"),))]
    assert (latency.count, latency.sum, latency.max) == (4, 10.0, 4.0)
    cost = next(p for (n, _), p in got.items() if n == "callsheet.model.cost")
    assert cost.value == pytest.approx(0.5)
    assert sum(p.value for (n, _), p in got.items() if n == "callsheet.events") == 22
    provider.shutdown()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://h:4318/v1/metrics"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/v1/traces"}, False),
        ({"OTEL_METRICS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, False),
    ],
)
def test_the_standard_variables_decide_whether_metrics_are_sent(
    environ: dict[str, str], expected: bool
) -> None:
    assert wanted(environ) is expected
