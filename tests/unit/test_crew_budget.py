"""The budget policy: estimates from similar tasks, admission before a task starts, breaches."""

from __future__ import annotations

import pytest

from callsheet.crew.budget import (
    Books,
    Estimate,
    admit,
    agent_spend,
    breach,
    dispatchable,
    estimate,
    rescale,
)
from callsheet.events.catalog import Budget, ModelCalled, ModelCalledData
from callsheet.projections import costs as costs_projection
from callsheet.projections.board import Board, TaskCard
from callsheet.projections.costs import Costs
from tests.unit.test_projections_support import Script

DIGEST = "sha256:" + "0" * 64


def spend(s: Script, task: str | None, tokens: int, *, agent: str = "w1", usd: float = 0.0) -> None:
    s.add(
        ModelCalled,
        ModelCalledData(
            agent=agent,
            provider="offline",
            model="m",
            request_digest=DIGEST,
            response={},
            input_tokens=tokens,
            cost_usd=usd,
        ),
        task=task,
    )


def folded(s: Script) -> Costs:
    state = costs_projection.initial()
    for event in s.events:
        state = costs_projection.fold(state, event)
    return state


def board(*cards: TaskCard) -> Board:
    return Board(goal_id="g1", tasks={c.task_id: c for c in cards})


def card(task: str, role: str = "backend", status: str = "planned", **kw: object) -> TaskCard:
    return TaskCard(task, role=role, status=status, **kw)  # type: ignore[arg-type]


def test_the_costs_projection_keeps_spending_per_task_and_per_agent_and_model() -> None:
    s = Script()
    spend(s, "a", 100, agent="w1")
    spend(s, "a", 50, agent="w1")
    spend(s, None, 7, agent="sup")
    state = folded(s)
    assert state.by_task[("g1", "a")].tokens == 150
    assert state.by_task[("g1", "")].tokens == 7
    assert state.by_agent_model[("g1", "w1", "m")].calls == 2
    assert agent_spend(state, "g1")["sup"].tokens == 7


def test_an_estimate_is_the_mean_of_the_finished_tasks_of_the_same_role() -> None:
    s = Script()
    spend(s, "a", 100)
    spend(s, "b", 300)
    spend(s, "c", 5000)  # another role
    b = board(card("a", status="done"), card("b", status="in_review"), card("c", "ui", "done"))
    guess = estimate(b, folded(s), card("next"))
    assert guess is not None and (guess.tokens, guess.basis) == (
        200,
        "the mean of 2 finished backend tasks",
    )
    # Per line, when every task says how many lines it covers.
    sized = board(
        card("a", status="done", inputs={"lines": 100}),
        card("b", status="done", inputs={"lines": 300}),
    )
    guess = estimate(sized, folded(s), card("next", inputs={"lines": 50}))
    assert guess is not None and guess.tokens == 50  # 400 tokens over 400 lines, times 50


def test_with_nothing_finished_the_most_a_running_task_spent_is_the_estimate() -> None:
    s = Script()
    spend(s, "a", 120)
    spend(s, "b", 40)
    running = board(
        card("a", status="running", worker="w1"), card("b", status="running", worker="w2")
    )
    guess = estimate(running, folded(s), card("next"))
    assert guess is not None and guess.tokens == 120 and "running backend task a" in guess.basis
    # A role none of whose tasks has started: nothing to go by.
    assert estimate(board(card("a", status="assigned")), folded(s), card("next")) is None


def test_a_task_that_would_pass_the_goals_limit_is_held_and_the_goal_paused() -> None:
    s = Script()
    spend(s, None, 100)  # the supervisor planned
    spend(s, "a", 400)
    spend(s, "b", 300)  # b runs: 400 - 300 = 100 more expected
    b = board(
        card("a", status="done", worker="w1"),
        card("b", status="running", worker="w1"),
        card("c"),
        card("d"),
        card("v", role="verifier"),
    )
    books = {"g1": Books(Budget(max_tokens=1100), b, folded(s))}
    decided = admit([("g1", b.tasks["c"]), ("g1", b.tasks["v"]), ("g1", b.tasks["d"])], books)
    # 100 + 700 spent, 100 expected from b, 400 for c: 1300 > 1100.
    assert [c.task_id for _, c in decided.held] == ["c", "v", "d"]
    over = decided.asks["g1"]
    assert (over.scope, over.metric, over.task_id) == ("goal", "tokens", "c")
    assert (over.spent, over.reserved, over.expected, over.projected) == (800, 100, 400, 1300)
    assert "1,300 tokens in all" in over.describe()
    # With room for one: c starts, and d (counted after c) would pass.
    roomy = {"g1": Books(Budget(max_tokens=1400), b, folded(s))}
    decided = admit([("g1", b.tasks["c"]), ("g1", b.tasks["d"])], roomy)
    assert [c.task_id for _, c in decided.admitted] == ["c"]
    assert decided.asks["g1"].task_id == "d" and decided.asks["g1"].reserved == 500


def test_a_paused_goal_starts_only_what_spends_nothing_and_what_was_let_go_on() -> None:
    s = Script()
    spend(s, "a", 400)
    s.add(ModelCalled, ModelCalledData(agent="v1", provider="offline", model="m",
          request_digest=DIGEST, response={}), task="v0")  # fmt: skip
    b = board(
        card("a", status="done", worker="w1"),
        card("v0", role="verifier", status="done", worker="v1"),
        card("c"),
        card("v", role="verifier"),
        card("x", role="new-role"),
    )
    paused = Books(Budget(max_tokens=10**6), b, folded(s), paused=True, allowed=frozenset({"c"}))
    decided = admit([("g1", b.tasks[t]) for t in ("c", "v", "x")], {"g1": paused})
    assert [c.task_id for _, c in decided.admitted] == ["c", "v"]
    assert [c.task_id for _, c in decided.held] == ["x"]  # no estimate: may spend
    assert decided.asks == {}


def test_goals_without_a_budget_and_tasks_without_an_estimate_start() -> None:
    b = board(card("a"), card("b"))
    decided = admit(
        [("g1", b.tasks["a"]), ("g2", b.tasks["b"])],
        {"g1": Books(Budget(max_tokens=1), b, Costs()), "g2": Books(None, b, Costs())},
    )
    assert len(decided.admitted) == 2 and not decided.held


def test_the_per_agent_limit_counts_the_worker_of_the_role_with_most_room() -> None:
    s = Script()
    spend(s, "a", 700, agent="w1")
    spend(s, "b", 300, agent="w2")
    b = board(
        card("a", status="done", worker="w1"),
        card("b", status="done", worker="w2"),
        card("c"),
    )
    # The mean is 500: w2 (300 spent) has room under 900, w1 would not.
    fits = {"g1": Books(Budget(max_tokens_per_agent=900), b, folded(s))}
    assert [c.task_id for _, c in admit([("g1", b.tasks["c"])], fits).admitted] == ["c"]
    tight = {"g1": Books(Budget(max_tokens_per_agent=700), b, folded(s))}
    over = admit([("g1", b.tasks["c"])], tight).asks["g1"]
    assert (over.scope, over.agent, over.spent, over.expected) == ("agent", "w2", 300, 500)
    assert over.describe().startswith("agent w2's per-agent token limit of 700 tokens")


def test_a_held_task_gives_its_place_in_the_queue_to_the_next_ready_one() -> None:
    s = Script()
    spend(s, "a", 400)
    b = board(
        card("a", status="done", worker="w1"),
        card("v0", role="verifier", status="done", worker="v1"),  # spent nothing
        card("c", priority=1),
        card("d", role="verifier", priority=9),
    )
    other = Board(goal_id="g2", tasks={"e": card("e", priority=5)})
    books = {"g1": Books(Budget(max_tokens=500), b, folded(s))}
    picked = [("g1", b.tasks["c"]), ("g1", b.tasks["d"]), ("g2", other.tasks["e"])]
    # One place per role: c, the most urgent backend task, is held, so g2's e takes the
    # place; the verification spends nothing and starts although g1 is paused.
    decided = dispatchable(picked, {}, 1, books)
    assert [(g, c.task_id) for g, c in decided.admitted] == [("g2", "e"), ("g1", "d")]
    assert [c.task_id for _, c in decided.held] == ["c"]
    assert set(decided.asks) == {"g1"} and decided.asks["g1"].task_id == "c"


def test_what_was_admitted_before_the_pause_stays_admitted() -> None:
    s = Script()
    spend(s, "a", 400)
    b = board(card("a", status="done", worker="w1"), card("c", priority=1), card("d", priority=2))
    books = {"g1": Books(Budget(max_tokens=900), b, folded(s))}
    decided = dispatchable([("g1", b.tasks["c"]), ("g1", b.tasks["d"])], {}, None, books)
    assert [c.task_id for _, c in decided.admitted] == ["c"]
    assert [c.task_id for _, c in decided.held] == ["d"]


def test_a_breach_names_the_goals_limit_first_then_an_agents() -> None:
    s = Script()
    spend(s, "a", 600, agent="w1", usd=0.5)
    spend(s, "b", 100, agent="w2")
    state = folded(s)
    assert breach(None, state, "g1") is None
    assert breach(Budget(max_tokens=700), state, "g1") is None  # at the limit is not past it
    over = breach(Budget(max_tokens=699, max_tokens_per_agent=10), state, "g1")
    assert over is not None and (over.scope, over.spent) == ("goal", 700)
    over = breach(Budget(max_tokens_per_agent=500), state, "g1")
    assert over is not None and (over.scope, over.agent, over.spent) == ("agent", "w1", 600)
    over = breach(Budget(max_cost_usd=0.25), state, "g1")
    assert over is not None and over.metric == "cost" and over.spent == pytest.approx(0.5)


def test_shares_of_a_raised_budget_grow_in_proportion() -> None:
    inputs = {"model_tokens": 1000, "model_cost_usd": 0.5, "files": ["a.py"]}
    grown = rescale(inputs, Budget(max_tokens=4000, max_cost_usd=2.0), Budget(max_tokens=6000))
    assert grown == {"model_tokens": 1500, "model_cost_usd": 0.5, "files": ["a.py"]}
    assert rescale(inputs, None, Budget(max_tokens=6000)) == inputs
    assert rescale(inputs, Budget(max_tokens=4000), Budget(max_tokens=4000)) == inputs


def test_an_estimate_of_nothing_is_free() -> None:
    assert Estimate(0, 0.0, "x").free and not Estimate(1, 0.0, "x").free


def test_running_tasks_that_spent_nothing_yet_give_no_estimate() -> None:
    s = Script()
    spend(s, "z", 1, agent="w9")  # another task's spending, so there is a costs state
    b = board(card("a", status="running", worker="w1"))
    assert estimate(b, folded(s), card("next")) is None
