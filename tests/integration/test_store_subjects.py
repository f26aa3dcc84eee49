"""A body that does not match its subject is refused on read, reported, and never fatal."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from callsheet.agents import Agent, AgentRuntime, HandlerContext, on
from callsheet.events.catalog import (
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.codec import encode
from callsheet.events.envelope import Event
from callsheet.events.store import CorruptEventError, EventStore
from callsheet.events.subjects import event_subject
from callsheet.projections import PROJECTIONS
from callsheet.projections.runner import ProjectionRunner
from tests.support import assert_eventually

GOAL = "g-forged"


def completed(goal: str = GOAL) -> GoalCompleted:
    return GoalCompleted.new(
        data=GoalCompletedData(outcome="succeeded"), goal_id=goal, producer="w"
    )


def progress() -> TaskProgress:
    return TaskProgress.new(
        data=TaskProgressData(worker="w", percent=50.0), goal_id=GOAL, task_id="t1", producer="w"
    )


async def forge(nc: Client, store: EventStore, subject_of: Event, body: Event) -> int:
    """Store ``body`` on the subject ``subject_of`` has: what a raw publisher can do."""
    subject = event_subject(
        subject_of.goal_id,
        subject_of.task_id,
        subject_of.event_type,
        subject_of.route_role,
        root=store.config.root,
    )
    ack = await nc.jetstream().publish(subject, encode(body), stream=store.config.stream)
    return ack.seq


def assigned(role: str) -> TaskAssigned:
    return TaskAssigned.new(
        data=TaskAssignedData(role=role), goal_id=GOAL, task_id="t1", producer="s"
    )


FORGERIES = {
    "type": (progress(), completed()),
    "goal": (completed("g-other"), completed()),
    "task": (
        progress(),
        TaskProgress.new(
            data=TaskProgressData(worker="w", percent=1.0), goal_id=GOAL, task_id="t2", producer="w"
        ),
    ),
    "role": (assigned("analyst"), assigned("writer")),
}


@pytest.mark.parametrize("what", sorted(FORGERIES))
async def test_a_body_that_does_not_match_its_subject_is_reported_and_skipped(
    nc: Client, store: EventStore, what: str
) -> None:
    subject_of, body = FORGERIES[what]
    before = await store.append(
        GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id=GOAL, producer="x")
    )
    seq = await forge(nc, store, subject_of, body)
    after = await store.append(progress())

    reported: list[CorruptEventError] = []
    read = [s.seq async for s in store.read(on_corrupt=reported.append)]
    assert read == [before.seq, after.seq]  # the rest of the log is read
    assert [e.seq for e in reported] == [seq]
    assert "belongs on" in reported[0].reason
    with pytest.raises(CorruptEventError):
        _ = [s async for s in store.read()]
    with pytest.raises(CorruptEventError):
        await store.get(seq)


async def test_a_subscription_and_a_projection_skip_a_forged_goal_end(
    nc: Client, store: EventStore
) -> None:
    await store.append(
        GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id=GOAL, producer="x")
    )
    forged = await forge(nc, store, progress(), completed())
    last = await store.append(progress())
    reported: list[CorruptEventError] = []
    async with store.subscribe(goal_id=GOAL, on_corrupt=reported.append) as sub:
        seen = [(await sub.__anext__()).event.event_type for _ in range(2)]
    assert seen == ["goal.submitted", "task.progress"]
    assert [e.seq for e in reported] == [forged]

    runner = ProjectionRunner(store, PROJECTIONS["board"], goal_id=GOAL)
    state = await runner.catch_up()
    assert state.goals[GOAL].outcome is None  # not fooled into "succeeded"
    assert runner.seq == last.seq
    assert [q.seq for q in runner.quarantine.entries] == [forged]


class Watcher(Agent):
    durable = "forgery-watcher"
    start_from = "history"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[str] = []

    @on()
    async def progressed(self, event: TaskProgress, ctx: HandlerContext) -> None:
        self.seen.append(event.event_type)

    @on()
    async def completed(self, event: GoalCompleted, ctx: HandlerContext) -> None:
        self.seen.append(event.event_type)


async def test_an_agent_is_not_handed_a_forged_event(nc: Client, store: EventStore) -> None:
    watcher = Watcher("watcher-1")
    await forge(nc, store, progress(), completed())
    await store.append(progress())
    async with AgentRuntime(store, [watcher]):

        async def saw_progress() -> bool:
            return "task.progress" in watcher.seen

        await assert_eventually(saw_progress, timeout=20, message="the agent stopped")
    assert watcher.seen == ["task.progress"]
