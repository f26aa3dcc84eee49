"""The supervisor's pure decisions: readiness, failure handling, goal validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callsheet.crew.controller import problems
from callsheet.crew.policy import (
    Escalate,
    FailurePolicy,
    Reassign,
    Retry,
    all_done,
    decide,
    ready,
    schedule,
    waiting,
)
from callsheet.events.catalog import Budget, GoalSubmittedData, TaskFailedData
from callsheet.projections.board import Board, TaskCard

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def board(*cards: TaskCard) -> Board:
    return Board(goal_id="g", tasks={c.task_id: c for c in cards})


def test_ready_needs_every_dependency_done_and_sorts_by_priority_then_plan_order() -> None:
    b = board(
        TaskCard("a", status="done"),
        TaskCard("b", status="running"),
        TaskCard("c", depends_on=("a",), priority=5),
        TaskCard("d", depends_on=("a", "b")),
        TaskCard("e", priority=1),
        TaskCard("f", depends_on=("missing",)),
        TaskCard("g", priority=5),
    )
    assert [c.task_id for c in ready(b)] == ["e", "c", "g"]


def test_a_dependency_replaced_by_a_replan_is_met_when_its_replacements_are_done() -> None:
    b = board(
        TaskCard("x", status="cancelled"),
        TaskCard("x-a", status="done"),
        TaskCard("x-b", status="running"),
        TaskCard("y", depends_on=("x",)),
    )
    assert ready(b, {"x": ["x-a", "x-b"]}) == []
    b2 = board(
        *[*b.tasks.values()][:2], TaskCard("x-b", status="done"), TaskCard("y", depends_on=("x",))
    )
    assert [c.task_id for c in ready(b2, {"x": ["x-a", "x-b"]})] == ["y"]
    assert ready(b2) == []  # without knowing the replacements, a cancelled dependency is not met


def test_waiting_counts_assigned_tasks_per_role() -> None:
    one = board(
        TaskCard("a", role="x", status="assigned"),
        TaskCard("b", role="x", status="running"),
        TaskCard("c", role="y", status="assigned"),
    )
    other = Board(goal_id="h", tasks={"d": TaskCard("d", role="x", status="assigned")})
    assert waiting([one, other]) == {"x": 2, "y": 1}


def test_schedule_takes_the_most_urgent_of_any_goal_within_the_queue_limit() -> None:
    candidates = [
        ("g1", TaskCard("a1", role="x", priority=5)),
        ("g1", TaskCard("a2", role="x", priority=5)),
        ("g1", TaskCard("y1", role="y", priority=9)),
        ("g2", TaskCard("b1", role="x", priority=0)),
    ]
    picked = [(g, c.task_id) for g, c in schedule(candidates, {"x": 1}, 2)]
    # One x task waits already: one more x, the most urgent (g2's); y has room.
    assert picked == [("g2", "b1"), ("g1", "y1")]
    # Ties go to arrival order; no limit assigns everything, most urgent first.
    assert [c.task_id for _, c in schedule(candidates, {"x": 5}, None)] == [
        "b1",
        "a1",
        "a2",
        "y1",
    ]
    assert schedule(candidates, {"x": 2, "y": 2}, 2) == []


def test_all_done() -> None:
    assert not all_done(Board())
    assert all_done(board(TaskCard("a", status="done"), TaskCard("b", status="cancelled")))
    assert not all_done(board(TaskCard("a", status="done"), TaskCard("b", status="failed")))


def failure(retryable: bool = True) -> TaskFailedData:
    return TaskFailedData(reason="boom", retryable=retryable)


def test_retry_with_doubling_capped_backoff() -> None:
    policy = FailurePolicy(attempts_per_role=5, backoff_seconds=1.0, max_backoff_seconds=3.0)
    card = TaskCard("a", role="r", attempts=2)
    delays = []
    for used in (1, 2, 3, 4):
        decision = decide(
            card, failure(), policy, now=NOW, attempts_on_role=used, tried_roles=frozenset({"r"})
        )
        assert isinstance(decision, Retry) and decision.attempt == 3
        delays.append((decision.not_before - NOW) / timedelta(seconds=1))
    assert delays == [1.0, 2.0, 3.0, 3.0]


def test_after_the_role_gives_up_the_fallback_then_escalation() -> None:
    policy = FailurePolicy(attempts_per_role=2, fallback_roles={"r": "s"})
    card = TaskCard("a", role="r", attempts=2)
    moved = decide(
        card, failure(), policy, now=NOW, attempts_on_role=2, tried_roles=frozenset({"r"})
    )
    assert moved == Reassign(3, "s")
    back = TaskCard("a", role="s", attempts=3)
    policy2 = FailurePolicy(attempts_per_role=1, fallback_roles={"s": "r"})
    end = decide(
        back, failure(), policy2, now=NOW, attempts_on_role=1, tried_roles=frozenset({"r", "s"})
    )
    assert isinstance(end, Escalate) and "1 attempts failed: boom" in end.reason


def test_a_failure_that_is_not_retryable_skips_the_retries() -> None:
    policy = FailurePolicy(attempts_per_role=5)
    card = TaskCard("a", role="r", attempts=1)
    decision = decide(
        card, failure(False), policy, now=NOW, attempts_on_role=1, tried_roles=frozenset({"r"})
    )
    assert isinstance(decision, Escalate) and "not retryable" in decision.reason


def test_controller_problems() -> None:
    assert problems(GoalSubmittedData(title="ok")) == []
    found = problems(
        GoalSubmittedData(title=" ", constraints=["", *["c"] * 50], budget=Budget(max_tokens=0))
    )
    assert found == [
        "the title is blank",
        "the budget allows no tokens (max_tokens is 0)",
        "51 constraints, over the limit of 50",
        "a constraint is blank",
    ]


def test_controller_refuses_a_per_agent_limit_of_zero_too() -> None:
    zero = Budget(max_tokens=10, max_cost_usd_per_agent=0.0, max_tokens_per_agent=0)
    assert problems(GoalSubmittedData(title="ok", budget=zero)) == [
        "the budget allows no spending (max_cost_usd_per_agent is 0)",
        "the budget allows no tokens (max_tokens_per_agent is 0)",
    ]
    assert problems(GoalSubmittedData(title="ok", budget=Budget(max_tokens_per_agent=1))) == []
