"""Deterministic re-drive of agents from a goal run by the real crew (in process)."""

from __future__ import annotations

import pytest

from callsheet.agents import WorkContext, work
from callsheet.crew import Controller, Supervisor, build_crew, worker_class
from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskResultData,
    TaskStarted,
)
from callsheet.events.store import EventStore, StoredEvent
from callsheet.examples.redrive.changed_supervisor import EagerSupervisor
from callsheet.models import ModelReply, ModelRequest
from callsheet.replay.redrive import redrive
from callsheet.testing import assert_redrives_identically, publish, wait_for_event
from callsheet.testing.plugin import StartAgents

GOAL = "g-redrive"


class NoModel:
    """A model that must not be called: a re-drive takes answers from the log."""

    provider = "offline"
    name = "offline-1"

    async def complete(self, request: ModelRequest) -> ModelReply:
        raise AssertionError(f"the model was called during a re-drive: {request.task}")


@pytest.fixture
async def recorded(callsheet_store: EventStore, callsheet_agents: StartAgents) -> list[StoredEvent]:
    """A goal run end to end by a crew with review, in this process (with the test kit)."""
    runtime = await callsheet_agents(*build_crew(lease_seconds=2, step_seconds=0.02, review=True))
    title = GoalSubmittedData(title="Build a user authentication system")
    await publish(callsheet_store, GoalSubmitted, title, goal=GOAL)
    await wait_for_event(callsheet_store, goal=GOAL, types=["goal.completed"], timeout=30)
    await runtime.stop()
    return [s async for s in callsheet_store.read(goal_id=GOAL)]


async def test_unchanged_supervisor_redrives_identically_without_calling_the_model(
    recorded: list[StoredEvent],
) -> None:
    supervisor = Supervisor("supervisor", model=NoModel(), lease_seconds=2, review=True)
    report = await assert_redrives_identically(supervisor, recorded)
    assert report.recorded == report.emitted > 10
    assert report.handled >= 5


async def test_unchanged_controller_redrives_identically(recorded: list[StoredEvent]) -> None:
    report = await assert_redrives_identically(Controller("controller"), recorded)
    assert report.emitted == report.recorded == 1


async def test_the_assertion_fails_on_a_divergence_and_on_nothing_compared(
    recorded: list[StoredEvent],
) -> None:
    with pytest.raises(AssertionError, match="diverged"):
        await assert_redrives_identically(EagerSupervisor("supervisor", lease_seconds=2), recorded)
    with pytest.raises(AssertionError, match="nothing to re-drive"):
        await assert_redrives_identically(worker_class("backend")("backend-99"), recorded)


async def test_a_changed_handler_is_caught_where_it_diverges(
    recorded: list[StoredEvent],
) -> None:
    report = await redrive(
        EagerSupervisor("supervisor", model=NoModel(), lease_seconds=2, review=True), recorded
    )
    assert not report.identical
    first = report.divergences[0]
    # At the goal's acceptance it now also assigns the task that waits for others...
    assert first.cause_type == "goal.accepted" and first.kind == "extra"
    assert first.redriven is not None
    assert first.redriven["type"] == "task.assigned" and first.redriven["task_id"] == "tests"
    # ...and no longer assigns it when its dependencies are done.
    later = [d for d in report.divergences if d.kind == "missing" and d.recorded is not None]
    assert any(
        d.recorded is not None
        and d.recorded["type"] == "task.assigned"
        and d.recorded["task_id"] == "tests"
        for d in later
    )


async def test_a_changed_configuration_shows_as_changed_fields(
    recorded: list[StoredEvent],
) -> None:
    report = await redrive(
        Supervisor("supervisor", model=NoModel(), lease_seconds=9, review=True), recorded
    )
    changed = [d for d in report.divergences if d.kind == "changed"]
    assert changed and all(
        any(line.startswith("data.lease_seconds: 2.0 -> 9.0") for line in d.changes)
        for d in changed
    )


async def test_a_question_the_log_never_saw_is_an_error_of_the_redrive(
    recorded: list[StoredEvent],
) -> None:
    # Other roles make the planner's request differ: no recorded answer exists for it.
    report = await redrive(
        Supervisor("supervisor", roles=("qa",), model=NoModel(), lease_seconds=2), recorded
    )
    first = report.divergences[0]
    assert first.redriven is not None and first.redriven["type"] == "agent.error"
    assert "no recorded plan call" in first.redriven["data"]["error"]


async def test_unchanged_workers_redrive_identically_without_calling_the_model(
    recorded: list[StoredEvent],
) -> None:
    started = [s.event for s in recorded if isinstance(s.event, TaskStarted)]
    workers = {(e.data.worker, e.task_id) for e in started}
    assert workers
    for name in sorted({w for w, _ in workers}):
        role = next(
            s.event.data.role
            for s in recorded
            if isinstance(s.event, TaskAssigned)
            and any(w == name and t == s.event.task_id for w, t in workers)
        )
        worker = worker_class(role, lease_seconds=2, step_seconds=0.02)(name, model=NoModel())
        report = await redrive(worker, recorded)
        assert report.identical, (name, report.divergences)
        # Each delivery: started, the model call, checkpoints and progress, artifact, result.
        assert report.handled == sum(1 for e in started if e.data.worker == name)
        assert report.emitted == report.recorded >= 6 * report.handled


async def test_a_worker_that_reports_differently_is_caught_in_its_delivery(
    recorded: list[StoredEvent],
) -> None:
    first = next(s.event for s in recorded if isinstance(s.event, TaskStarted))
    role = next(
        s.event.data.role
        for s in recorded
        if isinstance(s.event, TaskAssigned) and s.event.id == first.causation_id
    )

    class Louder(worker_class(role, lease_seconds=2, step_seconds=0.02)):  # type: ignore[misc]
        @work()
        async def perform(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
            await ctx.progress(1.0, "starting")
            result: TaskResultData = await super().perform(event, ctx)
            return result

    report = await redrive(Louder(first.data.worker, model=NoModel()), recorded)
    assert not report.identical
    divergence = report.divergences[0]
    assert divergence.cause_id == first.causation_id and divergence.delivery == 1
    assert divergence.kind == "changed"
    # Live, the first report after task.started was the model call; now it is the progress.
    assert "type: 'model.called' -> 'task.progress'" in divergence.changes
