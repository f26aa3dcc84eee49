"""Swarm on a blackboard: contributors refine each other's proposals until they agree.

The blackboard is the shared context store. Each ``Contributor`` writes its
estimate under ``proposal.<name>`` (with its round); once every contributor's
proposal of the current round is on the board, each moves its own estimate
toward the others' mean and writes the next round. The ``Moderator`` applies
the consensus rule (all proposals of a round within ``tolerance``) and decides;
an iteration limit (``max_rounds``) stops a swarm that does not converge, so
stubborn contributors cannot loop forever.

Events: goal.submitted -> context.updated proposal.* (round 0, 1, ...) ->
context.updated ``consensus`` (kind decision) -> goal.completed (succeeded, or
failed when the limit was reached).

Run: ``python -m examples.coordination.swarm``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callsheet.agents import Agent, HandlerContext, on
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore, StoredEvent
from examples.coordination.support import run_goal, run_main

__all__ = ["Contributor", "Moderator", "SwarmSummary", "run"]

Proposals = dict[str, tuple[float, int]]


def _proposal(event: Event) -> tuple[str, float, int] | None:
    if isinstance(event, ContextUpdated) and event.data.key.startswith("proposal."):
        value: Any = event.data.value
        return event.data.key.split(".", 1)[1], float(value["estimate"]), int(value["round"])
    return None


class _Board(Agent):
    """What contributors and the moderator share: the proposals of each goal, folded."""

    def __init__(self, name: str, participants: int) -> None:
        super().__init__(name)
        self.participants = participants
        self.proposals: dict[str, Proposals] = {}
        self.finished: set[str] = set()

    def observe(self, event: Event) -> None:
        """Fold the blackboard's proposals and the goals' ends."""
        found = _proposal(event)
        if found is not None:
            who, estimate, round_ = found
            self.proposals.setdefault(event.goal_id, {})[who] = (estimate, round_)
        elif isinstance(event, GoalCompleted):
            self.finished.add(event.goal_id)

    def complete_round(self, goal: str) -> int | None:
        """The round every participant has a proposal of, if they all are on the same one."""
        board = self.proposals.get(goal, {})
        rounds = {r for _, r in board.values()}
        if len(board) == self.participants and len(rounds) == 1:
            return rounds.pop()
        return None


class Contributor(_Board):
    """Proposes an estimate, then moves toward the others' mean each round (unless stubborn)."""

    kind = "observer"

    def __init__(
        self,
        name: str,
        participants: int,
        start: float,
        *,
        stubborn: bool = False,
        max_rounds: int | None = None,
    ) -> None:
        """Create it with its first estimate; a stubborn one never moves.

        With ``max_rounds``, it proposes nothing past that round: the iteration
        limit holds even before the moderator's decision reaches it.
        """
        super().__init__(name, participants)
        self.start = start
        self.stubborn = stubborn
        self.max_rounds = max_rounds

    def _propose(self, ctx: HandlerContext, estimate: float, round_: int) -> None:
        value = {"estimate": round(estimate, 6), "round": round_}
        data = ContextUpdatedData(
            key=f"proposal.{self.name}", kind="note", value=value, author=self.name
        )
        ctx.emit(ContextUpdated, data, task_id=None)

    @on()
    async def begin(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        """Put a first proposal on the board."""
        self._propose(ctx, self.start, 0)

    @on(where=lambda e: e.data.key.startswith("proposal."))
    async def refine(self, event: ContextUpdated, ctx: HandlerContext) -> None:
        """When a round is complete, propose the next one."""
        goal = event.goal_id
        round_ = self.complete_round(goal)
        if goal in self.finished or round_ is None:
            return
        if self.max_rounds is not None and round_ >= self.max_rounds:
            return  # the last round: the moderator decides
        board = self.proposals[goal]
        mine = board[self.name][0]
        others = [e for who, (e, _) in board.items() if who != self.name]
        target = mine if self.stubborn else (mine + sum(others) / len(others)) / 2
        self._propose(ctx, target, round_ + 1)


class Moderator(_Board):
    """Applies the consensus rule and the iteration limit; decides and ends the goal."""

    kind = "observer"
    durable = "moderator"

    def __init__(self, name: str, participants: int, *, tolerance: float, max_rounds: int) -> None:
        """Create it: consensus when a round's estimates are within ``tolerance``."""
        super().__init__(name, participants)
        self.tolerance = tolerance
        self.max_rounds = max_rounds

    @on(where=lambda e: e.data.key.startswith("proposal."))
    async def judge(self, event: ContextUpdated, ctx: HandlerContext) -> None:
        """Decide once a round is complete: consensus, or the limit reached."""
        goal = event.goal_id
        round_ = self.complete_round(goal)
        if goal in self.finished or round_ is None:
            return
        estimates = [e for e, _ in self.proposals[goal].values()]
        spread = max(estimates) - min(estimates)
        if spread <= self.tolerance:
            value: Any = {"estimate": round(sum(estimates) / len(estimates), 6), "round": round_}
            why = f"all {len(estimates)} estimates within {self.tolerance} in round {round_}"
            outcome = "succeeded"
        elif round_ >= self.max_rounds:
            value, outcome = None, "failed"
            why = f"no consensus after {round_} rounds (spread {spread:.3f})"
        else:
            return
        data = ContextUpdatedData(
            key="consensus", kind="decision", value=value, rationale=why, author=self.name
        )
        ctx.emit(ContextUpdated, data, task_id=None)
        ended = GoalCompletedData(
            outcome="succeeded" if outcome == "succeeded" else "failed", summary=why
        )
        ctx.emit(GoalCompleted, ended, task_id=None)
        self.finished.add(goal)


@dataclass(frozen=True)
class SwarmSummary:
    """What a run showed: the outcome, the decision, the rounds used and proposals made."""

    outcome: str
    decision: Any
    rounds: int
    proposals: int


def summarize(events: list[StoredEvent]) -> SwarmSummary:
    """Read the outcome back from the log."""
    found = [p for s in events if (p := _proposal(s.event)) is not None]
    decision = next(
        s.event
        for s in events
        if isinstance(s.event, ContextUpdated) and s.event.data.key == "consensus"
    )
    end = next(s.event for s in events if isinstance(s.event, GoalCompleted))
    assert isinstance(decision, ContextUpdated)
    value: Any = decision.data.value
    rounds = int(value["round"]) if isinstance(value, dict) else max(r for _, _, r in found)
    return SwarmSummary(end.data.outcome, value, rounds, len(found))


async def run(
    store: EventStore,
    goal_id: str = "swarm",
    *,
    starts: tuple[float, ...] = (10.0, 40.0, 70.0),
    stubborn: bool = False,
    tolerance: float = 1.0,
    max_rounds: int = 8,
) -> SwarmSummary:
    """Run a swarm of ``len(starts)`` contributors (all stubborn if ``stubborn``)."""
    n = len(starts)
    agents: list[Agent] = [Moderator("moderator", n, tolerance=tolerance, max_rounds=max_rounds)]
    for i, start in enumerate(starts):
        cls = type(f"Contributor{i}", (Contributor,), {"durable": f"contributor-{i}"})
        agents.append(cls(f"c{i}", n, start, stubborn=stubborn, max_rounds=max_rounds))
    first = GoalSubmitted.new(
        data=GoalSubmittedData(title="estimate"), goal_id=goal_id, producer="example"
    )
    return summarize(await run_goal(store, agents, goal_id, [first]))


def _show(s: SwarmSummary) -> None:
    print(f"outcome: {s.outcome} after {s.rounds} rounds ({s.proposals} proposals)")
    print(f"decision: {s.decision}")


if __name__ == "__main__":
    run_main(run, _show)
