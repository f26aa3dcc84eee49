"""The controller: the crew's entry point. Validates goals; accepts them or says why not."""

from __future__ import annotations

from callsheet.agents import Agent, HandlerContext, on
from callsheet.crew.memory import ControllerMemory
from callsheet.events.catalog import (
    GoalAccepted,
    GoalAcceptedData,
    GoalRejected,
    GoalRejectedData,
    GoalSubmitted,
    GoalSubmittedData,
)
from callsheet.events.envelope import Event

__all__ = ["Controller", "problems"]

MAX_CONSTRAINTS = 50


def problems(data: GoalSubmittedData) -> list[str]:
    """What makes a submitted goal unacceptable (empty: nothing)."""
    found = []
    if not data.title.strip():
        found.append("the title is blank")
    budget = data.budget
    limits = (
        {
            "max_cost_usd": budget.max_cost_usd,
            "max_tokens": budget.max_tokens,
            "max_cost_usd_per_agent": budget.max_cost_usd_per_agent,
            "max_tokens_per_agent": budget.max_tokens_per_agent,
        }
        if budget is not None
        else {}
    )
    for name, limit in limits.items():
        # The catalog refuses negative limits; zero would stop the goal at its first call.
        if limit is not None and limit <= 0:
            what = "no spending" if "cost" in name else "no tokens"
            found.append(f"the budget allows {what} ({name} is {limit:g})")
    if len(data.constraints) > MAX_CONSTRAINTS:
        found.append(f"{len(data.constraints)} constraints, over the limit of {MAX_CONSTRAINTS}")
    if any(not c.strip() for c in data.constraints):
        found.append("a constraint is blank")
    return found


class Controller(Agent):
    """Accepts valid goals, naming the supervisor that takes them; rejects the rest with reasons.

    A goal id submitted again after it was decided is ignored (the first
    decision stands), so a retried submission never starts a second supervisor.
    """

    kind = "controller"
    durable = "controller"
    observes = ("goal.accepted", "goal.rejected")

    def __init__(self, name: str | None = None, *, supervisor: str = "supervisor") -> None:
        """Create it.

        Args:
            name: Agent id.
            supervisor: Durable name of the supervisor that takes accepted goals.
        """
        super().__init__(name)
        self.supervisor = supervisor
        self.decided: set[str] = set()

    def observe(self, event: Event) -> None:
        """Remember which goals were decided (a fold)."""
        if isinstance(event, GoalAccepted | GoalRejected):
            self.decided.add(event.goal_id)

    memory_version = 1

    def memory(self) -> ControllerMemory:
        """The memory, for a snapshot."""
        return ControllerMemory(decided=sorted(self.decided))

    def memory_type(self) -> type[ControllerMemory]:
        """``ControllerMemory``."""
        return ControllerMemory

    def restore(self, memory: ControllerMemory) -> None:
        """Take back a snapshot's memory."""
        self.decided = set(memory.decided)

    def takes(self, data: GoalSubmittedData) -> bool:
        """Whether this controller decides such a goal (a review goal is the review crew's)."""
        return data.review is None

    @on()
    async def submitted(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        """Validate a submitted goal."""
        if event.goal_id in self.decided or not self.takes(event.data):
            return
        found = problems(event.data)
        if found:
            ctx.emit(GoalRejected, GoalRejectedData(reason="; ".join(found)))
        else:
            ctx.emit(GoalAccepted, GoalAcceptedData(supervisor=self.supervisor))
