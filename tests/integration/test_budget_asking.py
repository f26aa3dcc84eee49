"""The supervisor asks a person before a task would pass a budget, on a real nats-server.

Workers here spend a fixed 100 tokens per task through a recorded model call, so
what a task would spend is known from the ones before it: a (100), b (100), c.
"""

from __future__ import annotations

from typing import Any, TypeVar

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.agents.recording import call_model
from callsheet.crew import Controller, Supervisor
from callsheet.events.catalog import (
    Budget,
    BudgetExceeded,
    ContextUpdated,
    GoalCancelled,
    GoalCompleted,
    GoalSubmitted,
    GoalSubmittedData,
    ModelCalled,
    TaskAnswered,
    TaskAnsweredData,
    TaskAssigned,
    TaskCancelled,
    TaskQuestion,
    TaskResult,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.models import ModelReply, ModelRequest
from callsheet.replay import causal_chain
from tests.support import assert_eventually

E = TypeVar("E", bound=Event)

PLAN: list[dict[str, Any]] = [
    {"task_id": "a", "title": "first", "role": "alpha"},
    {"task_id": "b", "title": "second", "role": "alpha", "depends_on": ["a"]},
    {"task_id": "c", "title": "third", "role": "alpha", "depends_on": ["b"]},
]
ENDS = ("goal.completed", "goal.cancelled", "goal.rejected")


class Fixed:
    """Plans ``plan`` for nothing; every other call costs 90 + 10 tokens."""

    provider = "offline"
    name = "fixed"

    def __init__(self, plan: list[dict[str, Any]] | None = None) -> None:
        self.plan = plan or PLAN

    async def complete(self, request: ModelRequest) -> ModelReply:
        if request.task == "plan":
            return ModelReply(output={"tasks": self.plan, "rationale": "one after another"})
        return ModelReply(
            output={"answer": "the model's answer"}, input_tokens=90, output_tokens=10
        )


class Spender(Agent):
    """Calls the model once per task; a task titled ``ask a person`` asks a human first."""

    kind = "worker"
    role = "alpha"
    lease_seconds = 5.0

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        if event.data.instructions == "ask a person":
            said = await ctx.ask("which colour?", timeout=30, addressed_to="human")
            return {"said": said}
        await call_model(ctx, Fixed(), ModelRequest(task="work", prompt=event.data.instructions))
        return {"by": self.name}


def crew(plan: list[dict[str, Any]] | None = None) -> list[Agent]:
    return [
        Controller("controller"),
        Supervisor("supervisor", roles=("alpha",), model=Fixed(plan), lease_seconds=5),
        Spender("alpha-1"),
    ]


async def events_of(store: EventStore, goal: str) -> list[Event]:
    return [s.event async for s in store.read(goal_id=goal)]


async def question(store: EventStore, goal: str, n: int = 1) -> TaskQuestion:
    """The ``n``-th question of the goal, once it was asked."""
    found: list[TaskQuestion] = []

    async def asked() -> bool:
        found[:] = [e for e in await events_of(store, goal) if isinstance(e, TaskQuestion)]
        return len(found) >= n

    await assert_eventually(asked, timeout=30, message=f"no question {n}")
    return found[n - 1]


async def answer(store: EventStore, q: TaskQuestion, text: str) -> None:
    data = TaskAnsweredData(question_id=q.data.question_id, answer=text, answered_by="human:ann")
    await store.append(
        TaskAnswered.new(
            data=data,
            goal_id=q.goal_id,
            task_id=q.task_id,
            producer="human:ann",
            causation_id=q.id,  # as `callsheet answer` does: the answer reacts to the question
        )
    )


async def end(store: EventStore, goal: str) -> list[Event]:
    async def ended() -> bool:
        return any(e.event_type in ENDS for e in await events_of(store, goal))

    await assert_eventually(ended, timeout=30, message="the goal did not end")
    return await events_of(store, goal)


def submit(goal: str, budget: Budget, title: str = "Build it") -> GoalSubmitted:
    data = GoalSubmittedData(title=title, budget=budget)
    return GoalSubmitted.new(data=data, goal_id=goal, producer="test")


def of(events: list[Event], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]


def assigned(events: list[Event]) -> list[str]:
    return [e.task_id or "" for e in events if e.event_type == "task.assigned"]


async def test_a_task_that_would_pass_the_budget_waits_for_a_raise(store: EventStore) -> None:
    async with AgentRuntime(store, crew()):
        await store.append(submit("g1", Budget(max_tokens=250)))
        q = await question(store, "g1")
        # a and b cost 200; c would cost 100 more: 300 > 250. The model does not answer.
        assert (q.task_id, q.data.addressed_to, q.data.kind, q.producer) == (
            "c",
            "human",
            "budget",
            "supervisor",
        )
        assert "the goal's token limit of 250 tokens: 200 tokens spent" in q.data.question
        assert "about 100 tokens for c (from the mean of 2 finished alpha tasks)" in q.data.question
        assert f"callsheet answer {q.data.question_id} TEXT" in q.data.question
        before = await events_of(store, "g1")
        assert assigned(before) == ["a", "b"]
        assert not [e for e in before if e.event_type == "task.answered"]
        await answer(store, q, "raise tokens by 100")
        events = await end(store, "g1")
    assert [e.data.outcome for e in of(events, GoalCompleted)] == ["succeeded"]
    (decision,) = of(events, ContextUpdated)
    assert (decision.data.key, decision.data.kind) == ("budget", "decision")
    assert decision.data.value["budget"]["max_tokens"] == 350
    assert not of(events, BudgetExceeded)
    # Why c was assigned: the decision, the answer, the question, back to the goal.
    c = next(e for e in of(events, TaskAssigned) if e.task_id == "c")
    stored = [s async for s in store.read(goal_id="g1")]
    chain = [s.event.event_type for s in causal_chain(stored, c.id)[0]]
    assert chain[-4:] == ["task.question", "task.answered", "context.updated", "task.assigned"]
    assert chain[0] == "goal.submitted"


async def test_go_on_lets_the_task_pass_by_its_estimate_and_stop_cancels(
    store: EventStore,
) -> None:
    async with AgentRuntime(store, crew()):
        await store.append(submit("g2", Budget(max_tokens=250)))
        await answer(store, await question(store, "g2"), "go on")
        went_on = await end(store, "g2")
        await store.append(submit("g3", Budget(max_tokens=150)))
        await answer(store, await question(store, "g3"), "Stop.")
        stopped = await end(store, "g3")
    assert assigned(went_on) == ["a", "b", "c"]
    (decision,) = of(went_on, ContextUpdated)
    value = decision.data.value
    assert value["allow"] == ["c"] and value["budget"]["max_tokens"] == 300
    assert went_on[-1].event_type == "goal.completed"
    # Stopped at b: b and c are cancelled with the goal, naming who stopped it.
    assert assigned(stopped) == ["a"]
    assert [e.task_id for e in of(stopped, TaskCancelled)] == ["b", "c"]
    (gone,) = of(stopped, GoalCancelled)
    assert gone is stopped[-1] and "stopped by human:ann" in gone.data.reason


async def test_an_answer_it_cannot_use_is_asked_again(store: EventStore) -> None:
    async with AgentRuntime(store, crew()):
        await store.append(submit("g4", Budget(max_tokens=250)))
        first = await question(store, "g4")
        await answer(store, first, "sure, whatever")
        second = await question(store, "g4", 2)
        assert second.task_id == "c" and second.data.question_id != first.data.question_id
        assert "The answer 'sure, whatever' of human:ann could not be used" in second.data.question
        await answer(store, second, "raise cost to 5")  # readable, but there is no cost limit
        third = await question(store, "g4", 3)
        assert "the goal's cost limit is not set" in third.data.question
        assert assigned(await events_of(store, "g4")) == ["a", "b"]
        await answer(store, third, "raise tokens to 1k")
        events = await end(store, "g4")
    assert events[-1].event_type == "goal.completed"
    assert assigned(events) == ["a", "b", "c"]


async def test_the_per_agent_limit_pauses_the_goal_too(store: EventStore) -> None:
    async with AgentRuntime(store, crew()):
        await store.append(submit("g5", Budget(max_tokens_per_agent=250)))
        q = await question(store, "g5")
        assert "agent alpha-1's per-agent token limit of 250 tokens" in q.data.question
        await answer(store, q, "raise agent tokens by 50")
        events = await end(store, "g5")
    assert events[-1].event_type == "goal.completed"


async def test_a_breach_that_happens_anyway_stops_the_goal_and_names_the_agent(
    store: EventStore,
) -> None:
    # No estimate for the first task: it starts, spends 100 tokens, past the agent's 50.
    async with AgentRuntime(store, crew()):
        await store.append(submit("g6", Budget(max_tokens_per_agent=50)))
        events = await end(store, "g6")
    (breach,) = [e for e in events if isinstance(e, BudgetExceeded)]
    d = breach.data
    assert (d.scope, d.scope_id, d.limit_tokens, d.spent_tokens, d.action) == (
        "agent",
        "alpha-1",
        50,
        100,
        "stop",
    )
    assert events[-1].event_type == "goal.cancelled"
    assert assigned(events) == ["a"]


async def test_the_model_leaves_a_question_meant_for_a_person_to_a_person(
    store: EventStore,
) -> None:
    asking = [{"task_id": "a", "title": "ask a person", "role": "alpha"}]
    async with AgentRuntime(store, crew(asking)):
        await store.append(submit("g7", Budget(max_tokens=1000)))
        q = await question(store, "g7")
        assert (q.producer, q.data.addressed_to, q.data.kind) == (
            "alpha-1",
            "human",
            "clarification",
        )
        calls = [e for e in await events_of(store, "g7") if isinstance(e, ModelCalled)]
        assert [c.data.request["task"] for c in calls] == ["plan"]
        await answer(store, q, "blue")
        events = await end(store, "g7")
    (result,) = of(events, TaskResult)
    assert result.data.output == {"said": "blue"}
