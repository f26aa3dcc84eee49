"""``diff_states``: a structural diff of dataclass, mapping and sequence states."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callsheet.projections import board
from callsheet.replay import ABSENT, Change, diff_states, state_to_json, to_jsonable


@dataclass(frozen=True)
class Card:
    status: str = "planned"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class State:
    title: str = ""
    cards: dict[str, Card] = field(default_factory=dict)
    by_pair: dict[tuple[str, str], int] = field(default_factory=dict)


def test_equal_states_have_no_changes() -> None:
    state = State("x", {"a": Card()})
    assert diff_states(state, state) == []
    assert diff_states(state, State("x", {"a": Card()})) == []


def test_nested_field_change_has_dotted_path() -> None:
    old = State("x", {"a": Card(), "b": Card()})
    new = State("x", {"a": Card(status="running"), "b": Card()})
    assert diff_states(old, new) == [Change("cards.a.status", "planned", "running")]


def test_added_and_removed_keys() -> None:
    old = State(cards={"a": Card()})
    new = State(cards={"b": Card()})
    assert diff_states(old, new) == [
        Change("cards.a", Card(), ABSENT),
        Change("cards.b", ABSENT, Card()),
    ]


def test_tuple_items_and_tuple_keys() -> None:
    old = State(cards={"a": Card(tags=("x",))}, by_pair={("g", "t"): 1})
    new = State(cards={"a": Card(tags=("y", "z"))}, by_pair={("g", "t"): 2})
    assert diff_states(old, new) == [
        Change("cards.a.tags[0]", "x", "y"),
        Change("cards.a.tags[1]", ABSENT, "z"),
        Change("by_pair.g/t", 1, 2),
    ]


def test_leaf_type_change_and_top_level_values() -> None:
    assert diff_states(1, 1.0) == [Change("", 1, 1.0)]
    assert diff_states(None, State()) == [Change("", None, State())]
    assert diff_states([1, 2], [1]) == [Change("[1]", 2, ABSENT)]


def test_diff_of_board_projection() -> None:
    card = board.TaskCard(task_id="t", status="assigned")
    old = board.Board(goal_id="g", tasks={"t": card}, events=3)
    new = board.Board(
        goal_id="g", tasks={"t": board.TaskCard(task_id="t", status="running")}, events=4
    )
    assert diff_states(old, new) == [
        Change("tasks.t.status", "assigned", "running"),
        Change("events", 3, 4),
    ]


def test_states_encode_as_json() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    state: Any = State("x", {"a": Card(tags=("t",))}, {("g", "t"): 1})
    assert to_jsonable(state) == {
        "title": "x",
        "cards": {"a": {"status": "planned", "tags": ["t"]}},
        "by_pair": {"g/t": 1},
    }
    card = board.TaskCard(task_id="t", last_heartbeat_at=at, checkpoints=("c1",))
    encoded = state_to_json(board.Board(goal_id="g", tasks={"t": card}))
    assert b'"last_heartbeat_at":"2026-01-01T00:00:00Z"' in encoded
    assert state_to_json(frozenset({"b", "a"})) == b'["a","b"]'
