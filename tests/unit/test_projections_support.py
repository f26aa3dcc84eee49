"""Shared helpers of the projection tests (no tests here).

``Script`` writes realistic hand-made event sequences; ``histories()`` generates
random ones whose events interact: every id comes from a small pool, so events
hit the same goals, tasks, workers, conflicts and context keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar, get_type_hints

from hypothesis import strategies as st

from callsheet.events.catalog import EVENT_TYPES, TASK_LEVEL_TYPES, ModelCalled, PlannedTask
from callsheet.events.envelope import Event
from tests.unit.strategies import from_struct

E = TypeVar("E", bound=Event)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
GOALS = ("g1", "g2")
TASKS = ("t1", "t2", "t3")
AGENTS = ("w1", "w2", "sup")
MODELS = ("m1", "m2")


def event_id(n: int) -> str:
    """A valid, deterministic ULID-shaped id, ordered by ``n``."""
    return f"01J9Z6N3V6E2K1X4W0M8{n:06d}"


class Script:
    """Writes one goal's events, each a given number of seconds after the last."""

    def __init__(self, goal: str = "g1", start: datetime = T0) -> None:
        self.goal = goal
        self.now = start
        self.events: list[Event] = []

    def add(
        self,
        cls: type[E],
        data: Any,
        *,
        task: str | None = None,
        producer: str = "sup",
        after: float = 1.0,
        cause: Event | None = None,
        goal: str | None = None,
    ) -> E:
        self.now += timedelta(seconds=after)
        event = cls.new(
            data=data,
            goal_id=goal or self.goal,
            task_id=task,
            producer=producer,
            causation_id=None if cause is None else cause.id,
            event_id=event_id(len(self.events)),
            occurred_at=self.now,
        )
        self.events.append(event)
        return event


def _pool(values: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


_small_json = st.none() | st.integers(0, 9) | st.text(max_size=3)
_planned = from_struct(
    PlannedTask,
    task_id=_pool(TASKS),
    depends_on=st.lists(_pool(TASKS), max_size=3),
    estimate_seconds=st.none() | st.floats(0, 100),
)

# Fields drawn from the pools (or kept small), by name, whatever the payload type.
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(
        ["worker", "agent", "author", "decided_by", "answered_by", "from_worker"],
        _pool(AGENTS),
    ),
    **dict.fromkeys(["reviewer", "supervisor", "winner"], _pool(AGENTS)),
    "model": _pool(MODELS),
    "conflict_id": _pool(("c1", "c2")),
    "key": _pool(("k1", "k2")),
    "review_id": _pool(("r1",)),
    "question_id": _pool(("q1",)),
    "checkpoint_id": _pool(("cp1", "cp2")),
    "scope_id": _pool(GOALS + AGENTS + MODELS),
    "parties": st.lists(_pool(AGENTS), min_size=1, max_size=3),
    "depends_on": st.lists(_pool(TASKS), max_size=3),
    "removed": st.lists(_pool(TASKS), max_size=2),
    "tasks": st.lists(_planned, max_size=3),
    "added": st.lists(_planned, max_size=2),
    "supersedes": st.none(),
    # Mostly sane leases, and now and then one too long to put on a calendar.
    "lease_seconds": st.floats(0.5, 120) | st.just(1e300),
    "lease_until": st.none() | st.integers(0, 600).map(lambda s: T0 + timedelta(seconds=s)),
    "cost_usd": st.floats(0, 5),
    "input_tokens": st.integers(0, 1000),
    "output_tokens": st.integers(0, 1000),
    **dict.fromkeys(
        ["value", "output", "state", "request", "response", "result", "details", "arguments"],
        _small_json,
    ),
    "inputs": st.just({}),
    "findings": st.just([]),
}


@cache
def _data(cls: type[Event]) -> st.SearchStrategy[Any]:
    data_cls = get_type_hints(cls)["data"]
    names = set(data_cls.__struct_fields__)
    return from_struct(data_cls, **{k: v for k, v in _FIELDS.items() if k in names})


# Every type, with the ones projections combine drawn more often so that they meet.
_CLASSES = sorted(EVENT_TYPES.values(), key=lambda c: str(c.__struct_config__.tag)) + [
    EVENT_TYPES[t]
    for t in (
        "model.called",
        "usage.recorded",
        "context.updated",
        "conflict.detected",
        "conflict.resolved",
        "task.assigned",
        "task.started",
        "task.heartbeat",
        "task.result",
        "plan.proposed",
    )
]


@st.composite
def histories(draw: st.DrawFn, max_size: int = 25) -> list[Event]:
    """A log of up to ``max_size`` valid events around a few goals, tasks and agents."""
    size = draw(st.integers(0, max_size))
    at = T0
    out: list[Event] = []
    for n in range(size):
        cls = draw(st.sampled_from(_CLASSES))
        # Producers' clocks drift: time mostly moves on, sometimes a little back.
        at += timedelta(seconds=draw(st.integers(-5, 60)))
        tag = str(cls.__struct_config__.tag)
        task = _pool(TASKS) if tag in TASK_LEVEL_TYPES else st.none() | _pool(TASKS)
        causes = [e.id for e in out]
        if tag == "usage.recorded":
            # Usage records mostly account for a model call: the costs rule under test.
            causes = [e.id for e in out if isinstance(e, ModelCalled)] or causes
        # Most causes are the event just before, as when an agent reacts at once.
        cause = draw(st.none() | st.just(causes[-1]) | st.sampled_from(causes)) if causes else None
        out.append(
            cls.new(
                data=draw(_data(cls)),
                goal_id=draw(_pool(GOALS)),
                task_id=draw(task),
                producer=draw(_pool(AGENTS)),
                causation_id=cause,
                event_id=event_id(n),
                occurred_at=at,
            )
        )
    return out
