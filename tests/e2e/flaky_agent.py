"""An agent for the failure tests: its handler raises on one goal's events."""

from __future__ import annotations

from callsheet.agents import Agent, HandlerContext, on
from callsheet.events.catalog import ContextUpdated, ContextUpdatedData, GoalSubmitted


class Flaky(Agent):
    """Notes every submitted goal in the context store, but raises on goals named ``boom*``."""

    kind = "observer"
    durable = "flaky"

    @on()
    async def note(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        """Record the goal's title, or fail on purpose."""
        if event.goal_id.startswith("boom"):
            raise RuntimeError(f"cannot handle {event.goal_id}")
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(key="seen", kind="note", value=event.data.title, author=self.name),
        )
