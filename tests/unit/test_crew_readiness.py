"""The supervisor's goal index agrees with the board's full rules, change after change."""

from __future__ import annotations

import random
from dataclasses import replace

from callsheet.crew.policy import all_done, ready, waiting
from callsheet.crew.readiness import GoalIndex
from callsheet.projections.board import Board, TaskCard, TaskStatus

STATUSES: tuple[TaskStatus, ...] = (
    "planned",
    "assigned",
    "running",
    "done",
    "failed",
    "cancelled",
    "in_review",
)


def _board(n: int, rng: random.Random) -> Board:
    tasks = {}
    for i in range(n):
        deps = tuple(f"t{j}" for j in rng.sample(range(i), min(i, rng.randint(0, 3))))
        tasks[f"t{i}"] = TaskCard(
            task_id=f"t{i}",
            title=f"task {i}",
            role=rng.choice(("a", "b", "c")),
            priority=rng.randint(0, 3),
            depends_on=deps,
        )
    return Board(goal_id="g", tasks=tasks)


def _agrees(index: GoalIndex, board: Board) -> None:
    assert list(index.ready_tasks()) == [c.task_id for c in ready(board)]
    assert +index.queued == waiting([board])
    assert index.all_done == all_done(board)


def test_the_index_follows_every_change_as_the_full_rules_do() -> None:
    rng = random.Random(13)
    for _ in range(20):
        board = _board(40, rng)
        index = GoalIndex.build(board, set(board.tasks), None)
        _agrees(index, board)
        for _ in range(150):
            task = rng.choice(list(board.tasks))
            card = board.tasks[task]
            status = rng.choice(STATUSES)
            changed = replace(card, status=status, role=rng.choice(("a", "b", "c")))
            board = replace(board, tasks={**board.tasks, task: changed})
            index.refresh(board, [task], None)
            _agrees(index, board)


def test_a_task_becomes_ready_when_its_last_dependency_is_done() -> None:
    cards = [
        TaskCard(task_id="a", title="a", role="x"),
        TaskCard(task_id="b", title="b", role="x"),
        TaskCard(task_id="c", title="c", role="y", depends_on=("a", "b")),
    ]
    board = Board(goal_id="g", tasks={c.task_id: c for c in cards})
    index = GoalIndex.build(board, {"a", "b", "c"}, None)
    assert list(index.ready_tasks()) == ["a", "b"]
    for task in ("a", "b"):
        board = replace(
            board, tasks={**board.tasks, task: replace(board.tasks[task], status="done")}
        )
        index.refresh(board, [task], None)
    assert list(index.ready_tasks()) == ["c"]
    assert list(index.ready_tasks(role_limit=0)) == []
    assert not index.all_done


def test_only_own_tasks_are_indexed() -> None:
    board = _board(10, random.Random(1))
    index = GoalIndex.build(board, {"t0"}, None)
    assert set(index.ready_tasks()) <= {"t0"}
