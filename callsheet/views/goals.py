"""What a person watching the crew wants at a glance: per goal, its state folded from the log.

``GoalsView`` folds every event into the registry's projections that the
panels need (board, costs, liveness, conflicts, ...) and into a small fold of its
own (``Headline``: title, budget, open questions, events per goal), and keeps
each goal's events for the tree and the log. ``summary`` turns that into one
goal's ``GoalSummary``: the count line ("3 of 5 done, 1 blocked, 1 in review"),
the tasks, open conflicts and questions, budget used against budget, the agents
seen and the leases missed. The terminal board and the web dashboard both show
it, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from callsheet.events.catalog import (
    Budget,
    ContextUpdated,
    GoalSubmitted,
    TaskAnswered,
    TaskQuestion,
)
from callsheet.events.envelope import Event
from callsheet.events.store import StoredEvent
from callsheet.projections import PROJECTIONS
from callsheet.projections.board import Board, TaskCard
from callsheet.projections.conflicts import Conflict, Conflicts, open_conflicts
from callsheet.projections.costs import Costs, Spend
from callsheet.projections.liveness import Liveness, MissedLease, missed_leases

__all__ = [
    "AgentRow",
    "GoalSummary",
    "GoalsView",
    "Headline",
    "Question",
    "count_line",
    "summary",
]

_ORDER = ("done", "running", "assigned", "planned", "blocked", "in_review", "failed", "cancelled")
_SAY = {"in_review": "in review"}


@dataclass(frozen=True, slots=True)
class Question:
    """A worker's question no one has answered yet.

    Attributes:
        question_id: The question's id.
        task_id: The task it is about.
        worker: Who asked.
        question: The question.
        asked_at: When.
    """

    question_id: str
    task_id: str | None
    worker: str
    question: str
    asked_at: datetime


@dataclass(slots=True)
class Headline:
    """One goal's facts that no projection holds (mutable: folded in place).

    Attributes:
        title: The goal's title, from its submission.
        submitted_at: When it was submitted.
        max_cost_usd: The goal's money budget, if any (as raised by answers).
        max_tokens: The goal's token budget, if any (as raised by answers).
        questions: Open questions by id, in the order asked.
        events: Events of the goal seen.
        last_at: When the goal's last event happened.
    """

    title: str = ""
    submitted_at: datetime | None = None
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    questions: dict[str, Question] = field(default_factory=dict)
    events: int = 0
    last_at: datetime | None = None

    def fold(self, event: Event) -> None:
        """Take one more event of the goal into account."""
        self.events += 1
        self.last_at = event.occurred_at
        if isinstance(event, GoalSubmitted):
            self.title = event.data.title
            self.submitted_at = event.occurred_at
            budget = event.data.budget
            if budget is not None:
                self.max_cost_usd, self.max_tokens = budget.max_cost_usd, budget.max_tokens
        elif isinstance(event, TaskQuestion):
            data = event.data
            self.questions[data.question_id] = Question(
                data.question_id, event.task_id, data.worker, data.question, event.occurred_at
            )
        elif isinstance(event, TaskAnswered):
            self.questions.pop(event.data.question_id, None)
        elif isinstance(event, ContextUpdated) and event.data.key == "budget":
            # The supervisor's budget decision (crew.asking): the budget as raised.
            value = event.data.value
            if event.data.kind == "decision" and isinstance(value, dict):
                try:
                    budget = msgspec.convert(value.get("budget"), Budget)
                except msgspec.ValidationError:
                    return
                self.max_cost_usd, self.max_tokens = budget.max_cost_usd, budget.max_tokens


@dataclass(frozen=True, slots=True)
class AgentRow:
    """An agent that worked on the goal.

    Attributes:
        agent: Its id.
        last_seen_at: When its last event happened (in any goal).
        alive: Seen within ``alive_seconds`` of now.
        tasks_held: Tasks of this goal it holds a lease on.
        missed: Leases of this goal it let run out.
    """

    agent: str
    last_seen_at: datetime | None
    alive: bool
    tasks_held: tuple[str, ...]
    missed: int


@dataclass(frozen=True, slots=True)
class GoalSummary:
    """One goal, as the board shows it.

    Attributes:
        goal_id: The goal.
        title: Its title.
        outcome: How it ended, or ``None`` while it runs.
        line: The count line, e.g. ``3 of 5 done, 1 blocked, 1 in review``.
        tasks: The tasks, in plan order.
        conflicts: Conflicts still open.
        questions: Questions waiting for an answer.
        spent: Money and tokens spent on the goal.
        max_cost_usd: Its money budget, if any.
        max_tokens: Its token budget, if any.
        by_agent: Spend per agent, on this goal.
        by_model: Spend per model, on this goal.
        agents: Agents that worked on it.
        missed: Leases that ran out, recorded or by the clock.
        events: Events of the goal.
        last_at: Time of its last event.
    """

    goal_id: str
    title: str
    outcome: str | None
    line: str
    tasks: tuple[TaskCard, ...]
    conflicts: tuple[Conflict, ...]
    questions: tuple[Question, ...]
    spent: Spend
    max_cost_usd: float | None
    max_tokens: int | None
    by_agent: Mapping[str, Spend]
    by_model: Mapping[str, Spend]
    agents: tuple[AgentRow, ...]
    missed: tuple[MissedLease, ...]
    events: int
    last_at: datetime | None


def count_line(board: Board) -> str:
    """``3 of 5 done, 1 blocked, 1 in review``: done over all, then every other status; pure."""
    counts: dict[str, int] = {}
    for card in board.tasks.values():
        counts[card.status] = counts.get(card.status, 0) + 1
    total = sum(counts.values())
    if not total:
        return "no tasks yet"
    parts = [f"{counts.get('done', 0)} of {total} done"]
    parts += [f"{counts[s]} {_SAY.get(s, s)}" for s in _ORDER[1:] if counts.get(s)]
    return ", ".join(parts)


class GoalsView:
    """Every goal's state, folded event by event from the log (catch-up, then live).

    Args:
        projections: Registry names of the projections to keep (those the panels
            need); ``board``, ``costs``, ``liveness`` and ``conflicts`` always.
        keep_events: Keep each goal's events (for the causal tree and the log).
    """

    BASE = ("board", "costs", "liveness", "conflicts")

    def __init__(self, projections: Iterable[str] = (), *, keep_events: bool = True) -> None:
        names = list(dict.fromkeys([*self.BASE, *projections]))
        unknown = [n for n in names if n not in PROJECTIONS]
        if unknown:
            raise KeyError(f"no projection named {', '.join(unknown)}")
        self.states: dict[str, Any] = {n: PROJECTIONS[n].initial() for n in names}
        self.headlines: dict[str, Headline] = {}
        self.events: dict[str, list[StoredEvent]] = {}
        self.index: dict[str, StoredEvent] = {}
        self.keep_events = keep_events
        self.seq = 0
        self.seen: dict[str, datetime] = {}
        """When each producer's last event happened (any goal)."""

    def fold(self, stored: StoredEvent) -> str:
        """Take one more event (in log order); returns its goal."""
        event = stored.event
        for name, state in self.states.items():
            self.states[name] = PROJECTIONS[name].fold(state, event)
        goal = event.goal_id
        headline = self.headlines.get(goal)
        if headline is None:
            headline = self.headlines[goal] = Headline()
        headline.fold(event)
        last = self.seen.get(event.producer)
        if last is None or event.occurred_at > last:
            self.seen[event.producer] = event.occurred_at
        if self.keep_events:
            self.events.setdefault(goal, []).append(stored)
            self.index.setdefault(event.id, stored)
        self.seq = max(self.seq, stored.seq)
        return goal

    def goals(self) -> list[str]:
        """Goals seen, most recent activity first."""
        far = datetime.min
        return sorted(
            self.headlines,
            key=lambda g: (self.headlines[g].last_at or far).replace(tzinfo=None),
            reverse=True,
        )

    def board(self, goal_id: str) -> Board:
        """The goal's board."""
        found = self.states["board"].goals.get(goal_id)
        return found if isinstance(found, Board) else Board(goal_id=goal_id)


def _spend_of(costs: Costs, goal_id: str) -> tuple[dict[str, Spend], dict[str, Spend]]:
    by_agent: dict[str, Spend] = {}
    by_model: dict[str, Spend] = {}
    for charge in costs.calls.values():
        if charge.goal_id != goal_id:
            continue
        by_agent[charge.agent] = by_agent.get(charge.agent, Spend()).plus(charge.spend)
        by_model[charge.model] = by_model.get(charge.model, Spend()).plus(charge.spend)
    return by_agent, by_model


def summary(
    view: GoalsView, goal_id: str, now: datetime, *, alive_seconds: float = 60.0
) -> GoalSummary:
    """One goal's summary as of ``now`` (an aware time, for leases and liveness).

    Raises:
        KeyError: The view has seen no event of ``goal_id``.
    """
    headline = view.headlines[goal_id]
    board = view.board(goal_id)
    costs: Costs = view.states["costs"]
    liveness: Liveness = view.states["liveness"]
    conflicts: Conflicts = view.states["conflicts"]
    by_agent, by_model = _spend_of(costs, goal_id)
    missed = tuple(m for m in missed_leases(liveness, now) if m.goal_id == goal_id)
    workers = {c.worker for c in board.tasks.values() if c.worker}
    workers |= set(by_agent)
    rows = []
    for name in sorted(workers):
        seen = liveness.agents.get(name)
        last = view.seen.get(name)
        held = tuple(t for g, t in (seen.tasks_held if seen else ()) if g == goal_id)
        rows.append(
            AgentRow(
                agent=name,
                last_seen_at=last,
                alive=last is not None and (now - last).total_seconds() <= alive_seconds,
                tasks_held=held,
                missed=sum(1 for m in missed if m.worker == name),
            )
        )
    return GoalSummary(
        goal_id=goal_id,
        title=headline.title or board.title,
        outcome=board.outcome,
        line=count_line(board),
        tasks=tuple(board.tasks.values()),
        conflicts=tuple(open_conflicts(conflicts, goal_id)),
        questions=tuple(headline.questions.values()),
        spent=costs.by_goal.get(goal_id, Spend()),
        max_cost_usd=headline.max_cost_usd,
        max_tokens=headline.max_tokens,
        by_agent=by_agent,
        by_model=by_model,
        agents=tuple(rows),
        missed=missed,
        events=headline.events,
        last_at=headline.last_at,
    )
