"""Per-goal progress: task counts, percent complete, the critical path, the outcome.

Progress is a view of the board: ``GoalProgress`` wraps one goal's ``Board``
(folded by the board's own fold, so the two never disagree on a task's status)
and derives the rest from it on demand. The critical path is the longest chain
of unfinished tasks through ``depends_on``, each weighted by the plan's
``estimate_seconds`` when known, else 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callsheet.events.envelope import Event
from callsheet.projections import board as board_projection
from callsheet.projections._common import GoalMap, per_goal, per_goal_bulk
from callsheet.projections.board import TERMINAL, Board, TaskCard, TaskStatus

__all__ = [
    "VERSION",
    "GoalProgress",
    "critical_path",
    "fold",
    "fold_all",
    "initial",
    "initial_all",
    "start_all",
]

VERSION = 1
"""Bumped whenever the fold's output changes, to invalidate snapshots."""

UNKNOWN_ESTIMATE = 1.0
"""Weight of a task without ``estimate_seconds`` on the critical path."""


@dataclass(frozen=True, slots=True)
class GoalProgress:
    """One goal's progress.

    Attributes:
        board: The goal's board, the source of every figure.
    """

    board: Board = field(default_factory=Board)

    @property
    def goal_id(self) -> str:
        """The goal."""
        return self.board.goal_id

    @property
    def outcome(self) -> str | None:
        """How the goal ended, or ``None`` while it runs."""
        return self.board.outcome

    @property
    def counts(self) -> Mapping[TaskStatus, int]:
        """Number of tasks in each status (statuses with no task are absent)."""
        counts: dict[TaskStatus, int] = {}
        for card in self.board.tasks.values():
            counts[card.status] = counts.get(card.status, 0) + 1
        return counts

    def count(self, status: TaskStatus) -> int:
        """Return the number of tasks in ``status``."""
        return self.counts.get(status, 0)

    @property
    def percent_complete(self) -> float:
        """Done tasks over tasks still wanted (cancelled ones left out), 0 to 100."""
        wanted = [c for c in self.board.tasks.values() if c.status != "cancelled"]
        if not wanted:
            return 0.0
        return 100.0 * sum(c.status == "done" for c in wanted) / len(wanted)

    @property
    def critical_path(self) -> tuple[str, ...]:
        """Task ids of the longest unfinished chain, first to do first."""
        return critical_path(self.board.tasks)[0]

    @property
    def critical_path_seconds(self) -> float:
        """Length of the critical path (estimates, else 1 per task)."""
        return critical_path(self.board.tasks)[1]


def critical_path(tasks: Mapping[str, TaskCard]) -> tuple[tuple[str, ...], float]:
    """Return the longest chain of unfinished tasks through ``depends_on``, and its length.

    Finished (done, failed, cancelled) and unknown tasks are left out. A
    dependency cycle is cut where it closes, so the answer is always finite.

    Args:
        tasks: Cards by task id.

    Returns:
        The chain's task ids, dependencies first, and the sum of their weights.
    """
    open_tasks = {t: c for t, c in tasks.items() if c.status not in TERMINAL}
    best: dict[str, tuple[tuple[str, ...], float]] = {}
    visiting: set[str] = set()

    def longest(task_id: str) -> tuple[tuple[str, ...], float]:
        if task_id in best:
            return best[task_id]
        visiting.add(task_id)
        card = open_tasks[task_id]
        head: tuple[tuple[str, ...], float] = ((), 0.0)
        for dep in card.depends_on:
            if dep in open_tasks and dep not in visiting:
                candidate = longest(dep)
                if candidate[1] > head[1]:
                    head = candidate
        visiting.discard(task_id)
        weight = UNKNOWN_ESTIMATE if card.estimate_seconds is None else card.estimate_seconds
        best[task_id] = ((*head[0], task_id), head[1] + weight)
        return best[task_id]

    result: tuple[tuple[str, ...], float] = ((), 0.0)
    for task_id in open_tasks:
        candidate = longest(task_id)
        if not result[0] or candidate[1] > result[1]:
            result = candidate
    return result


def initial() -> GoalProgress:
    """Return the progress of a goal with no events."""
    return GoalProgress()


def fold(progress: GoalProgress, event: Event) -> GoalProgress:
    """Return the progress after ``event``; never mutates ``progress``."""
    board = board_projection.fold(progress.board, event)
    return progress if board is progress.board else GoalProgress(board=board)


def initial_all() -> GoalMap[GoalProgress]:
    """Return the progress of no goal."""
    return GoalMap()


fold_all = per_goal(initial, fold)
"""Fold an event into the progress of its goal."""


start_all = per_goal_bulk(initial, fold)
"""Start a bulk fold of many events into every goal (``Projection.start``)."""
