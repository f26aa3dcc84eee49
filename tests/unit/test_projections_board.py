"""The board and progress projections on hand-written goals."""

from __future__ import annotations

from datetime import timedelta

from callsheet.events.catalog import (
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    PlannedTask,
    PlanProposed,
    PlanProposedData,
    Replanned,
    ReplannedData,
    ReviewCompleted,
    ReviewCompletedData,
    ReviewRequested,
    ReviewRequestedData,
    TaskAssigned,
    TaskAssignedData,
    TaskBlocked,
    TaskBlockedData,
    TaskCheckpoint,
    TaskCheckpointData,
    TaskFailed,
    TaskFailedData,
    TaskHeartbeat,
    TaskHeartbeatData,
    TaskPlanned,
    TaskPlannedData,
    TaskProgress,
    TaskProgressData,
    TaskReassigned,
    TaskReassignedData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.projections import PROJECTIONS, replay
from callsheet.projections import board as board_projection
from callsheet.projections import progress as progress_projection
from callsheet.projections.board import Board, TaskCard, fold
from tests.unit.test_projections_support import T0, Script


def _plan(s: Script) -> None:
    s.add(GoalSubmitted, GoalSubmittedData(title="Build auth"), producer="user")
    s.add(
        PlanProposed,
        PlanProposedData(
            plan_version=1,
            tasks=[
                PlannedTask(task_id="schema", title="Schema", role="db", estimate_seconds=600),
                PlannedTask(
                    task_id="api", title="API", role="backend", depends_on=["schema"], priority=1
                ),
                PlannedTask(task_id="ui", title="UI", role="frontend", depends_on=["api"]),
                PlannedTask(task_id="docs", title="Docs", role="writer", estimate_seconds=5),
            ],
        ),
    )


def _board(s: Script) -> Board:
    board = board_projection.initial()
    for event in s.events:
        board = fold(board, event)
    return board


def test_a_plan_puts_every_task_on_the_board_as_planned() -> None:
    s = Script()
    _plan(s)
    board = _board(s)
    assert board.goal_id == "g1"
    assert board.title == "Build auth"
    assert board.plan_version == 1
    assert list(board.tasks) == ["schema", "api", "ui", "docs"]
    api = board.tasks["api"]
    assert api == TaskCard(
        task_id="api",
        title="API",
        role="backend",
        depends_on=("schema",),
        priority=1,
        last_event_id=s.events[1].id,
    )
    assert board.events == 2


def test_a_task_through_failure_reassignment_and_review() -> None:
    s = Script()
    _plan(s)
    s.add(TaskPlanned, TaskPlannedData(title="Schema v1", role="db"), task="schema")
    s.add(TaskAssigned, TaskAssignedData(role="db", lease_seconds=30), task="schema")
    started = s.add(TaskStarted, TaskStartedData(worker="w1"), task="schema", producer="w1")
    board = _board(s)
    card = board.tasks["schema"]
    assert (card.status, card.worker, card.attempts) == ("running", "w1", 1)
    assert card.lease_expires_at == started.occurred_at + timedelta(seconds=30)

    beat = s.add(TaskHeartbeat, TaskHeartbeatData(worker="w1"), task="schema", after=20)
    s.add(TaskProgress, TaskProgressData(worker="w1", percent=40), task="schema")
    s.add(
        TaskCheckpoint,
        TaskCheckpointData(checkpoint_id="cp1", worker="w1", state={"tables": 2}),
        task="schema",
    )
    s.add(TaskBlocked, TaskBlockedData(worker="w1", reason="no DB access"), task="schema")
    card = _board(s).tasks["schema"]
    assert card.status == "blocked"
    assert card.reason == "no DB access"
    assert card.percent == 40
    assert card.checkpoints == ("cp1",)
    assert card.last_checkpoint_id == "cp1"
    assert card.last_heartbeat_at == s.now
    assert card.last_heartbeat_at > beat.occurred_at

    s.add(TaskFailed, TaskFailedData(reason="lease lost", worker="w1"), task="schema", after=90)
    card = _board(s).tasks["schema"]
    assert (card.status, card.lease_expires_at) == ("failed", None)

    s.add(
        TaskReassigned,
        TaskReassignedData(
            from_role="db", to_role="dba", reason="w1 silent", attempt=2, from_worker="w1"
        ),
        task="schema",
    )
    card = _board(s).tasks["schema"]
    assert (card.status, card.role, card.worker, card.attempts) == ("assigned", "dba", None, 2)
    s.add(TaskStarted, TaskStartedData(worker="w2", attempt=2), task="schema", producer="w2")
    s.add(TaskResult, TaskResultData(worker="w2", output={"ok": True}), task="schema")
    s.add(ReviewRequested, ReviewRequestedData(review_id="r1", reviewer_role="qa"), task="schema")
    assert _board(s).tasks["schema"].status == "in_review"
    s.add(
        ReviewCompleted,
        ReviewCompletedData(review_id="r1", reviewer="qa-1", verdict="changes_requested"),
        task="schema",
    )
    assert _board(s).tasks["schema"].status == "running"
    s.add(
        ReviewCompleted,
        ReviewCompletedData(review_id="r1", reviewer="qa-1", verdict="approved"),
        task="schema",
    )
    card = _board(s).tasks["schema"]
    assert (card.status, card.percent, card.worker, card.title) == (
        "done",
        100.0,
        "w2",
        "Schema v1",
    )
    assert card.last_event_id == s.events[-1].id


def test_a_heartbeat_may_set_the_lease_end_itself() -> None:
    s = Script()
    s.add(TaskAssigned, TaskAssignedData(role="db", lease_seconds=10), task="t")
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="t")
    until = T0 + timedelta(hours=1)
    s.add(TaskHeartbeat, TaskHeartbeatData(worker="w1", lease_until=until), task="t")
    assert _board(s).tasks["t"].lease_expires_at == until


def test_a_lease_too_long_for_the_calendar_never_expires() -> None:
    s = Script()
    s.add(TaskAssigned, TaskAssignedData(role="db", lease_seconds=1e300), task="t")
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="t")
    card = _board(s).tasks["t"]
    assert (card.status, card.lease_expires_at) == ("running", None)


def test_a_replan_adds_tasks_and_cancels_removed_ones() -> None:
    s = Script()
    _plan(s)
    s.add(
        Replanned,
        ReplannedData(
            plan_version=2,
            trigger="complexity",
            reason="docs later",
            added=[PlannedTask(task_id="tests", title="Tests", role="qa")],
            removed=["docs"],
        ),
    )
    board = _board(s)
    assert board.plan_version == 2
    assert board.tasks["tests"].status == "planned"
    assert board.tasks["docs"].status == "cancelled"
    assert "docs later" in board.tasks["docs"].reason


def test_a_board_ignores_other_goals_and_the_all_goals_board_keeps_both() -> None:
    s = Script()
    _plan(s)
    s.add(TaskResult, TaskResultData(worker="w9", output=None), task="schema", goal="g2")
    s.add(GoalCompleted, GoalCompletedData(outcome="partial"))
    board = _board(s)
    assert board.tasks["schema"].status == "planned"
    assert board.outcome == "partial"
    assert board.events == 3
    boards = replay(PROJECTIONS["board"], s.events)
    assert set(boards.goals) == {"g1", "g2"}
    assert boards.goals["g1"] == board
    assert boards.goals["g2"].tasks["schema"].status == "done"


def test_progress_counts_percent_and_critical_path() -> None:
    s = Script()
    _plan(s)
    for task_id in ("schema", "api", "ui", "docs"):
        s.add(TaskAssigned, TaskAssignedData(role="r"), task=task_id)
    progress = replay(PROJECTIONS["progress"], s.events).goals["g1"]
    # schema (600 s) -> api (1) -> ui (1) beats docs (5 s) alone.
    assert progress.critical_path == ("schema", "api", "ui")
    assert progress.critical_path_seconds == 602.0
    assert progress.count("assigned") == 4
    assert progress.percent_complete == 0.0

    s.add(TaskResult, TaskResultData(worker="w1", output=None), task="schema")
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="api")
    s.add(TaskBlocked, TaskBlockedData(worker="w2", reason="wait"), task="ui")
    s.add(ReviewRequested, ReviewRequestedData(review_id="r", reviewer_role="qa"), task="docs")
    progress = replay(PROJECTIONS["progress"], s.events).goals["g1"]
    assert dict(progress.counts) == {"done": 1, "running": 1, "blocked": 1, "in_review": 1}
    assert progress.percent_complete == 25.0
    # Docs, still in review, weighs 5 s: more than api -> ui at 1 s each.
    assert progress.critical_path == ("docs",)
    assert progress.critical_path_seconds == 5.0
    assert progress.outcome is None

    s.add(TaskFailed, TaskFailedData(reason="x"), task="docs")
    s.add(GoalCompleted, GoalCompletedData(outcome="failed"))
    progress = replay(PROJECTIONS["progress"], s.events).goals["g1"]
    assert progress.count("failed") == 1
    assert progress.critical_path == ("api", "ui")
    assert progress.critical_path_seconds == 2.0
    assert progress.outcome == "failed"
    assert progress.goal_id == "g1"


def test_a_dependency_cycle_still_has_a_finite_critical_path() -> None:
    s = Script()
    s.add(
        PlanProposed,
        PlanProposedData(
            plan_version=1,
            tasks=[
                PlannedTask(task_id="a", title="A", role="r", depends_on=["b"]),
                PlannedTask(task_id="b", title="B", role="r", depends_on=["a"]),
            ],
        ),
    )
    progress = replay(PROJECTIONS["progress"], s.events).goals["g1"]
    assert sorted(progress.critical_path) == ["a", "b"]
    assert progress.critical_path_seconds == 2.0


def test_progress_of_an_empty_goal() -> None:
    progress = progress_projection.initial()
    assert progress.percent_complete == 0.0
    assert progress.critical_path == ()
    assert progress.counts == {}
