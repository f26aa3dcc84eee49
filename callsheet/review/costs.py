"""What a review cost, and how well it used its workers: a pure fold and the report's last section.

``fold`` takes a goal's events: its spending (the ``costs`` projection's rule,
each call counted once), its budget (as submitted, then as raised by the
supervisor's decisions), and each delivery of each task (from ``task.started``
to its result, failure or cancellation, or to the next start of the same task).
``render`` turns that into the report's section: cost per agent and model, and
the parallel efficiency:

- *work time*: the time tasks ran, summed over deliveries;
- *task slots*: for each worker, the most tasks it ran at once (an analyst takes
  two), summed: the crew's capacity;
- *efficiency*: work time over wall time (from the submission to the last
  event folded: the report's own start) times task slots;
- the *critical path*: the chain of dependent tasks that took longest, by their
  run time. Work time over it is the most tasks that could usefully run at once.

The advice says when more workers would not help: the critical path takes most
of the wall time, or the workers were idle, or there were already as many task
slots as the work allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import msgspec

from callsheet.events.catalog import (
    Budget,
    ContextUpdated,
    GoalSubmitted,
    TaskCancelled,
    TaskFailed,
    TaskPlanned,
    TaskResult,
    TaskStarted,
)
from callsheet.events.envelope import Event
from callsheet.projections import costs as costs_projection
from callsheet.projections._common import passoc
from callsheet.projections.costs import Costs, Spend

__all__ = [
    "Delivery",
    "Efficiency",
    "TeamCosts",
    "advice",
    "efficiency",
    "fold",
    "initial",
    "render",
]

_BUDGET_KEY = "budget"  # the supervisor's decisions (crew.asking.BUDGET_KEY)
_BUSY = 0.75
"""Share of the wall time above which the critical path is said to dominate."""
_IDLE = 0.5
"""Efficiency below which the workers are said to have been idle."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One run of a task by a worker.

    Attributes:
        task_id: The task.
        worker: Who ran it.
        started_at: When it started.
        ended_at: When it ended (``None``: still running).
    """

    task_id: str
    worker: str
    started_at: datetime
    ended_at: datetime | None = None

    @property
    def seconds(self) -> float:
        """How long it ran (0 while it runs)."""
        if self.ended_at is None:
            return 0.0
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class _Decision(msgspec.Struct, forbid_unknown_fields=False):
    budget: Budget
    answered_by: str = ""
    answer: str = ""


@dataclass(frozen=True, slots=True)
class TeamCosts:
    """A goal's spending and work, folded from its events.

    Attributes:
        goal_id: The goal.
        costs: Its spending (the ``costs`` projection over its events).
        submitted_at: When it was submitted.
        last_at: When its last event folded happened.
        budget: The budget now (as raised).
        submitted_budget: The budget it was submitted with.
        raises: Who changed the budget, and how (their answers), in order.
        roles: Each task's role.
        depends_on: Each task's dependencies.
        deliveries: Each delivery, in the order started.
    """

    goal_id: str = ""
    costs: Costs = field(default_factory=Costs)
    submitted_at: datetime | None = None
    last_at: datetime | None = None
    budget: Budget | None = None
    submitted_budget: Budget | None = None
    raises: tuple[tuple[str, str], ...] = ()
    roles: Mapping[str, str] = field(default_factory=dict)
    depends_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    deliveries: tuple[Delivery, ...] = ()


def initial() -> TeamCosts:
    """Return the state before any event."""
    return TeamCosts()


def _end(state: TeamCosts, task: str, at: datetime) -> TeamCosts:
    """End the task's running delivery (if it has one) at ``at``."""
    for i in range(len(state.deliveries) - 1, -1, -1):
        d = state.deliveries[i]
        if d.task_id == task:
            if d.ended_at is not None:
                return state
            ended = replace(d, ended_at=at)
            return replace(
                state, deliveries=(*state.deliveries[:i], ended, *state.deliveries[i + 1 :])
            )
    return state


def fold(state: TeamCosts, event: Event) -> TeamCosts:
    """Return the state after one more event of the goal; never mutates ``state``."""
    if state.goal_id and event.goal_id != state.goal_id:
        return state
    state = replace(
        state,
        goal_id=event.goal_id,
        last_at=event.occurred_at,
        costs=costs_projection.fold(state.costs, event),
    )
    task = event.task_id or ""
    if isinstance(event, GoalSubmitted):
        b = event.data.budget
        return replace(state, submitted_at=event.occurred_at, budget=b, submitted_budget=b)
    if isinstance(event, ContextUpdated) and event.data.key == _BUDGET_KEY:
        try:
            decision = msgspec.convert(event.data.value, _Decision)
        except msgspec.ValidationError:
            return state
        said = (decision.answered_by, decision.answer)
        return replace(state, budget=decision.budget, raises=(*state.raises, said))
    if isinstance(event, TaskPlanned):
        return replace(
            state,
            roles=passoc(state.roles, task, event.data.role),
            depends_on=passoc(state.depends_on, task, tuple(event.data.depends_on)),
        )
    if isinstance(event, TaskStarted):
        state = _end(state, task, event.occurred_at)  # a delivery taken over ends here
        run = Delivery(task, event.data.worker, event.occurred_at)
        return replace(state, deliveries=(*state.deliveries, run))
    if isinstance(event, TaskResult | TaskFailed | TaskCancelled):
        return _end(state, task, event.occurred_at)
    return state


@dataclass(frozen=True, slots=True)
class Efficiency:
    """How well the crew used its workers.

    Attributes:
        wall_seconds: From the submission to the last event folded.
        work_seconds: Time tasks ran, summed over finished deliveries.
        workers: Workers that ran tasks.
        slots: Task slots: per worker, the most tasks it ran at once, summed.
        critical_path: The longest chain of dependent tasks, first to last.
        critical_seconds: Its run time.
        by_role: Per role: (workers, task slots, tasks, work seconds).
    """

    wall_seconds: float
    work_seconds: float
    workers: int
    slots: int
    critical_path: tuple[str, ...]
    critical_seconds: float
    by_role: Mapping[str, tuple[int, int, int, float]]

    @property
    def efficiency(self) -> float:
        """Work time over wall time times task slots (0 with no work)."""
        capacity = self.wall_seconds * self.slots
        return self.work_seconds / capacity if capacity > 0 else 0.0

    @property
    def parallelism(self) -> float:
        """Work time over the critical path: the most tasks worth running at once."""
        return self.work_seconds / self.critical_seconds if self.critical_seconds > 0 else 0.0


def _peak(runs: list[Delivery]) -> int:
    """The most of these deliveries that ran at the same time."""
    edges = sorted(
        [(d.started_at, 1) for d in runs] + [(d.ended_at, -1) for d in runs if d.ended_at],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def _critical(state: TeamCosts, seconds: Mapping[str, float]) -> tuple[tuple[str, ...], float]:
    """The chain of dependent tasks with the most run time (tasks that ran only)."""
    best: dict[str, tuple[float, tuple[str, ...]]] = {}

    def longest(task: str, seen: frozenset[str]) -> tuple[float, tuple[str, ...]]:
        if task in best:
            return best[task]
        before = [
            longest(d, seen | {task})
            for d in state.depends_on.get(task, ())
            if d in seconds and d not in seen
        ]
        head = max(before, default=(0.0, ()))
        best[task] = (head[0] + seconds[task], (*head[1], task))
        return best[task]

    found = [longest(task, frozenset()) for task in seconds]
    total, path = max(found, default=(0.0, ()))
    return path, total


def efficiency(state: TeamCosts) -> Efficiency:
    """The crew's use of its workers (see the module docstring)."""
    done = [d for d in state.deliveries if d.ended_at is not None]
    wall = 0.0
    if state.submitted_at is not None and state.last_at is not None:
        wall = max(0.0, (state.last_at - state.submitted_at).total_seconds())
    per_worker: dict[str, list[Delivery]] = {}
    for d in state.deliveries:
        per_worker.setdefault(d.worker, []).append(d)
    peaks = {w: _peak(runs) for w, runs in per_worker.items()}
    seconds: dict[str, float] = {}
    for d in done:
        seconds[d.task_id] = seconds.get(d.task_id, 0.0) + d.seconds
    path, critical = _critical(state, seconds)
    by_role: dict[str, tuple[int, int, int, float]] = {}
    for role in sorted({state.roles.get(d.task_id, "?") for d in state.deliveries}):
        runs = [d for d in state.deliveries if state.roles.get(d.task_id, "?") == role]
        workers = {d.worker for d in runs}
        # Slots per role: a worker's peak over its tasks of this role.
        slots = sum(_peak([d for d in runs if d.worker == w]) for w in workers)
        tasks = len({d.task_id for d in runs})
        by_role[role] = (len(workers), slots, tasks, sum(d.seconds for d in runs))
    return Efficiency(
        wall_seconds=wall,
        work_seconds=sum(d.seconds for d in done),
        workers=len(per_worker),
        slots=sum(peaks.values()),
        critical_path=path,
        critical_seconds=critical,
        by_role=by_role,
    )


def advice(e: Efficiency) -> list[str]:
    """What the figures say about adding workers (empty when nothing ran)."""
    if e.work_seconds <= 0 or e.wall_seconds <= 0:
        return []
    share = e.critical_seconds / e.wall_seconds
    chain = " → ".join(e.critical_path)
    if share >= _BUSY:
        return [
            f"The critical path ({chain}) ran {e.critical_seconds:.1f} s of the "
            f"{e.wall_seconds:.1f} s wall time ({share:.0%}): more workers would not make "
            "this review faster; shorter tasks on that path would (a smaller --lines-per-task; "
            "--split perspective for a small codebase)."
        ]
    if e.efficiency < _IDLE:
        enough = max(1, round(e.work_seconds / e.wall_seconds + 0.5))
        return [
            f"The workers were idle {1 - e.efficiency:.0%} of the time: more workers would "
            f"not help; about {enough} task slot{'s' if enough > 1 else ''} would have done "
            f"as well as the {e.slots} there were."
        ]
    if e.slots >= e.parallelism:
        return [
            f"The work allows about {e.parallelism:.1f} tasks at once (work time over the "
            f"critical path) and there were {e.slots} task slots: more workers would not help."
        ]
    return [
        f"The workers were busy {e.efficiency:.0%} of the time and the work allows about "
        f"{e.parallelism:.1f} tasks at once, over the {e.slots} task slots there were: more "
        "workers (--workers) could make it faster."
    ]


def _tokens(n: int) -> str:
    return f"{n:,}"


def _say(what: str, value: float) -> str:
    return f"{_tokens(int(value))} tokens" if "tokens" in what else f"{value:.4f} USD"


def _budget_lines(state: TeamCosts, spent: Spend) -> list[str]:
    now, first = state.budget, state.submitted_budget or Budget()
    if now is None:
        return []
    out = []
    limits = [
        ("tokens", now.max_tokens, first.max_tokens, f"{_tokens(spent.tokens)} tokens"),
        ("cost", now.max_cost_usd, first.max_cost_usd, f"{spent.cost_usd:.4f} USD"),
        ("tokens per agent", now.max_tokens_per_agent, first.max_tokens_per_agent, ""),
        ("cost per agent", now.max_cost_usd_per_agent, first.max_cost_usd_per_agent, ""),
    ]
    for what, limit, then, used in limits:
        if limit is None:
            continue
        was = f" (submitted with {_say(what, then)})" if then is not None and then != limit else ""
        line = f"- Budget, {what}: {_say(what, limit)}{was}"
        out.append(line + (f"; {used} spent." if used else "."))
    for who, answer in state.raises:
        out.append(f"- {who or 'someone'} answered a budget question: {answer!r}.")
    return out


def render(state: TeamCosts) -> list[str]:
    """The report's section on costs and parallel efficiency, as Markdown lines."""
    out = ["", "## Costs and parallel efficiency", ""]
    goal = state.goal_id
    mine = [(a, m, s) for (g, a, m), s in state.costs.by_agent_model.items() if g == goal]
    rows = sorted(mine, key=lambda r: (-r[2].tokens, r[0], r[1]))
    spent = state.costs.by_goal.get(goal, Spend())
    if not rows:
        out.append("No model was called: the analysts ran their tools only.")
    else:
        out += [
            "| agent | model | calls | tokens in | tokens out | cost (USD) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for agent, model, s in rows:
            out.append(
                f"| {agent} | {model} | {s.calls} | {_tokens(s.input_tokens)} | "
                f"{_tokens(s.output_tokens)} | {s.cost_usd:.4f} |"
            )
        out.append(
            f"| **all** | | {spent.calls} | {_tokens(spent.input_tokens)} | "
            f"{_tokens(spent.output_tokens)} | {spent.cost_usd:.4f} |"
        )
    budget = _budget_lines(state, spent)
    if budget:
        out += ["", *budget]
    e = efficiency(state)
    out += [
        "",
        f"Parallel efficiency: **{e.efficiency:.0%}** — {e.work_seconds:.1f} s of work over "
        f"{e.wall_seconds:.1f} s of wall time times {e.slots} task slots ({e.workers} workers; a "
        "worker that ran two tasks at once counts twice). The critical path: "
        + (" → ".join(e.critical_path) or "none")
        + f" ({e.critical_seconds:.1f} s).",
    ]
    if e.by_role:
        out += ["", "| role | workers | task slots | tasks | work (s) |"]
        out.append("| --- | ---: | ---: | ---: | ---: |")
        for role, (workers, slots, tasks, work) in e.by_role.items():
            out.append(f"| {role} | {workers} | {slots} | {tasks} | {work:.1f} |")
    tips = advice(e)
    if tips:
        out += ["", *tips]
    return out
