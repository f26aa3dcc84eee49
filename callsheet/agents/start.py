"""Where an agent's ``@on`` handlers begin the first time it runs: the history, or now.

An agent with no position in the log yet (its first start under its durable
name) either handles the log from its first event (``history``: right for the
crew's controller and supervisor, which must pick up goals submitted before they
first started) or only the events appended after that start (``now``: right for
an observer added to a running system, which would otherwise react to every old
goal). Either way its views and memory are folded from the whole log, and a
later start continues from where it stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from callsheet.agents.agent import Agent
    from callsheet.events.store import EventStore

__all__ = ["START_POLICIES", "StartFrom", "first_position", "start_policy"]

StartFrom = Literal["history", "now"]
"""``history``: handle the log from its first event; ``now``: from the agent's first start."""

START_POLICIES: tuple[str, ...] = get_args(StartFrom)

_BY_KIND: dict[str, StartFrom] = {"observer": "now"}
"""The default when an agent class sets no ``start_from``: crew kinds process the history."""


def start_policy(agent: Agent | type[Agent]) -> StartFrom:
    """The agent's start policy: its ``start_from``, else ``now`` for an observer, else history."""
    return agent.start_from or _BY_KIND.get(agent.kind, "history")


async def first_position(store: EventStore, agent: Agent) -> int:
    """The position an agent with none yet starts after: 0 (history) or the log's end (now)."""
    if start_policy(agent) == "history":
        return 0
    return await store.stream_last_seq()
