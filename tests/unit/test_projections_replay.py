"""The registry and ``replay``: stored events, positions, ``until_seq``, resuming."""

from __future__ import annotations

from datetime import UTC, datetime

from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskPlanned,
    TaskPlannedData,
    TaskResult,
    TaskResultData,
)
from callsheet.events.store import StoredEvent
from callsheet.projections import PROJECTIONS, Projection, replay
from callsheet.projections import board as board_projection
from tests.unit.test_projections_support import Script


def _script() -> Script:
    s = Script()
    s.add(GoalSubmitted, GoalSubmittedData(title="Ship it"))
    s.add(TaskPlanned, TaskPlannedData(title="Build", role="dev"), task="b")
    s.add(TaskResult, TaskResultData(worker="w1", output=1), task="b")
    return s


def test_replay_of_stored_events_stops_after_until_seq() -> None:
    s = _script()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    stored = [
        StoredEvent(seq=seq, subject="x", stored_at=at, event=e)  # type: ignore[arg-type]
        for seq, e in zip((10, 20, 30), s.events, strict=True)
    ]
    boards = PROJECTIONS["board"]
    assert replay(boards, stored, until_seq=9) == boards.initial()
    assert replay(boards, stored, until_seq=25).goals["g1"].tasks["b"].status == "planned"
    assert replay(boards, stored).goals["g1"].tasks["b"].status == "done"


def test_replay_of_bare_events_counts_positions_and_may_resume() -> None:
    s = _script()
    boards = PROJECTIONS["board"]
    two = replay(boards, s.events, until_seq=2)
    assert two == replay(boards, s.events[:2])
    assert replay(boards, s.events[2:], state=two) == replay(boards, s.events)


def test_a_one_goal_projection_can_be_registered_too() -> None:
    one_goal = Projection(
        "one-goal-board", board_projection.VERSION, board_projection.initial, board_projection.fold
    )
    board = replay(one_goal, _script().events)
    assert (board.title, board.events, board.tasks["b"].status) == ("Ship it", 3, "done")
