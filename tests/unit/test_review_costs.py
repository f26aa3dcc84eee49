"""The review's costs and parallel efficiency: a fold over a goal's events, and its advice."""

from __future__ import annotations

import pytest

from callsheet.events.catalog import (
    Budget,
    ContextUpdated,
    ContextUpdatedData,
    GoalSubmitted,
    GoalSubmittedData,
    ModelCalled,
    ModelCalledData,
    TaskFailed,
    TaskFailedData,
    TaskPlanned,
    TaskPlannedData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.review import costs
from callsheet.review.costs import Efficiency, advice, efficiency, render
from tests.unit.test_projections_support import Script

DIGEST = "sha256:" + "0" * 64


def folded(s: Script) -> costs.TeamCosts:
    state = costs.initial()
    for event in s.events:
        state = costs.fold(state, event)
    return state


def plan(s: Script, task: str, role: str, *depends: str) -> None:
    s.add(
        TaskPlanned,
        TaskPlannedData(title=task, role=role, depends_on=list(depends)),
        task=task,
        after=0,
    )


def run(s: Script, task: str, worker: str, *, start: float, length: float) -> None:
    s.add(TaskStarted, TaskStartedData(worker=worker), task=task, after=start)
    s.add(TaskResult, TaskResultData(worker=worker, output={}), task=task, after=length)


def test_spending_is_per_agent_and_model_and_the_budget_as_raised() -> None:
    s = Script()
    s.add(GoalSubmitted, GoalSubmittedData(title="r", budget=Budget(max_tokens=1000)))
    for agent, model, tokens in (
        ("a1", "claude-x", 300),
        ("a1", "claude-x", 200),
        ("a2", "claude-y", 100),
    ):
        s.add(
            ModelCalled,
            ModelCalledData(agent=agent, provider="anthropic", model=model, request_digest=DIGEST,
                            response={}, input_tokens=tokens, output_tokens=10, cost_usd=0.01),
            task="t",
        )  # fmt: skip
    s.add(
        ContextUpdated,
        ContextUpdatedData(
            key="budget",
            kind="decision",
            value={
                "budget": {"max_tokens": 1500},
                "answered_by": "human:ann",
                "answer": "raise tokens by 500",
            },
            author="sup",
        ),
    )  # fmt: skip
    s.add(ModelCalled, ModelCalledData(agent="a9", provider="x", model="m", request_digest=DIGEST,
          response={}, input_tokens=5), goal="other")  # fmt: skip
    state = folded(s)
    text = "\n".join(render(state))
    assert "| a1 | claude-x | 2 | 500 | 20 | 0.0200 |" in text
    assert "| a2 | claude-y | 1 | 100 | 10 | 0.0100 |" in text
    assert "| **all** | | 3 | 600 | 30 | 0.0300 |" in text
    assert "a9" not in text  # another goal's
    assert "- Budget, tokens: 1,500 tokens (submitted with 1,000 tokens); 630 tokens spent." in text
    assert "- human:ann answered a budget question: 'raise tokens by 500'." in text


def test_no_model_call_is_said_so() -> None:
    s = Script()
    s.add(GoalSubmitted, GoalSubmittedData(title="r"))
    assert "No model was called: the analysts ran their tools only." in render(folded(s))


def test_efficiency_is_work_over_wall_times_task_slots_and_the_critical_path_is_found() -> None:
    s = Script()
    s.add(GoalSubmitted, GoalSubmittedData(title="r"), after=0)
    plan(s, "inv", "inventory")
    plan(s, "a1", "analyst", "inv")
    plan(s, "a2", "analyst", "inv")
    plan(s, "v", "verifier", "a1", "a2")
    run(s, "inv", "i1", start=0, length=2)  # t = 0..2
    # Two tasks at once on one analyst: two task slots.
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="a1", after=0)
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="a2", after=0)
    s.add(TaskResult, TaskResultData(worker="w1", output={}), task="a2", after=2)  # t = 4
    s.add(TaskResult, TaskResultData(worker="w1", output={}), task="a1", after=4)  # t = 8
    run(s, "v", "v1", start=0, length=2)  # t = 8..10
    e = efficiency(folded(s))
    assert (e.wall_seconds, e.work_seconds, e.workers, e.slots) == (10, 12, 3, 4)
    assert e.efficiency == pytest.approx(12 / 40)
    assert e.critical_path == ("inv", "a1", "v") and e.critical_seconds == 10
    assert e.by_role["analyst"] == (1, 2, 2, 8.0)
    assert e.parallelism == pytest.approx(1.2)
    # The chain took the whole wall time: more workers would not help.
    (tip,) = advice(e)
    assert "The critical path (inv → a1 → v) ran 10.0 s of the 10.0 s wall time (100%)" in tip
    assert "more workers would not make this review faster" in tip


def test_a_delivery_taken_over_ends_where_the_next_starts() -> None:
    s = Script()
    s.add(GoalSubmitted, GoalSubmittedData(title="r"), after=0)
    plan(s, "a", "analyst")
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="a", after=1)
    s.add(TaskStarted, TaskStartedData(worker="w2", attempt=2), task="a", after=3)  # w1 died
    s.add(TaskFailed, TaskFailedData(reason="boom", worker="w2", attempt=2), task="a", after=1)
    state = folded(s)
    assert [(d.worker, d.seconds) for d in state.deliveries] == [("w1", 3.0), ("w2", 1.0)]


def figures(wall: float, work: float, slots: int, critical: float) -> Efficiency:
    return Efficiency(wall, work, slots, slots, ("a", "b"), critical, {})


def test_the_advice_says_when_more_workers_would_not_help_and_when_they_might() -> None:
    (idle,) = advice(figures(wall=10, work=8, slots=4, critical=2))
    assert "idle 80% of the time: more workers would not help; about 1 task slot" in idle
    (enough,) = advice(figures(wall=10, work=24, slots=4, critical=6))
    assert "allows about 4.0 tasks at once" in enough and "more workers would not help" in enough
    (more,) = advice(figures(wall=10, work=18, slots=2, critical=3))
    assert "busy 90% of the time" in more and "about 6.0 tasks at once" in more
    assert "more workers (--workers) could make it faster" in more
    assert advice(figures(wall=10, work=0, slots=2, critical=0)) == []
