"""The crew's metrics, folded from the log and reported through OpenTelemetry metrics.

``Tally`` is a pure fold of events (no I/O) that yields what the instruments
record: each event counted, a dispatch latency when a task is started (from its
assignment), a task duration when a delivery ends (from its start), retries
and failures, tokens and cost per model; and it keeps the tasks' states and
the roles seen. ``Instruments`` records those into an OpenTelemetry
``MeterProvider``: a ``callsheet metrics`` run reads them back once for a person
(an in-memory reader) and, when the standard ``OTEL_*`` variables ask for it,
sends them over OTLP/HTTP like any other service's metrics.

Instruments (the GenAI one follows the semantic conventions):

- ``callsheet.tasks`` (gauge, by ``state``): tasks in each state now;
- ``callsheet.task.dispatch_latency`` (histogram, s, by ``role``): assignment to start;
- ``callsheet.task.duration`` (histogram, s, by ``role``, ``outcome``): start to end of a delivery;
- ``callsheet.task.retries`` / ``callsheet.task.failures`` (counters, by ``role``);
- ``callsheet.queue.depth`` (gauge, by ``role``): tasks waiting in the role's queue;
- ``gen_ai.client.token.usage`` (histogram, by model and ``gen_ai.token.type``);
- ``callsheet.model.cost`` (counter, USD, by model);
- ``callsheet.events`` (counter, by type) and ``callsheet.events.rate`` (gauge, events/s
  over the last minute of the log).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider

from callsheet import __version__
from callsheet.events.catalog import (
    ModelCalled,
    TaskAssigned,
    TaskFailed,
    TaskReassigned,
    TaskResult,
    TaskStarted,
)
from callsheet.events.envelope import Event
from callsheet.projections import board
from callsheet.projections._common import GoalMap

__all__ = ["RATE_WINDOW", "Instruments", "Sample", "Tally", "points", "wanted"]

RATE_WINDOW = timedelta(seconds=60)
"""The stretch of the log's latest events that ``callsheet.events.rate`` is measured over."""


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the standard OpenTelemetry variables ask for metrics to be exported; pure."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in environ.get("OTEL_METRICS_EXPORTER", "").split(",")}
    if "none" in exporters:
        return False
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    return "otlp" in exporters or any(environ.get(n, "").strip() for n in endpoints)


@dataclass(frozen=True, slots=True)
class Sample:
    """One value for an instrument, from one event.

    Attributes:
        instrument: The instrument's name.
        value: The value (seconds, tokens, dollars, 1 for a count).
        attributes: Its attributes.
    """

    instrument: str
    value: float
    attributes: Mapping[str, str]


@dataclass(slots=True)
class Tally:
    """The metrics' fold over the log (mutable, fed in log order).

    Attributes:
        boards: Every goal's board, for the tasks by state.
        roles: Roles that were assigned work.
        assigned: When each task was last assigned, and to which role.
        started: When each delivery started (by goal, task, worker, attempt).
        recent: Times of the latest events (the rate's window).
        events: Events folded.
    """

    boards: GoalMap[board.Board] = field(default_factory=board.initial_all)
    roles: set[str] = field(default_factory=set)
    assigned: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)
    started: dict[tuple[str, str, str, int], datetime] = field(default_factory=dict)
    recent: collections.deque[datetime] = field(default_factory=collections.deque)
    events: int = 0

    def fold(self, event: Event) -> list[Sample]:
        """Take one more event; return the values it gives the instruments."""
        self.events += 1
        self.boards = board.fold_all(self.boards, event)
        at = event.occurred_at
        self.recent.append(at)
        while self.recent and at - self.recent[0] > RATE_WINDOW:
            self.recent.popleft()
        out = [Sample("callsheet.events", 1, {"type": event.event_type})]
        key = (event.goal_id, event.task_id or "")
        if isinstance(event, TaskAssigned):
            self.roles.add(event.data.role)
            self.assigned[key] = (at, event.data.role)
        elif isinstance(event, TaskStarted):
            when, role = self.assigned.get(key, (at, "unknown"))
            data = event.data
            self.started[(*key, data.worker, data.attempt)] = at
            out.append(
                Sample("callsheet.task.dispatch_latency", _seconds(at - when), {"role": role})
            )
            if data.attempt > 1:
                out.append(Sample("callsheet.task.retries", 1, {"role": role}))
        elif isinstance(event, TaskReassigned):
            out.append(Sample("callsheet.task.retries", 1, {"role": event.data.to_role}))
        elif isinstance(event, TaskResult | TaskFailed):
            role = self.assigned.get(key, (at, "unknown"))[1]
            worker = event.data.worker or ""
            attempt = event.data.attempt if isinstance(event, TaskFailed) else None
            began = self._take_start(key, worker, attempt)
            outcome = "succeeded" if isinstance(event, TaskResult) else "failed"
            if began is not None:
                out.append(
                    Sample(
                        "callsheet.task.duration",
                        _seconds(at - began),
                        {"role": role, "outcome": outcome},
                    )
                )
            if isinstance(event, TaskFailed):
                retryable = "true" if event.data.retryable else "false"
                out.append(
                    Sample("callsheet.task.failures", 1, {"role": role, "retryable": retryable})
                )
        elif isinstance(event, ModelCalled):
            call = event.data
            model = {"gen_ai.request.model": call.model, "gen_ai.provider.name": call.provider}
            out += [
                Sample("gen_ai.client.token.usage", call.input_tokens,
                       {**model, "gen_ai.token.type": "input"}),
                Sample("gen_ai.client.token.usage", call.output_tokens,
                       {**model, "gen_ai.token.type": "output"}),
                Sample("callsheet.model.cost", call.cost_usd, model),
            ]  # fmt: skip
        return out

    def _take_start(
        self, key: tuple[str, str], worker: str, attempt: int | None
    ) -> datetime | None:
        if attempt is not None:
            return self.started.pop((*key, worker, attempt), None)
        # A result names its worker, not its attempt: the worker's latest start.
        found = [k for k in self.started if k[:3] == (*key, worker)]
        return self.started.pop(max(found, key=lambda k: k[3])) if found else None

    def states(self) -> dict[str, int]:
        """Tasks in each state, over every goal."""
        counts: dict[str, int] = {}
        for goal in self.boards.goals.values():
            for card in goal.tasks.values():
                counts[card.status] = counts.get(card.status, 0) + 1
        return counts

    def rate(self) -> float:
        """Events per second over the window ending at the latest event."""
        if len(self.recent) < 2:
            return 0.0
        span = _seconds(self.recent[-1] - self.recent[0])
        return len(self.recent) / span if span > 0 else float(len(self.recent))


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


class Instruments:
    """The instruments of ``Tally``'s samples, on a meter of ``provider``.

    Args:
        provider: Where the metrics go (its readers: in memory, OTLP...).
        tally: The fold whose state the gauges read.
        queues: Returns the waiting tasks per role (read when metrics are collected).
    """

    def __init__(
        self,
        provider: MeterProvider,
        tally: Tally,
        queues: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        meter: Meter = provider.get_meter("callsheet", __version__)
        self.tally = tally
        self._queues = queues
        self._recorders: dict[str, Callable[[float, Mapping[str, str]], None]] = {}
        histograms = {
            "callsheet.task.dispatch_latency": ("s", "From a task's assignment to its start."),
            "callsheet.task.duration": ("s", "From a delivery's start to its result or failure."),
            "gen_ai.client.token.usage": ("{token}", "Tokens used per model call."),
        }
        for name, (unit, text) in histograms.items():
            self._recorders[name] = meter.create_histogram(name, unit=unit, description=text).record
        counters = {
            "callsheet.task.retries": ("{task}", "Second and later tries of tasks."),
            "callsheet.task.failures": ("{task}", "Task failures."),
            "callsheet.model.cost": ("USD", "Money spent on model calls."),
            "callsheet.events": ("{event}", "Events in the log."),
        }
        for name, (unit, text) in counters.items():
            self._recorders[name] = meter.create_counter(name, unit=unit, description=text).add
        meter.create_observable_gauge(
            "callsheet.tasks", [self._tasks], unit="{task}", description="Tasks in each state."
        )
        meter.create_observable_gauge(
            "callsheet.queue.depth", [self._depth], unit="{task}",
            description="Tasks waiting in each role's work queue.",
        )  # fmt: skip
        meter.create_observable_gauge(
            "callsheet.events.rate", [self._rate], unit="{event}/s",
            description="Events per second over the last minute of the log.",
        )  # fmt: skip

    def record(self, samples: Iterable[Sample]) -> None:
        """Record samples from ``Tally.fold``."""
        for sample in samples:
            self._recorders[sample.instrument](sample.value, dict(sample.attributes))

    def fold(self, event: Event) -> None:
        """Fold one event into the tally and record what it gives."""
        self.record(self.tally.fold(event))

    def _tasks(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"state": s}) for s, n in sorted(self.tally.states().items())]

    def _depth(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"role": r}) for r, n in sorted(self._queues().items())]

    def _rate(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.tally.rate())]


def points(data: Any) -> list[tuple[str, str, dict[str, Any], Any]]:
    """Every point of collected ``MetricsData``: (name, unit, attributes, point)."""
    out = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    out.append((metric.name, metric.unit or "", dict(point.attributes), point))
    return out
