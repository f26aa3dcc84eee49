"""The task board: every task's status, owner, attempts, lease, checkpoints and progress.

A pure fold with no I/O: ``fold(board, event) -> board``. The same fold serves a
live view, a full replay, or a replay up to any position.

A ``Board`` is one goal's board: it takes the goal of the first event it sees and
ignores events of other goals, so a caller can fold a whole log into one goal's
board. ``fold_all`` keeps one board per goal (``GoalMap[Board]``); that is the
registry's ``board`` projection, because task ids are only unique within a goal.

Leases: a task is leased to a worker from ``task.started``; each started,
heartbeat, progress, checkpoint, blocked or question event of the worker renews
it until ``occurred_at + lease_seconds`` (the assignment's ``lease_seconds``), or
until the heartbeat's ``lease_until`` when given. Results, failures,
cancellations and new assignments end it.

Statuses follow the log as it is, with no guard against odd orders (a result
after a cancellation makes the task done): the board shows what was said. A
review request on a task puts it ``in_review``; the verdict makes it ``done``
(approved), ``running`` again (changes requested) or ``failed`` (rejected).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from callsheet.events.catalog import (
    GoalCancelled,
    GoalCompleted,
    GoalRejected,
    GoalSubmitted,
    PlannedTask,
    PlanProposed,
    Replanned,
    ReviewCompleted,
    ReviewRequested,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskCheckpoint,
    TaskFailed,
    TaskHeartbeat,
    TaskPlanned,
    TaskProgress,
    TaskQuestion,
    TaskReassigned,
    TaskResult,
    TaskStarted,
)
from callsheet.events.envelope import Event
from callsheet.projections._common import (
    GoalMap,
    evolver,
    expiry,
    per_goal,
    per_goal_bulk,
)
from callsheet.projections._common import evolve as replace
from callsheet.projections._ordered import OrderedPMap

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "TERMINAL",
    "VERSION",
    "Board",
    "TaskCard",
    "TaskStatus",
    "fold",
    "fold_all",
    "initial",
    "initial_all",
    "start_all",
]

VERSION = 3
"""Bumped whenever the fold's output changes, to invalidate snapshots."""

TaskStatus = Literal[
    "planned", "assigned", "running", "blocked", "in_review", "done", "failed", "cancelled"
]

TERMINAL: frozenset[TaskStatus] = frozenset({"done", "failed", "cancelled"})
"""Statuses of finished tasks (a failed task may still be reassigned later)."""

DEFAULT_LEASE_SECONDS = 30.0
"""The catalog's default ``lease_seconds``, for a worker that starts an unassigned task."""


@dataclass(frozen=True, slots=True)
class TaskCard:
    """One task on the board.

    Attributes:
        task_id: The task.
        title: Short name, from the plan.
        role: Role that should do it (the latest assignment's).
        status: Where the task is.
        worker: Worker that last held it, if any.
        attempts: Deliveries so far (the latest assignment's attempt number).
        max_attempts: Deliveries allowed, from the assignment.
        lease_seconds: Lease length, from the assignment.
        last_heartbeat_at: When the worker last showed signs of life.
        lease_expires_at: When the current lease ends; ``None`` when no lease is held.
        checkpoints: Checkpoint ids, oldest first.
        last_checkpoint_id: The checkpoint to resume from.
        percent: How far along, 0 to 100.
        depends_on: Tasks that must finish first.
        priority: 0 is most urgent.
        estimate_seconds: Expected duration, from the plan, if known.
        reason: Why it is blocked, failed or cancelled, if it is.
        last_event_id: The last event that changed the card.
        inputs: Inputs the plan gives the task (its assignment carries them).
        context_keys: Context-store entries the plan says the task needs.
    """

    task_id: str
    title: str = ""
    role: str = ""
    status: TaskStatus = "planned"
    worker: str | None = None
    attempts: int = 0
    max_attempts: int | None = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    last_heartbeat_at: datetime | None = None
    lease_expires_at: datetime | None = None
    checkpoints: tuple[str, ...] = ()
    last_checkpoint_id: str | None = None
    percent: float = 0.0
    depends_on: tuple[str, ...] = ()
    priority: int = 5
    estimate_seconds: float | None = None
    reason: str = ""
    last_event_id: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    context_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Board:
    """A goal's board: its title, outcome and task cards (in order of appearance).

    Attributes:
        goal_id: The goal; empty until the first event.
        title: The goal's title.
        outcome: How it ended (``succeeded``, ``failed``, ``partial``, ``cancelled``,
            ``rejected``), or ``None`` while it runs.
        plan_version: Latest plan version seen, 0 before any plan.
        tasks: Cards by task id.
        events: Events of this goal folded so far.
    """

    goal_id: str = ""
    title: str = ""
    outcome: str | None = None
    plan_version: int = 0
    tasks: Mapping[str, TaskCard] = field(default_factory=dict)
    events: int = 0


_GOAL_TYPES: frozenset[type[Event]] = frozenset(
    {GoalSubmitted, GoalCompleted, GoalCancelled, GoalRejected, PlanProposed, Replanned}
)
"""Types ``_goal_event`` handles (checked first, by a set lookup: this fold is hot)."""

_copy_card = evolver(TaskCard)
_copy_board = evolver(Board)
# Copiers for the hottest paths: positional, always the same fields.
_beat_card = evolver(
    TaskCard, changing=("worker", "last_heartbeat_at", "lease_expires_at", "last_event_id")
)
_progress_card = evolver(
    TaskCard,
    changing=(
        "status",
        "percent",
        "reason",
        "worker",
        "last_heartbeat_at",
        "lease_expires_at",
        "last_event_id",
    ),
)
_task_board = evolver(Board, changing=("goal_id", "events", "tasks"))


def initial() -> Board:
    """Return the empty board."""
    return Board()


SMALL_BOARD = 64
"""Up to this many cards a board's ``tasks`` is a ``dict`` copied on write (cheapest
when small); beyond it, an ``OrderedPMap``: one card set in O(log n), not an O(n)
copy per event. Either way a ``Mapping`` in order of appearance, equal by content."""


def _put(tasks: Mapping[str, TaskCard], cards: list[TaskCard]) -> Mapping[str, TaskCard]:
    """``tasks`` with ``cards`` set (new ones last); ``tasks`` itself is untouched."""
    if type(tasks) is dict and len(tasks) + len(cards) <= SMALL_BOARD:
        return {**tasks, **{c.task_id: c for c in cards}}
    return OrderedPMap.of(tasks).update((c.task_id, c) for c in cards)


def _card(board: Board, task_id: str) -> TaskCard:
    return board.tasks.get(task_id) or TaskCard(task_id=task_id)


def _from_plan(board: Board, planned: list[PlannedTask], event_id: str) -> Board:
    cards = [
        replace(
            _card(board, p.task_id),
            title=p.title,
            role=p.role,
            depends_on=tuple(p.depends_on),
            priority=p.priority,
            estimate_seconds=p.estimate_seconds,
            last_event_id=event_id,
            inputs=p.inputs,
            context_keys=tuple(p.context_keys),
        )
        for p in planned
    ]
    return replace(board, tasks=_put(board.tasks, cards))


def _renew(card: TaskCard, event: Event, worker: str) -> dict[str, Any]:
    """The worker showed signs of life: it holds the lease for another term."""
    return {
        "worker": worker,
        "last_heartbeat_at": event.occurred_at,
        "lease_expires_at": expiry(event.occurred_at, card.lease_seconds),
    }


def _goal_event(board: Board, event: Event) -> Board | None:
    """Apply a goal-level event, or return ``None`` if ``event`` is not one."""
    if isinstance(event, GoalSubmitted):
        return replace(board, title=event.data.title)
    if isinstance(event, GoalCompleted):
        return replace(board, outcome=event.data.outcome)
    if isinstance(event, GoalCancelled):
        return replace(board, outcome="cancelled")
    if isinstance(event, GoalRejected):
        return replace(board, outcome="rejected")
    if isinstance(event, PlanProposed):
        board = replace(board, plan_version=max(board.plan_version, event.data.plan_version))
        return _from_plan(board, event.data.tasks, event.id)
    if isinstance(event, Replanned):
        board = replace(board, plan_version=max(board.plan_version, event.data.plan_version))
        board = _from_plan(board, event.data.added, event.id)
        removed = [
            replace(
                _card(board, task_id),
                status="cancelled",
                lease_expires_at=None,
                reason=f"removed by replan: {event.data.reason}",
                last_event_id=event.id,
            )
            for task_id in event.data.removed
        ]
        return replace(board, tasks=_put(board.tasks, removed))
    return None


def _task_event(card: TaskCard, event: Event) -> dict[str, Any] | None:
    """What a task-level event changes on its card (field values), or ``None`` if nothing.

    The caller makes one copy of the card with all the changes at once.
    """
    # The most frequent events first: progress reports and heartbeats.
    if isinstance(event, TaskHeartbeat):
        changes = _renew(card, event, event.data.worker)
        if event.data.lease_until is not None:
            changes["lease_expires_at"] = event.data.lease_until
        return changes
    if isinstance(event, TaskProgress):
        return {
            "status": "running",
            "percent": event.data.percent,
            "reason": "",
            **_renew(card, event, event.data.worker),
        }
    if isinstance(event, TaskPlanned):
        pd = event.data
        return {
            "title": pd.title,
            "role": pd.role,
            "depends_on": tuple(pd.depends_on),
            "priority": pd.priority,
            "inputs": pd.inputs,
            "context_keys": tuple(pd.context_keys),
        }
    if isinstance(event, TaskAssigned):
        ad = event.data
        return {
            "status": "assigned",
            "role": ad.role,
            "attempts": ad.attempt,
            "max_attempts": ad.max_attempts,
            "lease_seconds": ad.lease_seconds,
            "priority": ad.priority,
            "lease_expires_at": None,
            "reason": "",
        }
    if isinstance(event, TaskStarted):
        attempts = max(card.attempts, event.data.attempt)
        return {"status": "running", "attempts": attempts, **_renew(card, event, event.data.worker)}
    if isinstance(event, TaskCheckpoint):
        cd = event.data
        return {
            "checkpoints": (*card.checkpoints, cd.checkpoint_id),
            "last_checkpoint_id": cd.checkpoint_id,
            **_renew(card, event, cd.worker),
        }
    if isinstance(event, TaskBlocked):
        return {
            "status": "blocked",
            "reason": event.data.reason,
            **_renew(card, event, event.data.worker),
        }
    if isinstance(event, TaskQuestion):
        # A sign of life of the task's worker; not when another asks (the supervisor's
        # budget question about a task not started).
        if card.worker != event.data.worker:
            return None
        return _renew(card, event, event.data.worker)
    if isinstance(event, ReviewRequested):
        return {"status": "in_review"}
    if isinstance(event, ReviewCompleted):
        # Approved work is done; changes send it back to the worker; rejected work failed.
        verdict = event.data.verdict
        if verdict == "approved":
            return {"status": "done", "percent": 100.0, "lease_expires_at": None}
        if verdict == "changes_requested":
            return {"status": "running"}
        return {"status": "failed", "reason": event.data.summary, "lease_expires_at": None}
    if isinstance(event, TaskResult):
        return {
            "status": "done",
            "percent": 100.0,
            "worker": event.data.worker,
            "lease_expires_at": None,
        }
    if isinstance(event, TaskFailed):
        return {"status": "failed", "reason": event.data.reason, "lease_expires_at": None}
    if isinstance(event, TaskCancelled):
        return {"status": "cancelled", "reason": event.data.reason, "lease_expires_at": None}
    if isinstance(event, TaskReassigned):
        rd = event.data
        return {
            "status": "assigned",
            "role": rd.to_role,
            "worker": None,
            "attempts": rd.attempt,
            "lease_expires_at": None,
            "reason": rd.reason,
        }
    return None


def fold(board: Board, event: Event) -> Board:
    """Return the board after ``event``; never mutates ``board``.

    Args:
        board: The board so far (``Board()`` to start).
        event: The next event of the log.

    Returns:
        The new board; ``board`` itself when the event belongs to another goal.
    """
    if board.goal_id and event.goal_id != board.goal_id:
        return board
    # Every event of the goal is counted; the count goes with the one copy made.
    goal_id, events = event.goal_id, board.events + 1
    if type(event) in _GOAL_TYPES:
        changed = _goal_event(board, event)
        if changed is not None:
            return _copy_board(changed, goal_id=goal_id, events=events)
    task_id = event.task_id
    if task_id is None:
        return _copy_board(board, goal_id=goal_id, events=events)
    card = board.tasks.get(task_id) or TaskCard(task_id=task_id)
    kind = type(event)
    # The most frequent events, inline (the same changes as ``_task_event``'s).
    if kind is TaskHeartbeat:
        beat = cast(TaskHeartbeat, event).data
        at = event.occurred_at
        until = beat.lease_until
        if until is None:
            until = expiry(at, card.lease_seconds)
        card = _beat_card(card, beat.worker, at, until, event.id)
    elif kind is TaskProgress:
        report = cast(TaskProgress, event).data
        at = event.occurred_at
        until = expiry(at, card.lease_seconds)
        card = _progress_card(
            card, "running", report.percent, "", report.worker, at, until, event.id
        )
    else:
        changes = _task_event(card, event)
        if changes is None:
            return _copy_board(board, goal_id=goal_id, events=events)
        card = _copy_card(card, last_event_id=event.id, **changes)
    tasks = board.tasks
    # ``assoc``, inline (this fold is hot): a copy while small, O(log n) once large.
    if type(tasks) is dict and len(tasks) < SMALL_BOARD:
        new: Mapping[str, TaskCard] = {**tasks, task_id: card}
    elif type(tasks) is OrderedPMap:
        new = tasks.set(task_id, card)
    else:
        new = OrderedPMap(tasks).set(task_id, card)
    return _task_board(board, goal_id, events, new)


def initial_all() -> GoalMap[Board]:
    """Return the empty set of boards."""
    return GoalMap()


fold_all = per_goal(initial, fold)
"""Fold an event into the board of its goal: ``fold_all(boards, event) -> boards``."""


start_all = per_goal_bulk(initial, fold)
"""Start a bulk fold of many events into every goal (``Projection.start``)."""
