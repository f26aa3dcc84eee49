"""Budgets, as pure functions: what the next task would spend, whether it may start, breaches.

The supervisor asks these before it hands out a task and after every recorded
model call; they read only the goal's board and the ``costs`` projection, so a
re-drive decides the same.

**The estimate** of a task is what similar tasks of its goal spent: the tasks of
the same role whose result is in (``done`` or ``in_review``), per line of code
when every one of them and the task itself say how many lines they cover (the
``lines`` input of the review's analyses), else their mean. With none finished,
the most a running task of the role has spent so far (a lower bound), if any
spent something. Otherwise there is no estimate: nothing to go by.

**Admission** (``admit``) goes through the tasks the scheduler picked, in
order, per goal: the goal's projected spending is what it spent, plus what its
open tasks (assigned or running) are still expected to spend (their estimate
less what they spent), plus the estimates of the tasks admitted before in this
round, plus this task's estimate. A task that would take that past a limit of
the goal is held and the goal is *paused*: one question to a human per pause
(``Admission.asks``). The per-agent limits are checked against the agent of the
task's role that spent least on the goal so far (whichever worker takes the
task, none has less room). While a goal is paused only tasks known to spend
nothing (similar tasks spent nothing) start; running tasks go on. A task
with no estimate starts when the goal is not paused; a breach that happens
anyway is caught by ``breach`` after the call, and the supervisor stops the goal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import msgspec

from callsheet.crew.policy import schedule
from callsheet.events.catalog import Budget
from callsheet.projections.board import Board, TaskCard
from callsheet.projections.costs import Costs, Spend

__all__ = [
    "FINISHED",
    "OPEN",
    "Admission",
    "Books",
    "Estimate",
    "Over",
    "admit",
    "agent_spend",
    "breach",
    "dispatchable",
    "estimate",
    "has_limits",
    "rescale",
    "stretch",
]

FINISHED = frozenset({"done", "in_review"})
"""Statuses of tasks whose spending is complete: what estimates are made from."""
OPEN = frozenset({"assigned", "running", "blocked"})
"""Statuses of tasks handed out and not finished: they may still spend."""

Metric = Literal["tokens", "cost"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a task is expected to spend.

    Attributes:
        tokens: Tokens, sent and received.
        cost_usd: Money.
        basis: Where the figure comes from, in words.
    """

    tokens: int
    cost_usd: float
    basis: str

    @property
    def free(self) -> bool:
        """Whether the task is expected to spend nothing."""
        return self.tokens == 0 and self.cost_usd == 0


def _lines(card: TaskCard) -> int | None:
    value = card.inputs.get("lines")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def estimate(board: Board, costs: Costs, card: TaskCard) -> Estimate | None:
    """What ``card`` would spend, from the goal's similar tasks (see the module docstring)."""
    goal = board.goal_id
    similar = [c for c in board.tasks.values() if c.role == card.role and c.task_id != card.task_id]
    done = [c for c in similar if c.status in FINISHED]
    spent = {c.task_id: costs.by_task.get((goal, c.task_id), Spend()) for c in similar}
    if done:
        tokens = sum(spent[c.task_id].tokens for c in done)
        usd = sum(spent[c.task_id].cost_usd for c in done)
        sizes = [_lines(c) for c in (*done, card)]
        plural = "s" if len(done) > 1 else ""
        if all(n is not None for n in sizes):
            lines = sum(n for n in sizes[:-1] if n is not None)
            mine = sizes[-1] or 0
            return Estimate(
                round(tokens * mine / lines),
                usd * mine / lines,
                f"{len(done)} finished {card.role} task{plural}, per line ({mine} lines)",
            )
        return Estimate(
            round(tokens / len(done)),
            usd / len(done),
            f"the mean of {len(done)} finished {card.role} task{plural}",
        )
    running = [c for c in similar if c.status in OPEN and c.worker is not None]
    most = max(
        running, key=lambda c: (spent[c.task_id].tokens, spent[c.task_id].cost_usd), default=None
    )
    top = spent[most.task_id] if most is not None else Spend()
    if most is None or (top.tokens == 0 and top.cost_usd == 0):
        return None  # nothing spent yet says nothing: the first call may be still to come
    return Estimate(
        top.tokens, top.cost_usd, f"what running {card.role} task {most.task_id} spent so far"
    )


def has_limits(budget: Budget | None) -> bool:
    """Whether the budget limits anything."""
    return budget is not None and any(
        v is not None
        for v in (
            budget.max_tokens,
            budget.max_cost_usd,
            budget.max_tokens_per_agent,
            budget.max_cost_usd_per_agent,
        )
    )


@dataclass(frozen=True, slots=True)
class Over:
    """A limit that a task would pass (before it starts) or that was passed (a breach).

    Attributes:
        scope: ``goal`` (the goal's limit) or ``agent`` (the per-agent limit).
        metric: ``tokens`` or ``cost``.
        limit: The limit.
        spent: Spent so far (by the goal, or by the agent).
        reserved: Still expected from the goal's open tasks (0 for a breach).
        expected: The task's estimate (0 for a breach).
        agent: The agent, for the per-agent limit.
        task_id: The task that would pass it (``None`` for a breach).
        basis: Where the estimate comes from.
    """

    scope: Literal["goal", "agent"]
    metric: Metric
    limit: float
    spent: float
    reserved: float = 0.0
    expected: float = 0.0
    agent: str | None = None
    task_id: str | None = None
    basis: str = ""

    @property
    def projected(self) -> float:
        """Spent, reserved and expected together: what is compared with the limit."""
        return self.spent + self.reserved + self.expected

    def describe(self) -> str:
        """One sentence: which limit, and the figures against it."""
        unit = "token" if self.metric == "tokens" else "cost"
        if self.scope == "goal":
            whose = "the goal's"
        else:
            whose = f"agent {self.agent}'s per-agent" if self.agent else "the per-agent"
        parts = [f"{_amount(self.metric, self.spent)} spent"]
        if self.reserved:
            parts.append(f"{_amount(self.metric, self.reserved)} still expected from open tasks")
        if self.task_id is not None:
            parts.append(
                f"about {_amount(self.metric, self.expected)} for {self.task_id} "
                f"(from {self.basis}): {_amount(self.metric, self.projected)} in all"
            )
        return f"{whose} {unit} limit of {_amount(self.metric, self.limit)}: " + ", ".join(parts)


def _amount(metric: Metric, value: float) -> str:
    return f"{round(value):,} tokens" if metric == "tokens" else f"{value:.4f} USD"


def agent_spend(costs: Costs, goal: str) -> dict[str, Spend]:
    """What each agent spent on the goal (over all models)."""
    found: dict[str, Spend] = {}
    for (g, agent, _), spend in costs.by_agent_model.items():
        if g == goal:
            found[agent] = found.get(agent, Spend()).plus(spend)
    return found


def _limits(budget: Budget, scope: Literal["goal", "agent"]) -> list[tuple[Metric, float]]:
    pairs: list[tuple[Metric, float | None]] = (
        [("tokens", budget.max_tokens), ("cost", budget.max_cost_usd)]
        if scope == "goal"
        else [("tokens", budget.max_tokens_per_agent), ("cost", budget.max_cost_usd_per_agent)]
    )
    return [(m, float(v)) for m, v in pairs if v is not None]


def _value(spend: Spend | Estimate, metric: Metric) -> float:
    return float(spend.tokens) if metric == "tokens" else spend.cost_usd


def breach(budget: Budget | None, costs: Costs, goal: str) -> Over | None:
    """The first limit the goal's spending has passed (the goal's, then an agent's), if any."""
    if budget is None:
        return None
    spent = costs.by_goal.get(goal, Spend())
    for metric, limit in _limits(budget, "goal"):
        if _value(spent, metric) > limit:
            return Over("goal", metric, limit, _value(spent, metric))
    per_agent = _limits(budget, "agent")
    for agent, spend in sorted(agent_spend(costs, goal).items()) if per_agent else ():
        for metric, limit in per_agent:
            if _value(spend, metric) > limit:
                return Over("agent", metric, limit, _value(spend, metric), agent=agent)
    return None


@dataclass(frozen=True, slots=True)
class Books:
    """One goal's budget and accounts, for ``admit``.

    Attributes:
        budget: The goal's limits now (raised by answers); ``None``: unlimited.
        board: The goal's board.
        costs: The ``costs`` projection.
        paused: A question about the budget waits for its answer.
        allowed: Tasks a human let go on once, whatever their estimate.
    """

    budget: Budget | None
    board: Board
    costs: Costs
    paused: bool = False
    allowed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``admit`` decided.

    Attributes:
        admitted: Tasks to hand out now, in the order given.
        held: Tasks that wait for the budget (their goal is paused).
        asks: Per goal newly paused, the limit its first held task would pass.
    """

    admitted: list[tuple[str, TaskCard]] = field(default_factory=list)
    held: list[tuple[str, TaskCard]] = field(default_factory=list)
    asks: dict[str, Over] = field(default_factory=dict)


def _reserved(books: Books) -> tuple[float, float]:
    """What the goal's open tasks are still expected to spend (tokens, USD)."""
    tokens = usd = 0.0
    for card in books.board.tasks.values():
        if card.status not in OPEN:
            continue
        guess = estimate(books.board, books.costs, card)
        if guess is None:
            continue
        spent = books.costs.by_task.get((books.board.goal_id, card.task_id), Spend())
        tokens += max(0, guess.tokens - spent.tokens)
        usd += max(0.0, guess.cost_usd - spent.cost_usd)
    return tokens, usd


def _passes(
    books: Books, card: TaskCard, guess: Estimate, reserved: tuple[float, float]
) -> Over | None:
    """The first limit that starting ``card`` would take the goal (or its agent) past."""
    budget = books.budget
    assert budget is not None
    goal = books.board.goal_id
    spent = books.costs.by_goal.get(goal, Spend())
    for metric, limit in _limits(budget, "goal"):
        over = Over(
            "goal",
            metric,
            limit,
            _value(spent, metric),
            reserved[0] if metric == "tokens" else reserved[1],
            _value(guess, metric),
            task_id=card.task_id,
            basis=guess.basis,
        )
        if over.projected > limit:
            return over
    spends = agent_spend(books.costs, goal)
    workers = sorted(
        {c.worker for c in books.board.tasks.values() if c.role == card.role and c.worker}
    )
    for metric, limit in _limits(budget, "agent"):
        # Whichever worker of the role takes it, none has more room than the one that spent least.
        least = min(workers, key=lambda w: _value(spends.get(w, Spend()), metric), default=None)
        over = Over(
            "agent",
            metric,
            limit,
            _value(spends.get(least, Spend()), metric) if least else 0.0,
            0.0,
            _value(guess, metric),
            agent=least,
            task_id=card.task_id,
            basis=guess.basis,
        )
        if over.projected > limit:
            return over
    return None


def admit(candidates: Sequence[tuple[str, TaskCard]], books: Mapping[str, Books]) -> Admission:
    """Which of the tasks picked may start now, which wait, and which goals to pause.

    Args:
        candidates: ``(goal, task)`` pairs, most urgent first (the scheduler's choice).
        books: Each goal's budget and accounts; a goal missing here is unlimited.
    """
    out = Admission()
    reserved: dict[str, tuple[float, float]] = {}
    paused = {goal for goal, b in books.items() if b.paused}
    for goal, card in candidates:
        b = books.get(goal)
        if b is None or not has_limits(b.budget):
            out.admitted.append((goal, card))
            continue
        guess = estimate(b.board, b.costs, card)
        if goal not in reserved:
            reserved[goal] = _reserved(b)
        if card.task_id not in b.allowed:
            if goal in paused:
                if guess is None or not guess.free:
                    out.held.append((goal, card))
                    continue
            elif guess is not None:
                over = _passes(b, card, guess, reserved[goal])
                if over is not None:
                    out.asks[goal] = over
                    paused.add(goal)
                    out.held.append((goal, card))
                    continue
        out.admitted.append((goal, card))
        if guess is not None:
            tokens, usd = reserved[goal]
            reserved[goal] = (tokens + guess.tokens, usd + guess.cost_usd)
    return out


def stretch(books: Books, card: TaskCard) -> Budget | None:
    """The budget raised just enough for ``card`` to start and finish as estimated ("go on").

    Each limit the task would pass is raised to what it would take the goal (or the
    agent) to, so the next task that would pass it asks again. ``None``: no budget.
    """
    budget = books.budget
    guess = estimate(books.board, books.costs, card)
    if budget is None or guess is None:
        return budget
    reserved = _reserved(books)
    for _ in range(4):  # at most one raise per limit
        over = _passes(replace(books, budget=budget), card, guess, reserved)
        if over is None:
            break
        name = ("max_tokens" if over.metric == "tokens" else "max_cost_usd") + (
            "_per_agent" if over.scope == "agent" else ""
        )
        value: int | float = (
            math.ceil(over.projected) if over.metric == "tokens" else over.projected
        )
        budget = msgspec.structs.replace(budget, **{name: value})
    return budget


def dispatchable(
    candidates: Sequence[tuple[str, TaskCard]],
    queued: Mapping[str, int],
    max_queued: int | None,
    books: Mapping[str, Books],
) -> Admission:
    """The scheduler's pick (``policy.schedule``), less the tasks the budget holds.

    A held task gives its place in its role's queue to the next ready task, so
    the scheduler picks again without the held ones until nothing more is held;
    tasks admitted before their goal paused stay admitted.

    Args:
        candidates: Ready ``(goal, task)`` pairs, as ``schedule`` takes them.
        queued: Tasks of each role waiting already.
        max_queued: Most tasks of a role waiting at once; None for no limit.
        books: Each goal's budget and accounts (see ``admit``).
    """
    held: dict[tuple[str, str], tuple[str, TaskCard]] = {}
    asks: dict[str, Over] = {}
    current = dict(books)
    while True:
        pool = [c for c in candidates if (c[0], c[1].task_id) not in held]
        chosen = admit(schedule(pool, queued, max_queued), current)
        fresh = [c for c in chosen.held if (c[0], c[1].task_id) not in held]
        if not fresh:
            return Admission(chosen.admitted, list(held.values()), asks)
        held.update(((goal, card.task_id), (goal, card)) for goal, card in fresh)
        for goal, over in chosen.asks.items():
            asks.setdefault(goal, over)
            # Paused from now on; what it admitted before the pause, in this round, stays.
            before = frozenset(c.task_id for g, c in chosen.admitted if g == goal)
            b = current[goal]
            current[goal] = replace(b, paused=True, allowed=b.allowed | before)


_SHARES: tuple[tuple[str, Metric], ...] = (("model_tokens", "tokens"), ("model_cost_usd", "cost"))
"""Task inputs that are a share of the goal's budget (the review's analyses carry them)."""


def rescale(
    inputs: Mapping[str, object], planned: Budget | None, now: Budget | None
) -> dict[str, object]:
    """A task's inputs with its shares of the budget grown as the budget was raised since the plan.

    A share planned as ``limit / n`` becomes ``raised limit / n``; shares of a
    limit that was not raised are left as they are.
    """
    out = dict(inputs)
    if planned is None or now is None:
        return out
    for name, metric in _SHARES:
        share = out.get(name)
        before = planned.max_tokens if metric == "tokens" else planned.max_cost_usd
        after = now.max_tokens if metric == "tokens" else now.max_cost_usd
        if not isinstance(share, int | float) or not before or after is None or after <= before:
            continue
        grown = share * after / before
        out[name] = int(grown) if metric == "tokens" else grown
    return out
