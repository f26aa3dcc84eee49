"""Start policies: an agent's first start handles the history, or only what comes after it."""

from __future__ import annotations

import pytest

from callsheet.agents import Agent, AgentRuntime, HandlerContext, HandlerDefinitionError, on
from callsheet.agents.start import start_policy
from callsheet.crew import Controller, Reviewer, SpecialistWorker, Supervisor
from callsheet.events.catalog import ContextUpdated, ContextUpdatedData, GoalSubmitted
from callsheet.events.store import EventStore
from callsheet.projections._common import GoalMap
from tests.integration.agent_support import submitted, wait_for_type


class Counter(Agent):
    """Notes every goal it handles, with how many goals its board view knew by then."""

    durable = "counter"
    views = ("board",)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.handled: list[str] = []

    @on()
    async def count(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        self.handled.append(event.goal_id)
        known: GoalMap[object] = ctx.view("board")
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(key="goals", kind="note", value=len(known.goals), author=self.name),
        )


class HistoryCounter(Counter):
    durable = "history-counter"
    start_from = "history"


async def test_an_observer_first_started_on_a_running_log_handles_only_new_events(
    store: EventStore,
) -> None:
    await store.append_many([submitted("old-1"), submitted("old-2")])
    first = Counter("counter-1")
    assert start_policy(first) == "now"  # the default for an observer
    async with AgentRuntime(store, [first]) as runtime:
        # Its views are folded from the whole log all the same.
        assert set(runtime.observers[0].views["board"].goals) == {"old-1", "old-2"}
        await store.append(submitted("new-1"))
        notes = await wait_for_type(store, "context.updated", 1)
    assert first.handled == ["new-1"]
    assert [n.goal_id for n in notes] == ["new-1"]
    assert isinstance(notes[0], ContextUpdated) and notes[0].data.value == 3

    # Later starts continue from where it stopped: what came while it was down is handled.
    await store.append(submitted("while-down"))
    second = Counter("counter-2")
    async with AgentRuntime(store, [second]):
        notes = await wait_for_type(store, "context.updated", 2)
    assert second.handled == ["while-down"]
    assert sorted(n.goal_id for n in notes) == ["new-1", "while-down"]


async def test_an_agent_that_starts_from_the_history_handles_every_event(
    store: EventStore,
) -> None:
    await store.append_many([submitted("old-1"), submitted("old-2")])
    agent = HistoryCounter("history-1")
    async with AgentRuntime(store, [agent]):
        await store.append(submitted("new-1"))
        notes = await wait_for_type(store, "context.updated", 3)
    assert agent.handled == ["old-1", "old-2", "new-1"]
    # Each handler saw the views as of its event, not as of the end of the log.
    assert [n.data.value for n in notes if isinstance(n, ContextUpdated)] == [1, 2, 3]


async def test_a_first_start_on_an_empty_log_misses_nothing(store: EventStore) -> None:
    agent = Counter("counter-1")
    async with AgentRuntime(store, [agent]):
        await store.append(submitted("g1"))
        await wait_for_type(store, "context.updated", 1)
    assert agent.handled == ["g1"]


def test_the_crew_processes_the_history_and_observers_start_now() -> None:
    assert [start_policy(c) for c in (Controller, Supervisor, Reviewer, SpecialistWorker)] == [
        "history"
    ] * 4
    assert start_policy(Counter) == "now"
    assert start_policy(HistoryCounter) == "history"


def test_an_unknown_start_policy_is_a_definition_error() -> None:
    with pytest.raises(HandlerDefinitionError, match=r"is 'latest'; known: history, now"):

        class Wrong(Agent):
            start_from = "latest"  # type: ignore[assignment]
