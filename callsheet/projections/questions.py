"""Questions: every ``task.question`` of the log, with its answer, and which are still open.

A question is keyed by ``(goal_id, question_id)`` (ids are chosen by whoever
asks, so two goals may reuse one). The first ``task.answered`` naming it answers
it; a later one is kept as a stray answer (a second person answering a
question already answered: the first answer stands). A question still open
when its goal ends is closed with the goal: nobody will act on its answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from callsheet.events.catalog import (
    GoalCancelled,
    GoalCompleted,
    GoalRejected,
    TaskAnswered,
    TaskQuestion,
)
from callsheet.events.envelope import Event
from callsheet.projections._common import passoc

__all__ = [
    "VERSION",
    "Answer",
    "AskedQuestion",
    "QuestionKey",
    "Questions",
    "asked_in_order",
    "find",
    "fold",
    "initial",
    "open_questions",
]

VERSION = 1
"""Bumped whenever the fold's output changes, to invalidate snapshots."""

QuestionKey = tuple[str, str]
"""A question, as ``(goal_id, question_id)``."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A ``task.answered`` event.

    Attributes:
        answer: The answer's text.
        answered_by: Agent or person who answered (``human:alice``).
        answered_at: When.
        event_id: The event.
    """

    answer: str
    answered_by: str
    answered_at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """A ``task.question`` and what became of it.

    Attributes:
        goal_id: The goal.
        question_id: Its id (what ``task.answered`` names).
        task_id: The task it is about.
        asked_by: Who asked (the task's worker, or the supervisor).
        question: The text.
        addressed_to: ``agent`` or ``human``.
        kind: ``clarification``, or ``budget`` (answered in the budget grammar).
        asked_at: When.
        event_id: The ``task.question`` event.
        answer: The first answer, once there is one.
        closed_by: The event that ended the goal while the question was open.
    """

    goal_id: str
    question_id: str
    task_id: str | None
    asked_by: str
    question: str
    addressed_to: Literal["agent", "human"]
    kind: Literal["clarification", "budget"]
    asked_at: datetime
    event_id: str
    answer: Answer | None = None
    closed_by: str | None = None

    @property
    def status(self) -> Literal["open", "answered", "closed"]:
        """``open`` (waiting for an answer), ``answered``, or ``closed`` with its goal."""
        if self.answer is not None:
            return "answered"
        return "closed" if self.closed_by is not None else "open"


@dataclass(frozen=True, slots=True)
class Questions:
    """Every question asked so far.

    Attributes:
        asked: Questions by ``(goal_id, question_id)`` (``asked_in_order`` sorts them).
        stray: Answers that named no question, or one answered already, in log order.
    """

    asked: Mapping[QuestionKey, AskedQuestion] = field(default_factory=dict)
    stray: tuple[tuple[str, str, Answer], ...] = ()


def initial() -> Questions:
    """Return the state with no question asked."""
    return Questions()


def fold(state: Questions, event: Event) -> Questions:
    """Return the questions after ``event``; never mutates ``state``."""
    if isinstance(event, TaskQuestion):
        d = event.data
        key = (event.goal_id, d.question_id)
        if key in state.asked:
            return state  # the id was used already: the first question stands
        question = AskedQuestion(
            goal_id=event.goal_id,
            question_id=d.question_id,
            task_id=event.task_id,
            asked_by=d.worker,
            question=d.question,
            addressed_to=d.addressed_to,
            kind=d.kind,
            asked_at=event.occurred_at,
            event_id=event.id,
        )
        return replace(state, asked=passoc(state.asked, key, question))
    if isinstance(event, TaskAnswered):
        a = event.data
        answer = Answer(a.answer, a.answered_by, event.occurred_at, event.id)
        key = (event.goal_id, a.question_id)
        found = state.asked.get(key)
        if found is None or found.answer is not None:
            return replace(state, stray=(*state.stray, (event.goal_id, a.question_id, answer)))
        return replace(state, asked=passoc(state.asked, key, replace(found, answer=answer)))
    if isinstance(event, GoalCompleted | GoalCancelled | GoalRejected):
        closed = state.asked
        for key, q in state.asked.items():
            if q.goal_id == event.goal_id and q.status == "open":
                closed = passoc(closed, key, replace(q, closed_by=event.id))
        return state if closed is state.asked else replace(state, asked=closed)
    return state


def open_questions(
    state: Questions,
    goal_id: str | None = None,
    addressed_to: Literal["agent", "human"] | None = None,
) -> list[AskedQuestion]:
    """Questions waiting for an answer, oldest first.

    Args:
        state: The questions.
        goal_id: Only this goal's; every goal's by default.
        addressed_to: Only those meant for an agent, or for a human; all by default.
    """
    found = [
        q
        for q in state.asked.values()
        if q.status == "open"
        and (goal_id is None or q.goal_id == goal_id)
        and (addressed_to is None or q.addressed_to == addressed_to)
    ]
    return sorted(found, key=_asked_order)


def _asked_order(q: AskedQuestion) -> tuple[datetime, str]:
    return q.asked_at, q.event_id


def asked_in_order(state: Questions) -> list[AskedQuestion]:
    """Every question, oldest first (the map itself keeps no order)."""
    return sorted(state.asked.values(), key=_asked_order)


def find(state: Questions, question_id: str, goal_id: str | None = None) -> list[AskedQuestion]:
    """The questions with this id (of one goal, or of every goal that used it)."""
    found: Iterable[AskedQuestion] = asked_in_order(state)
    return [q for q in found if q.question_id == question_id and goal_id in (None, q.goal_id)]
