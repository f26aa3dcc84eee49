"""The costs projection: model calls, usage records (counted once), budget breaches."""

from __future__ import annotations

import pytest

from callsheet.events.catalog import (
    BudgetExceeded,
    BudgetExceededData,
    ModelCalled,
    ModelCalledData,
    TaskStarted,
    TaskStartedData,
    UsageRecorded,
    UsageRecordedData,
)
from callsheet.projections import costs
from callsheet.projections.costs import Spend
from tests.unit.test_projections_support import Script

DIGEST = "sha256:" + "0" * 64


def _call(agent: str, model: str, tin: int, tout: int, usd: float) -> ModelCalledData:
    return ModelCalledData(
        agent=agent,
        provider="offline",
        model=model,
        request_digest=DIGEST,
        response={"text": "ok"},
        input_tokens=tin,
        output_tokens=tout,
        cost_usd=usd,
    )


def _costs(s: Script) -> costs.Costs:
    state = costs.initial()
    for event in s.events:
        state = costs.fold(state, event)
    return state


def test_model_calls_add_up_per_goal_agent_and_model() -> None:
    s = Script()
    s.add(ModelCalled, _call("w1", "opus", 100, 50, 0.5))
    s.add(ModelCalled, _call("w2", "haiku", 10, 5, 0.01), goal="g2")
    s.add(ModelCalled, _call("w1", "haiku", 20, 10, 0.02))
    state = _costs(s)
    assert state.total.tokens == 195
    assert state.total.calls == 3
    assert state.total.cost_usd == pytest.approx(0.53)
    assert state.by_goal["g1"] == Spend(120, 60, pytest.approx(0.52), 2)  # type: ignore[arg-type]
    assert state.by_agent["w2"] == Spend(10, 5, 0.01, 1)
    assert state.by_model["haiku"].tokens == 45


def test_a_usage_record_replaces_the_model_call_it_accounts_for() -> None:
    s = Script()
    call = s.add(ModelCalled, _call("w1", "opus", 100, 50, 0.5))
    # The accountant's figures differ (cached tokens): they win, counted once.
    s.add(
        UsageRecorded,
        UsageRecordedData(
            agent="w1", model="opus", input_tokens=80, output_tokens=50, cost_usd=0.4
        ),
        cause=call,
    )
    state = _costs(s)
    assert state.total == Spend(80, 50, pytest.approx(0.4), 1)  # type: ignore[arg-type]
    assert state.by_agent["w1"].tokens == 130
    assert state.calls == {}
    # A second record for the same call is extra spending, not a replacement.
    s.add(UsageRecorded, UsageRecordedData(agent="w1", model="opus", input_tokens=1), cause=call)
    assert _costs(s).total.input_tokens == 81


def test_usage_without_a_model_call_and_a_replayed_duplicate_call() -> None:
    s = Script()
    started = s.add(TaskStarted, TaskStartedData(worker="w1"), task="t")
    s.add(
        UsageRecorded,
        UsageRecordedData(agent="w1", model="embed", input_tokens=7, cost_usd=0.001),
        cause=started,
    )
    call = s.add(ModelCalled, _call("w1", "opus", 1, 1, 0.0))
    s.events.append(call)  # redelivered: same id
    state = _costs(s)
    assert state.total.input_tokens == 8
    assert state.by_model["embed"].calls == 1
    assert state.by_model["opus"].calls == 1


def test_budget_breaches_are_listed_in_order() -> None:
    s = Script()
    s.add(
        BudgetExceeded,
        BudgetExceededData(
            scope="agent", scope_id="w1", limit_usd=1.0, spent_usd=1.2, action="warn"
        ),
    )
    s.add(
        BudgetExceeded,
        BudgetExceededData(scope="goal", scope_id="g1", limit_tokens=1000, spent_tokens=1200),
    )
    state = _costs(s)
    assert [(b.scope, b.scope_id, b.action) for b in state.breaches] == [
        ("agent", "w1", "warn"),
        ("goal", "g1", "stop"),
    ]
    assert state.breaches[0].spent_usd == 1.2
    assert state.breaches[1].limit_tokens == 1000
    assert state.breaches[1].event_id == s.events[1].id
    assert state.total == Spend()
