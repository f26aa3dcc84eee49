"""Properties every projection has: replay up to N is the live state at N; folds are pure."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings

from callsheet.events.envelope import Event
from callsheet.events.store import StoredEvent
from callsheet.projections import PROJECTIONS, Projection, replay
from callsheet.projections import board as board_projection
from callsheet.projections import liveness as liveness_projection
from tests.unit.test_projections_support import T0, histories

NAMES = sorted(PROJECTIONS)


def _stored(history: list[Event]) -> list[StoredEvent]:
    # Sequences with gaps, as in a stream shared with other goals.
    return [
        StoredEvent(seq=3 * i + 7, subject="s", stored_at=e.occurred_at, event=e)  # type: ignore[arg-type]
        for i, e in enumerate(history)
    ]


def _live(projection: Projection[Any], history: list[Event]) -> list[Any]:
    """The state observed after each event of a live fold (index 0: before any)."""
    state = projection.initial()
    seen = [state]
    for event in history:
        state = projection.fold(state, event)
        seen.append(state)
    return seen


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(history=histories())
def test_replay_up_to_n_equals_the_live_state_at_n(name: str, history: list[Event]) -> None:
    projection = PROJECTIONS[name]
    live = _live(projection, history)
    stored = _stored(history)
    for n in range(len(history) + 1):
        assert replay(projection, history[:n]) == live[n]
        assert replay(projection, history, until_seq=n) == live[n]
        until = stored[n - 1].seq if n else 0
        assert replay(projection, stored, until_seq=until) == live[n]
        # Resuming from a saved state is the same as replaying from the start.
        assert replay(projection, history[n:], state=live[n]) == live[-1]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(history=histories())
def test_fold_never_mutates_its_input(name: str, history: list[Event]) -> None:
    projection = PROJECTIONS[name]
    state = projection.initial()
    for event in history:
        before = copy.deepcopy(state)
        first = projection.fold(state, event)
        second = projection.fold(state, event)
        assert first == second
        assert state == before
        state = first


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(history=histories())
def test_a_bulk_fold_fed_in_pieces_gives_the_live_states(name: str, history: list[Event]) -> None:
    projection = PROJECTIONS[name]
    live = _live(projection, history)
    start = live[len(history) // 3]
    before = copy.deepcopy(start)
    bulk = projection.start(start)
    taken = []
    for n in range(len(history) // 3, len(history), 2):
        bulk.feed(history[n : n + 2])
        taken.append((bulk.result(), live[min(n + 2, len(history))]))
    # Results handed out are values: later feeds change none of them, nor the start.
    for got, want in taken:
        assert got == want
    assert start == before


@settings(max_examples=40, deadline=None)
@given(history=histories())
def test_one_goal_board_is_that_goal_of_the_all_goals_board(history: list[Event]) -> None:
    boards = replay(PROJECTIONS["board"], history)
    for goal_id, board in boards.goals.items():
        only = [e for e in history if e.goal_id == goal_id]
        alone = board_projection.initial()
        for event in only:
            alone = board_projection.fold(alone, event)
        assert alone == board


@settings(max_examples=40, deadline=None)
@given(history=histories())
def test_derived_figures_are_sane(history: list[Event]) -> None:
    for progress in replay(PROJECTIONS["progress"], history).goals.values():
        assert 0.0 <= progress.percent_complete <= 100.0
        path = progress.critical_path
        assert len(path) == len(set(path))
        assert all(progress.board.tasks[t].status not in board_projection.TERMINAL for t in path)
        assert sum(progress.counts.values()) == len(progress.board.tasks)
    costs = replay(PROJECTIONS["costs"], history)
    assert costs.total.input_tokens >= 0
    assert costs.total.tokens == sum(s.tokens for s in costs.by_goal.values())
    assert costs.total.calls == sum(s.calls for s in costs.by_agent.values())
    live = replay(PROJECTIONS["liveness"], history)
    held = {k for a in live.agents.values() for k in a.tasks_held}
    assert held == set(live.leases)
    later = liveness_projection.missed_leases(live, T0 + timedelta(days=3650))
    assert len(later) >= len(live.missed)


def test_every_projection_is_registered_with_a_version() -> None:
    assert set(PROJECTIONS) == {
        "board",
        "progress",
        "conflicts",
        "costs",
        "liveness",
        "context",
        "findings",
        "fixes",
        "questions",
    }
    for name, projection in PROJECTIONS.items():
        assert projection.name == name
        assert projection.version >= 1
