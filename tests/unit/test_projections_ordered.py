"""Large boards: cards in an ``OrderedPMap`` (O(log n) per event), the same value as a dict."""

from __future__ import annotations

import contextlib
import inspect
import pickle
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings

from callsheet.events.catalog import (
    PlannedTask,
    PlanProposed,
    PlanProposedData,
    Replanned,
    ReplannedData,
    TaskAssigned,
    TaskAssignedData,
    TaskPlanned,
    TaskPlannedData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.projections import PROJECTIONS
from callsheet.projections import board as board_module
from callsheet.projections._common import GoalMap
from callsheet.projections._ordered import OrderedPMap
from callsheet.projections.board import Board, fold
from callsheet.projections.snapshots import decode_state, encode_state, state_type
from tests.unit import test_projections_board as board_tests
from tests.unit.test_projections_support import Script, histories


@contextlib.contextmanager
def small_board(size: int) -> Iterator[None]:
    """Make boards switch to the persistent map past ``size`` cards (0: at once)."""
    before = board_module.SMALL_BOARD
    board_module.SMALL_BOARD = size
    try:
        yield
    finally:
        board_module.SMALL_BOARD = before


def _fold(events: list[Event]) -> Board:
    board = board_module.initial()
    for event in events:
        board = fold(board, event)
    return board


def test_an_ordered_map_keeps_insertion_order_and_never_changes() -> None:
    empty: OrderedPMap[str, int] = OrderedPMap()
    one = empty.set("b", 1)
    two = one.set("a", 2)
    again = two.set("b", 3)  # an existing key keeps its place
    more = again.update([("c", 4), ("a", 5)])
    assert list(more) == ["b", "a", "c"]
    assert dict(more) == {"b": 3, "a": 5, "c": 4}
    assert more == {"a": 5, "b": 3, "c": 4}
    assert {"a": 5, "b": 3, "c": 4} == more  # noqa: SIM300  # the dict on the left, on purpose
    assert more != {"a": 5, "b": 3}
    assert more == OrderedPMap({"c": 4, "b": 3, "a": 5})  # equal by content, as a dict is
    assert (len(empty), dict(one), dict(two)) == (0, {"b": 1}, {"b": 1, "a": 2})
    assert "c" in more and "z" not in more
    assert more.get("z") is None and more.get("z", 0) == 0 and more["c"] == 4
    assert OrderedPMap.of(more) is more
    assert pickle.loads(pickle.dumps(more)) == more
    assert list(pickle.loads(pickle.dumps(more))) == ["b", "a", "c"]
    with pytest.raises(KeyError):
        more["z"]
    with pytest.raises(TypeError):
        hash(more)


def _large_goal(tasks: int) -> Script:
    s = Script()
    planned = [PlannedTask(task_id=f"t{i:03d}", title=f"T{i}", role="r") for i in range(tasks)]
    s.add(PlanProposed, PlanProposedData(plan_version=1, tasks=planned[: tasks // 2]))
    for p in planned[tasks // 2 :]:
        s.add(TaskPlanned, TaskPlannedData(title=p.title, role="r"), task=p.task_id)
    for p in reversed(planned):
        s.add(TaskAssigned, TaskAssignedData(role="r"), task=p.task_id)
        s.add(TaskStarted, TaskStartedData(worker="w1"), task=p.task_id, producer="w1")
        s.add(TaskResult, TaskResultData(worker="w1", output=None), task=p.task_id)
    s.add(
        Replanned,
        ReplannedData(
            plan_version=2,
            trigger="scope_changed",
            reason="more",
            added=[PlannedTask(task_id="extra", title="Extra", role="r")],
            removed=["t001"],
        ),
    )
    return s


def test_a_large_board_is_the_same_value_in_order_and_keeps_its_past_states() -> None:
    s = _large_goal(300)
    with small_board(10**9):  # plain dicts all the way: the reference
        expected = _fold(s.events)
    states = []
    board = board_module.initial()
    for event in s.events:
        board = fold(board, event)
        states.append(board)
    assert isinstance(board.tasks, OrderedPMap)
    assert board == expected
    assert list(board.tasks) == list(expected.tasks)
    assert list(board.tasks) == [f"t{i:03d}" for i in range(300)] + ["extra"]
    assert board.tasks["t001"].status == "cancelled"
    assert {c.status for t, c in board.tasks.items() if t not in ("t001", "extra")} == {"done"}
    # Folding on never changed an earlier state (the map is persistent).
    with small_board(10**9):
        assert states[151] == _fold(s.events[:152])
    assert states[151].tasks["t299"].status == "assigned"


def test_a_snapshot_of_a_large_board_decodes_equal_and_in_order() -> None:
    s = _large_goal(200)
    state: GoalMap[Board] = PROJECTIONS["board"].initial()
    for event in s.events:
        state = PROJECTIONS["board"].fold(state, event)
    codec, data = encode_state(state)
    decoded = decode_state(data, state_type(PROJECTIONS["board"]), codec)
    assert decoded == state
    assert list(decoded.goals["g1"].tasks) == list(state.goals["g1"].tasks)
    # The decoded board (plain dicts) folds on to the same value as the live one.
    extra = Script(start=s.now)
    extra.add(TaskStarted, TaskStartedData(worker="w2", attempt=2), task="t005", producer="w2")
    live, restored = state, decoded
    for event in extra.events:
        live = PROJECTIONS["board"].fold(live, event)
        restored = PROJECTIONS["board"].fold(restored, event)
    assert restored == live
    assert list(restored.goals["g1"].tasks) == list(live.goals["g1"].tasks)


_BOARD_TESTS = [
    f
    for name, f in sorted(vars(board_tests).items())
    if name.startswith("test_") and callable(f) and not inspect.signature(f).parameters
]


@pytest.mark.parametrize("case", _BOARD_TESTS, ids=lambda f: f.__name__)
def test_the_board_tests_hold_with_persistent_cards_from_the_first(
    case: Callable[[], None],
) -> None:
    with small_board(0):
        case()


@settings(max_examples=40, deadline=None)
@given(history=histories())
def test_persistent_cards_fold_to_the_same_boards_as_dicts(history: list[Event]) -> None:
    projection = PROJECTIONS["board"]
    with small_board(0):
        persistent = projection.initial()
        for event in history:
            persistent = projection.fold(persistent, event)
    with small_board(10**9):
        plain = projection.initial()
        for event in history:
            plain = projection.fold(plain, event)
    assert persistent == plain
    for goal, board in plain.goals.items():
        assert list(persistent.goals[goal].tasks) == list(board.tasks)
