"""The task board: every task's state, role, worker, attempts and progress.

A pure fold with no I/O: ``fold(board, event) -> board``. The same fold serves a
live view, a full replay, or a replay up to any position.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from callsheet.events.catalog import (
    GoalCompleted,
    GoalSubmitted,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskFailed,
    TaskPlanned,
    TaskProgress,
    TaskReassigned,
    TaskResult,
    TaskStarted,
)
from callsheet.events.envelope import Event

__all__ = ["Board", "TaskCard", "TaskStatus", "fold"]

TaskStatus = Literal["planned", "assigned", "running", "blocked", "done", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class TaskCard:
    """One task on the board."""

    task_id: str
    title: str = ""
    role: str = ""
    status: TaskStatus = "planned"
    worker: str | None = None
    attempts: int = 0
    percent: float = 0.0
    last_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Board:
    """A goal's board: its title, outcome and task cards."""

    goal_id: str = ""
    title: str = ""
    outcome: str | None = None
    tasks: dict[str, TaskCard] = field(default_factory=dict)
    events: int = 0


def _card(board: Board, task_id: str) -> TaskCard:
    return board.tasks.get(task_id) or TaskCard(task_id=task_id)


def fold(board: Board, event: Event) -> Board:
    """Return the board after ``event``; never mutates ``board``."""
    board = replace(board, events=board.events + 1)
    if isinstance(event, GoalSubmitted):
        return replace(board, goal_id=event.goal_id, title=event.data.title)
    if isinstance(event, GoalCompleted):
        return replace(board, outcome=event.data.outcome)
    task_id = event.task_id
    if task_id is None:
        return board
    card = _card(board, task_id)
    if isinstance(event, TaskPlanned):
        card = replace(card, title=event.data.title, role=event.data.role)
    elif isinstance(event, TaskAssigned):
        card = replace(card, status="assigned", role=event.data.role, attempts=event.data.attempt)
    elif isinstance(event, TaskStarted):
        card = replace(card, status="running", worker=event.data.worker)
    elif isinstance(event, TaskProgress):
        card = replace(card, status="running", percent=event.data.percent)
    elif isinstance(event, TaskBlocked):
        card = replace(card, status="blocked")
    elif isinstance(event, TaskResult):
        card = replace(card, status="done", percent=100.0)
    elif isinstance(event, TaskFailed):
        card = replace(card, status="failed")
    elif isinstance(event, TaskCancelled):
        card = replace(card, status="cancelled")
    elif isinstance(event, TaskReassigned):
        card = replace(card, status="assigned", role=event.data.to_role, worker=None)
    else:
        return board
    card = replace(card, last_event_id=event.id)
    return replace(board, tasks={**board.tasks, task_id: card})
