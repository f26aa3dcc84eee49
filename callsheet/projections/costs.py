"""Spending: tokens and US dollars per goal, per agent and per model; budget breaches.

The double-counting rule: a ``model.called`` event counts, unless a
``usage.recorded`` event names it as its cause (``causation_id``). Then the usage
record replaces it: the call's tokens and cost are taken back out and the usage
record's put in, since the usage record is the accountant's word on that call.
A ``usage.recorded`` with no such cause (spending outside recorded model calls)
simply adds up. So a crew that records usage for every call, or for none, or
for some, is counted once either way. A redelivered ``model.called`` (same event
id) is counted once. Taking a call back subtracts floats, so dollar totals may
differ from a fresh sum in the last bits; tokens are exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, TypeVar

from callsheet.events.catalog import BudgetExceeded, ModelCalled, UsageRecorded
from callsheet.events.envelope import Event
from callsheet.projections._common import passoc, pdiscard

__all__ = ["VERSION", "Breach", "Costs", "Spend", "fold", "initial"]

VERSION = 2
"""Bumped whenever the fold's output changes, to invalidate snapshots."""


@dataclass(frozen=True, slots=True)
class Spend:
    """Tokens and money spent.

    Attributes:
        input_tokens: Tokens sent.
        output_tokens: Tokens received.
        cost_usd: Money, in US dollars.
        calls: Model calls and usage records counted.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    @property
    def tokens(self) -> int:
        """All tokens, sent and received."""
        return self.input_tokens + self.output_tokens

    def plus(self, other: Spend, sign: int = 1) -> Spend:
        """Return this spend with ``other`` added (``sign=1``) or taken out (``sign=-1``)."""
        return Spend(
            input_tokens=self.input_tokens + sign * other.input_tokens,
            output_tokens=self.output_tokens + sign * other.output_tokens,
            cost_usd=self.cost_usd + sign * other.cost_usd,
            calls=self.calls + sign * other.calls,
        )


@dataclass(frozen=True, slots=True)
class Breach:
    """A ``budget.exceeded`` event.

    Attributes:
        goal_id: The goal it was raised in.
        scope: What is limited: ``goal``, ``agent`` or ``model``.
        scope_id: Id of the goal, agent or model.
        limit_usd: The money limit, if any.
        spent_usd: Money spent when it was raised.
        limit_tokens: The token limit, if any.
        spent_tokens: Tokens spent when it was raised.
        action: What the crew does now: ``warn``, ``pause`` or ``stop``.
        event_id: The event.
        occurred_at: When it was raised.
    """

    goal_id: str
    scope: Literal["goal", "agent", "model"]
    scope_id: str
    limit_usd: float | None
    spent_usd: float
    limit_tokens: int | None
    spent_tokens: int
    action: Literal["warn", "pause", "stop"]
    event_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class _Charge:
    """A counted model call: whom it was charged to, so a usage record can take it back."""

    goal_id: str
    agent: str
    model: str
    spend: Spend
    task_id: str = ""


@dataclass(frozen=True, slots=True)
class Costs:
    """Spending so far.

    Attributes:
        total: All spending.
        by_goal: Spending per goal.
        by_agent: Spending per agent.
        by_model: Spending per model.
        by_task: Spending per task, by ``(goal_id, task_id)``; ``task_id`` is ``""``
            for spending outside any task (the supervisor planning a goal).
        by_agent_model: Spending per goal, agent and model, by ``(goal_id, agent, model)``.
        breaches: Budget breaches, in log order.
        calls: Model calls still counted, by event id (replaced ones are dropped).
    """

    total: Spend = field(default_factory=Spend)
    by_goal: Mapping[str, Spend] = field(default_factory=dict)
    by_agent: Mapping[str, Spend] = field(default_factory=dict)
    by_model: Mapping[str, Spend] = field(default_factory=dict)
    by_task: Mapping[tuple[str, str], Spend] = field(default_factory=dict)
    by_agent_model: Mapping[tuple[str, str, str], Spend] = field(default_factory=dict)
    breaches: tuple[Breach, ...] = ()
    calls: Mapping[str, _Charge] = field(default_factory=dict)


def initial() -> Costs:
    """Return the state with nothing spent."""
    return Costs()


K = TypeVar("K")


def _add(map_: Mapping[K, Spend], key: K, spend: Spend, sign: int) -> Mapping[K, Spend]:
    return passoc(map_, key, map_.get(key, Spend()).plus(spend, sign))


def _charge(state: Costs, charge: _Charge, sign: int) -> Costs:
    s = charge.spend
    return replace(
        state,
        total=state.total.plus(s, sign),
        by_goal=_add(state.by_goal, charge.goal_id, s, sign),
        by_agent=_add(state.by_agent, charge.agent, s, sign),
        by_model=_add(state.by_model, charge.model, s, sign),
        by_task=_add(state.by_task, (charge.goal_id, charge.task_id), s, sign),
        by_agent_model=_add(
            state.by_agent_model, (charge.goal_id, charge.agent, charge.model), s, sign
        ),
    )


def fold(state: Costs, event: Event) -> Costs:
    """Return the spending after ``event``; never mutates ``state``."""
    if isinstance(event, ModelCalled):
        d = event.data
        spend = Spend(d.input_tokens, d.output_tokens, d.cost_usd, 1)
        charge = _Charge(event.goal_id, d.agent, d.model, spend, event.task_id or "")
        # A duplicate delivery of the same call is not charged twice.
        if event.id in state.calls:
            return state
        state = _charge(state, charge, 1)
        return replace(state, calls=passoc(state.calls, event.id, charge))
    if isinstance(event, UsageRecorded):
        u = event.data
        replaced = state.calls.get(event.causation_id or "")
        if replaced is not None:
            state = _charge(state, replaced, -1)
            state = replace(state, calls=pdiscard(state.calls, event.causation_id or ""))
        spend = Spend(u.input_tokens, u.output_tokens, u.cost_usd, 1)
        usage = _Charge(event.goal_id, u.agent, u.model, spend, event.task_id or "")
        return _charge(state, usage, 1)
    if isinstance(event, BudgetExceeded):
        b = event.data
        breach = Breach(
            goal_id=event.goal_id,
            scope=b.scope,
            scope_id=b.scope_id,
            limit_usd=b.limit_usd,
            spent_usd=b.spent_usd,
            limit_tokens=b.limit_tokens,
            spent_tokens=b.spent_tokens,
            action=b.action,
            event_id=event.id,
            occurred_at=event.occurred_at,
        )
        return replace(state, breaches=(*state.breaches, breach))
    return state
