"""Findings of a review: what was reported, what the verifiers made of it, what was not analysed.

A pure fold per goal (``fold``); ``fold_all`` keeps one per goal (the registry's
``findings`` projection). A finding is keyed by its content-derived id, so the
same finding reported twice (a task delivered again) is kept once, as first
reported. A verdict sets its status; a merged finding names the one it was
merged into, which lists it in ``also`` (both sources are kept). The inventory's
``review.inventory`` context entry gives the size of what was reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from callsheet.events.catalog import (
    SEVERITIES,
    AnalysisSkipped,
    ContextUpdated,
    FindingReported,
    FindingReportedData,
    FindingVerified,
    Severity,
    ToolCalled,
)
from callsheet.events.envelope import Event
from callsheet.projections._common import GoalMap, evolve, passoc, per_goal

__all__ = [
    "INVENTORY_KEY",
    "VERSION",
    "FindingCard",
    "Findings",
    "SkippedPart",
    "fold",
    "fold_all",
    "initial",
    "initial_all",
]

VERSION = 1
"""Bumped whenever the fold's output changes, to invalidate snapshots."""

INVENTORY_KEY = "review.inventory"
"""The context entry in which the inventory says what the codebase holds."""

FindingStatus = Literal["reported", "confirmed", "rejected", "merged"]


@dataclass(frozen=True, slots=True)
class FindingCard:
    """One finding and its verdict.

    Attributes:
        data: The finding as first reported.
        reported_id: Id of that ``finding.reported`` event.
        task_id: The task that reported it.
        status: ``reported`` until a verifier judged it.
        reason: The verifier's reason.
        verdict_id: Id of the ``finding.verified`` event.
        merged_into: The finding this one was merged into.
        also: Findings merged into this one (the same problem, found by other tools).
    """

    data: FindingReportedData
    reported_id: str
    task_id: str
    status: FindingStatus = "reported"
    reason: str = ""
    verdict_id: str | None = None
    merged_into: str | None = None
    also: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedPart:
    """Something not analysed, from an ``analysis.skipped`` event."""

    event_id: str
    task_id: str
    reason: str
    paths: tuple[str, ...] = ()
    perspectives: tuple[str, ...] = ()
    tool: str | None = None


@dataclass(frozen=True, slots=True)
class Findings:
    """A goal's findings.

    Attributes:
        goal_id: The goal.
        findings: Cards by finding id (a persistent map: no order; see ``cards``).
        skipped: What was not analysed, in log order.
        inventory: The inventory's summary (files, lines, packages...), once taken.
        tool_calls: Tool runs recorded.
        tool_ms: Their wall time, summed.
        events: Events of the goal folded.
    """

    goal_id: str = ""
    findings: Mapping[str, FindingCard] = field(default_factory=dict)
    skipped: tuple[SkippedPart, ...] = ()
    inventory: Mapping[str, Any] | None = None
    tool_calls: int = 0
    tool_ms: float = 0.0
    events: int = 0

    def by_status(self, *statuses: FindingStatus) -> list[FindingCard]:
        """The cards with one of these statuses, by place (path, line, rule, id).

        A stable order, the same in every process: the map itself has none.
        """
        return sorted((c for c in self.findings.values() if c.status in statuses), key=_place)

    def cards(self) -> list[FindingCard]:
        """Every card, by place (see ``by_status``)."""
        return sorted(self.findings.values(), key=_place)

    def severity(self, card: FindingCard) -> Severity:
        """A finding's severity, or the worst of the findings merged into it."""
        levels = [card.data.severity]
        levels += [self.findings[f].data.severity for f in card.also if f in self.findings]
        return min(levels, key=SEVERITIES.index)


def _place(card: FindingCard) -> tuple[str, int, str, str]:
    d = card.data
    return (d.path, d.line, d.rule, d.finding_id)


def initial() -> Findings:
    """Return the state before any event."""
    return Findings()


def _judge(state: Findings, event: FindingVerified) -> Findings:
    d = event.data
    card = state.findings.get(d.finding_id)
    if card is None:
        return state
    cards = passoc(
        state.findings,
        d.finding_id,
        evolve(
            card,
            status=d.verdict,
            reason=d.reason,
            verdict_id=event.id,
            merged_into=d.merged_into if d.verdict == "merged" else None,
        ),
    )
    target = cards.get(d.merged_into) if d.verdict == "merged" and d.merged_into else None
    if target is not None and d.finding_id not in target.also:
        cards = passoc(
            cards, target.data.finding_id, evolve(target, also=(*target.also, d.finding_id))
        )
    return evolve(state, findings=cards)


def fold(state: Findings, event: Event) -> Findings:
    """Return the state after ``event``; never mutates ``state``."""
    if state.goal_id and event.goal_id != state.goal_id:
        return state
    state = evolve(state, goal_id=event.goal_id, events=state.events + 1)
    if isinstance(event, FindingReported):
        if event.data.finding_id in state.findings:
            return state  # reported again (a redelivery): the first report stands
        card = FindingCard(data=event.data, reported_id=event.id, task_id=event.task_id or "")
        return evolve(state, findings=passoc(state.findings, event.data.finding_id, card))
    if isinstance(event, FindingVerified):
        return _judge(state, event)
    if isinstance(event, AnalysisSkipped):
        d = event.data
        part = SkippedPart(
            event_id=event.id,
            task_id=event.task_id or "",
            reason=d.reason,
            paths=tuple(d.paths),
            perspectives=tuple(d.perspectives),
            tool=d.tool,
        )
        return evolve(state, skipped=(*state.skipped, part))
    if isinstance(event, ToolCalled):
        return evolve(
            state, tool_calls=state.tool_calls + 1, tool_ms=state.tool_ms + event.data.duration_ms
        )
    if (
        isinstance(event, ContextUpdated)
        and event.data.key == INVENTORY_KEY
        and isinstance(event.data.value, dict)
    ):
        return evolve(state, inventory=event.data.value)
    return state


def initial_all() -> GoalMap[Findings]:
    """Return the empty set of goals' findings."""
    return GoalMap()


fold_all = per_goal(initial, fold)
"""Fold an event into the findings of its goal."""
