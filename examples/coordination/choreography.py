"""Choreography: no one in charge; agents react to events by their own subscriptions.

- **Wildcard subscriptions**: ``Linter`` listens on the subject filter
  ``*.ev.*.*.*.*.artifact.*`` (any root, goal, entity and role: every artifact
  event); ``Indexer`` on the ``artifact.published`` type; ``Announcer`` on every
  goal-level event of any goal (``*.ev.*.goal.>``).
- **Several agents react to one event**: one ``artifact.published`` gets a lint
  note and an index entry, each from its own agent, each caused by that event.
- **Event storms are stopped by rate limits**: ``Echo`` answers every context
  update with one of its own, which would feed itself for ever; its
  ``RateLimit`` (counted on event times, rebuilt from the log) lets through at
  most ``limit`` reactions per goal per window, then it records one
  ``budget.exceeded`` (scope ``agent``, action ``stop``) and stays quiet.

Run: ``python -m examples.coordination.choreography``
"""

from __future__ import annotations

from dataclasses import dataclass

from callsheet.agents import Agent, HandlerContext, on
from callsheet.agents.ratelimit import RateLimit
from callsheet.events.catalog import (
    ArtifactPublished,
    ArtifactPublishedData,
    BudgetExceeded,
    BudgetExceededData,
    ContextUpdated,
    ContextUpdatedData,
    GoalSubmitted,
    GoalSubmittedData,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore, StoredEvent
from examples.coordination.support import run_goal, run_main

__all__ = ["Announcer", "ChoreographySummary", "Echo", "Indexer", "Linter", "run"]


def _note(agent: Agent, ctx: HandlerContext, key: str, value: object) -> None:
    data = ContextUpdatedData(key=key, kind="note", value=value, author=agent.name)
    ctx.emit(ContextUpdated, data, task_id=None)


class Linter(Agent):
    """Lints every artifact, found by a wildcard subject filter."""

    durable = "linter"

    @on(ArtifactPublished, subject="*.ev.*.*.*.*.artifact.*")
    async def lint(self, event: ArtifactPublished, ctx: HandlerContext) -> None:
        """Note what the linter thinks."""
        text = event.data.content or ""
        _note(self, ctx, f"lint.{event.data.artifact_id}", {"lines": text.count("\n") + 1})


class Indexer(Agent):
    """Indexes every artifact, by type."""

    durable = "indexer"

    @on()
    async def index(self, event: ArtifactPublished, ctx: HandlerContext) -> None:
        """Add it to the index."""
        _note(self, ctx, f"index.{event.data.artifact_id}", event.data.name)


class Announcer(Agent):
    """Says hello to every new goal: a wildcard on goal-level events."""

    durable = "announcer"

    @on(GoalSubmitted, subject="*.ev.*.goal.>")
    async def hello(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        """Announce the goal."""
        _note(self, ctx, "announced", event.data.title)


class Echo(Agent):
    """Echoes every context update with one of its own: a storm, held by a rate limit."""

    durable = "echo"

    def __init__(self, name: str, *, limit: int = 10, per_seconds: float = 60.0) -> None:
        """Create it: at most ``limit`` echoes per goal within ``per_seconds``."""
        super().__init__(name)
        self.limit = RateLimit(limit, per_seconds)
        self.tripped: set[str] = set()

    def observe(self, event: Event) -> None:
        """Count its own echoes; remember when it stopped (a fold)."""
        if event.producer != self.name:
            return
        if isinstance(event, ContextUpdated):
            self.limit.record(event.goal_id, event.occurred_at)
        elif isinstance(event, BudgetExceeded):
            self.tripped.add(event.goal_id)

    @on()
    async def echo(self, event: ContextUpdated, ctx: HandlerContext) -> None:
        """Echo, unless the limit is reached: then say so, once."""
        goal = event.goal_id
        if self.limit.allows(goal, ctx.now()):
            _note(self, ctx, f"echo.{ctx.seq}", event.data.key)
            return
        if goal not in self.tripped:
            used = self.limit.used(goal, ctx.now())
            data = BudgetExceededData(
                scope="agent",
                scope_id=self.name,
                action="stop",
                details={"reactions": used, "window_seconds": self.limit.window.total_seconds()},
            )
            ctx.emit(BudgetExceeded, data, task_id=None)
            self.tripped.add(goal)


@dataclass(frozen=True)
class ChoreographySummary:
    """What a run showed."""

    reactions_to_artifact: dict[str, str]
    echoes: int
    stops: int
    events: int


def summarize(events: list[StoredEvent], artifact_id: str) -> ChoreographySummary:
    """Read the outcome back from the log."""
    artifact = next(s.event for s in events if isinstance(s.event, ArtifactPublished))
    reactions = {
        s.event.producer: s.event.data.key
        for s in events
        if isinstance(s.event, ContextUpdated) and s.event.causation_id == artifact.id
    }
    return ChoreographySummary(
        reactions_to_artifact=reactions,
        echoes=sum(
            1 for s in events if isinstance(s.event, ContextUpdated) and s.event.producer == "echo"
        ),
        stops=sum(1 for s in events if isinstance(s.event, BudgetExceeded)),
        events=len(events),
    )


async def run(store: EventStore, goal_id: str = "chor", *, limit: int = 10) -> ChoreographySummary:
    """One goal, one artifact; watch who reacts, and the echo storm stop."""
    agents: list[Agent] = [
        Linter("linter"),
        Indexer("indexer"),
        Announcer("announcer"),
        Echo("echo", limit=limit),
    ]
    start = [
        GoalSubmitted.new(
            data=GoalSubmittedData(title="a report"), goal_id=goal_id, producer="example"
        ),
        ArtifactPublished.new(
            data=ArtifactPublishedData(
                artifact_id="report", name="report.md", content="# Report\nfine\n"
            ),
            goal_id=goal_id,
            producer="example",
        ),
    ]

    def settled(events: list[StoredEvent]) -> bool:
        return any(isinstance(s.event, BudgetExceeded) for s in events)

    return summarize(await run_goal(store, agents, goal_id, start, until=settled), "report")


def _show(s: ChoreographySummary) -> None:
    print(f"reactions to the artifact: {s.reactions_to_artifact}")
    print(f"echo storm: {s.echoes} echoes, then {s.stops} stop; {s.events} events in all")


if __name__ == "__main__":
    run_main(run, _show)
