"""The supervisor's decisions, as pure functions of the board: what is ready, what on failure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callsheet.events.catalog import TaskFailedData
from callsheet.projections.board import Board, TaskCard

__all__ = [
    "Escalate",
    "FailurePolicy",
    "Reassign",
    "Retry",
    "all_done",
    "decide",
    "dependency_met",
    "ready",
    "schedule",
    "waiting",
]


def ready(board: Board, replaced: Mapping[str, Sequence[str]] | None = None) -> list[TaskCard]:
    """Planned tasks whose dependencies are all done, most urgent first (plan order on ties).

    Args:
        board: The goal's board.
        replaced: Tasks a replan replaced, with the tasks that replace them: a
            dependency on a replaced task is met when its replacements are done (at
            once when it was dropped with no replacement).
    """
    order = {task_id: i for i, task_id in enumerate(board.tasks)}
    swaps = replaced or {}
    found = [
        card
        for card in board.tasks.values()
        if card.status == "planned"
        and all(dependency_met(board, d, swaps) for d in card.depends_on)
    ]
    return sorted(found, key=lambda c: (c.priority, order[c.task_id]))


def waiting(boards: Iterable[Board]) -> Counter[str]:
    """Tasks assigned but not started yet, per role: what waits in each role's queue."""
    return Counter(c.role for b in boards for c in b.tasks.values() if c.status == "assigned")


def schedule(
    candidates: Sequence[tuple[str, TaskCard]],
    queued: Mapping[str, int],
    max_queued: int | None,
) -> list[tuple[str, TaskCard]]:
    """Which ready tasks to assign now, most urgent first.

    A role's queue delivers in order, so priority is decided here: at most
    ``max_queued`` tasks of a role wait for a worker at a time, and when one is
    taken the most urgent ready task (of any goal) goes next.

    Args:
        candidates: Ready ``(goal, task)`` pairs in arrival order (goals in the
            order they were accepted, tasks in plan order): the tie-break.
        queued: Tasks of each role waiting already.
        max_queued: Most tasks of a role waiting at once; None for no limit.
    """
    rank = sorted(range(len(candidates)), key=lambda i: (candidates[i][1].priority, i))
    counts = Counter(queued)
    chosen = []
    for i in rank:
        goal, card = candidates[i]
        if max_queued is not None and counts[card.role] >= max_queued:
            continue
        counts[card.role] += 1
        chosen.append((goal, card))
    return chosen


def dependency_met(board: Board, task_id: str, replaced: Mapping[str, Sequence[str]]) -> bool:
    """Whether a dependency on ``task_id`` is met: done, or replaced by tasks all done (or none)."""
    card = board.tasks.get(task_id)
    if card is not None and card.status == "done":
        return True
    # Replaced: met when the replacements are; removed with none (dropped): no longer waited for.
    swaps = replaced.get(task_id)
    return swaps is not None and all(dependency_met(board, s, replaced) for s in swaps)


def all_done(board: Board) -> bool:
    """Whether the goal has tasks and every one is done (or cancelled)."""
    finished = ("done", "cancelled")
    return bool(board.tasks) and all(c.status in finished for c in board.tasks.values())


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """How a supervisor reacts to failed tasks.

    Attributes:
        attempts_per_role: Assignments of a task to one role before moving on.
        backoff_seconds: Delay before the first retry; doubled for each next one.
        max_backoff_seconds: Cap on the delay.
        fallback_roles: Role to hand a task to once its role gave up, by role.
        decompose: Whether a task that nothing else could save is planned anew,
            as other tasks (once; a replacement is not decomposed again).
    """

    attempts_per_role: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    fallback_roles: Mapping[str, str] = field(default_factory=dict)
    decompose: bool = True


@dataclass(frozen=True, slots=True)
class Retry:
    """Assign the task again to the same role, not before ``not_before``."""

    attempt: int
    not_before: datetime


@dataclass(frozen=True, slots=True)
class Reassign:
    """Hand the task to another role."""

    attempt: int
    to_role: str


@dataclass(frozen=True, slots=True)
class Escalate:
    """Nothing more to try here: the goal cannot be finished as planned."""

    reason: str


def decide(
    card: TaskCard,
    failure: TaskFailedData,
    policy: FailurePolicy,
    *,
    now: datetime,
    attempts_on_role: int,
    tried_roles: frozenset[str],
) -> Retry | Reassign | Escalate:
    """Decide what to do with a failed task.

    Args:
        card: The task's card (its role is the role that failed).
        failure: The failure.
        policy: The supervisor's policy.
        now: The failure's time (so that a re-drive decides the same).
        attempts_on_role: Assignments of this task to its current role so far.
        tried_roles: Roles the task was assigned to so far.
    """
    attempt = card.attempts + 1
    if failure.retryable and attempts_on_role < policy.attempts_per_role:
        delay = min(
            policy.backoff_seconds * 2 ** max(0, attempts_on_role - 1), policy.max_backoff_seconds
        )
        return Retry(attempt, now + timedelta(seconds=delay))
    fallback = policy.fallback_roles.get(card.role)
    if fallback is not None and fallback not in tried_roles:
        return Reassign(attempt, fallback)
    why = "not retryable" if not failure.retryable else f"{attempts_on_role} attempts failed"
    return Escalate(f"task {card.task_id} ({card.role}): {why}: {failure.reason}")
