"""The supervisor's index of a goal: ready tasks per role, waiting dependents, queue counts.

Kept up to date task by task (the tasks an event touched), so that deciding what
to assign next costs the same at 10 tasks and at 10,000: no scan of the board.
It only ever reads the board's cards, so it agrees with ``policy.ready``,
``policy.waiting`` and ``policy.all_done`` on the same board (a unit test checks it).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

from callsheet.crew.policy import dependency_met
from callsheet.projections.board import Board

__all__ = ["GoalIndex"]

_FINISHED = ("done", "cancelled")


class GoalIndex:
    """The index of one goal's own tasks (those its supervisor planned).

    Build it from the board with ``build``, then call ``refresh`` with the tasks
    each event touched. A replan (tasks replaced) makes a new one: ``build`` again.
    """

    def __init__(self) -> None:
        self.order: dict[str, int] = {}
        """Each own task's place on the board (the tie-break after priority)."""
        self.seen: dict[str, tuple[str, str]] = {}
        """Each own task's last (status, role)."""
        self.ready: dict[str, list[tuple[int, int, str]]] = {}
        """Per role, (priority, order, task) of planned tasks whose dependencies are met."""
        self.keys: dict[str, tuple[int, int, str]] = {}
        """Each ready task's entry in ``ready``."""
        self.dependents: dict[str, set[str]] = {}
        """Per task, the own tasks that wait for it."""
        self.queued: Counter[str] = Counter()
        """Per role, own tasks assigned and not started (waiting in the role's queue)."""
        self.open = 0
        """Own tasks neither done nor cancelled."""

    @classmethod
    def build(
        cls, board: Board, own: Collection[str], replaced: Mapping[str, Sequence[str]] | None
    ) -> GoalIndex:
        """The index of ``board``'s tasks that are in ``own``."""
        index = cls()
        index.refresh(board, [t for t in board.tasks if t in own], replaced)
        return index

    def refresh(
        self, board: Board, touched: Iterable[str], replaced: Mapping[str, Sequence[str]] | None
    ) -> None:
        """Take in the new state of the ``touched`` own tasks (in board order for new ones)."""
        swaps = replaced or {}
        pending = list(touched)
        while pending:
            task = pending.pop(0)
            if self._refresh(board, task, swaps):
                pending.extend(sorted(self.dependents.get(task, ()), key=self.order.__getitem__))

    def _refresh(self, board: Board, task: str, swaps: Mapping[str, Sequence[str]]) -> bool:
        """Update one task; True if it became done, or no longer is (see to its dependents)."""
        card = board.tasks.get(task)
        if card is None:
            return False
        if task not in self.order:
            self.order[task] = len(self.order)
            for dep in card.depends_on:
                self.dependents.setdefault(dep, set()).add(task)
        status, role = self.seen.get(task, ("", ""))
        self._unready(task, role)
        if status == "assigned":
            self.queued[role] -= 1
        if status != "" and status not in _FINISHED:
            self.open -= 1
        self.seen[task] = (card.status, card.role)
        if card.status == "assigned":
            self.queued[card.role] += 1
        if card.status not in _FINISHED:
            self.open += 1
        if card.status == "planned" and all(
            dependency_met(board, d, swaps) for d in card.depends_on
        ):
            key = self.keys[task] = (card.priority, self.order[task], task)
            bisect.insort(self.ready.setdefault(card.role, []), key)
        return (card.status == "done") != (status == "done")

    def _unready(self, task: str, role: str) -> None:
        key = self.keys.pop(task, None)
        if key is None:
            return
        entries = self.ready[role]
        del entries[bisect.bisect_left(entries, key)]

    def ready_tasks(self, role_limit: int | None = None) -> Iterator[str]:
        """Ready tasks, most urgent first (plan order on ties); at most ``role_limit`` per role."""
        lists = [e if role_limit is None else e[:role_limit] for e in self.ready.values()]
        for _, _, task in sorted(entry for entries in lists for entry in entries):
            yield task

    @property
    def all_done(self) -> bool:
        """Whether the goal has own tasks and every one is done (or cancelled)."""
        return bool(self.seen) and self.open == 0
