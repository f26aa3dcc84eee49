"""``callsheet demo``: publish a sample goal's events, read them back, fold the board.

Until the agent runtime exists, the demo plays the crew's part itself: the events
are the ones a supervisor and three workers would emit, appended through the
store (the plan as one atomic batch, each task with optimistic concurrency).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from callsheet.cli.common import open_store, run
from callsheet.cli.events_cmd import format_line
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalAccepted,
    GoalAcceptedData,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    PlannedTask,
    PlanProposed,
    PlanProposedData,
    TaskAssigned,
    TaskAssignedData,
    TaskPlanned,
    TaskPlannedData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.projections.board import Board, fold

__all__ = ["demo"]

_TASKS = [
    ("schema", "Design the database schema", "database"),
    ("api", "Write the API endpoints", "backend"),
    ("ui", "Build the login UI", "frontend"),
]


def _events(goal: str) -> tuple[list[Event], list[list[Event]]]:
    """The goal's opening events, and each task's events in order."""
    submitted = GoalSubmitted.new(
        data=GoalSubmittedData(title="Build a user authentication system"),
        goal_id=goal,
        producer="demo-user",
    )
    accepted = GoalAccepted.new(
        data=GoalAcceptedData(supervisor="supervisor-1"),
        goal_id=goal,
        producer="controller",
        causation_id=submitted.id,
    )
    plan = PlanProposed.new(
        data=PlanProposedData(
            plan_version=1,
            tasks=[PlannedTask(task_id=t, title=title, role=role) for t, title, role in _TASKS],
            rationale="three independent parts that can run in parallel",
        ),
        goal_id=goal,
        producer="supervisor-1",
        causation_id=accepted.id,
    )
    contract = ContextUpdated.new(
        data=ContextUpdatedData(
            key="api.auth.response",
            kind="interface_contract",
            value={"token": "string", "expires_at": "datetime", "user_id": "string"},
            author="supervisor-1",
        ),
        goal_id=goal,
        producer="supervisor-1",
        causation_id=plan.id,
    )
    per_task: list[list[Event]] = []
    for task_id, title, role in _TASKS:
        worker = f"{role}-worker-1"
        planned = TaskPlanned.new(
            data=TaskPlannedData(title=title, role=role),
            goal_id=goal,
            task_id=task_id,
            producer="supervisor-1",
            causation_id=plan.id,
        )
        assigned = TaskAssigned.new(
            data=TaskAssignedData(
                role=role, instructions=title, context_keys=["api.auth.response"]
            ),
            goal_id=goal,
            task_id=task_id,
            producer="supervisor-1",
            causation_id=planned.id,
        )
        begun = TaskStarted.new(
            data=TaskStartedData(worker=worker),
            goal_id=goal,
            task_id=task_id,
            producer=worker,
            causation_id=assigned.id,
        )
        halfway = TaskProgress.new(
            data=TaskProgressData(worker=worker, percent=50.0, note="half done"),
            goal_id=goal,
            task_id=task_id,
            producer=worker,
            causation_id=begun.id,
        )
        result = TaskResult.new(
            data=TaskResultData(worker=worker, output={"done": title}, summary=f"{title}: done"),
            goal_id=goal,
            task_id=task_id,
            producer=worker,
            causation_id=halfway.id,
        )
        per_task.append([planned, assigned, begun, halfway, result])
    return [submitted, accepted, plan, contract], per_task


@click.command()
@click.option("--goal", "goal_id", default=None, help="Goal id; a fresh one by default.")
def demo(goal_id: str | None) -> None:
    """Publish a sample goal's events, read them back and fold them into a board."""
    goal = goal_id or "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")

    async def main() -> None:
        async with open_store() as store:
            opening, per_task = _events(goal)
            for event in opening:
                await store.append(event)
            # The plan's task cards, atomically: all tasks exist or none.
            await store.append_batch([events[0] for events in per_task])
            # Each task moves on with optimistic concurrency on its own entity.
            for events in per_task:
                last = await store.last_seq(goal, events[0].task_id)
                for event in events[1:]:
                    last = (await store.append(event, expected_last_seq=last)).seq
            last_result = per_task[-1][-1]
            completed = GoalCompleted.new(
                data=GoalCompletedData(outcome="succeeded", summary="auth system assembled"),
                goal_id=goal,
                producer="supervisor-1",
                causation_id=last_result.id,
            )
            await store.append(completed)
            click.echo(f"goal {goal}: events in the log")
            board = Board()
            async for stored in store.read(goal_id=goal):
                click.echo(format_line(stored))
                board = fold(board, stored.event)
        click.echo("")
        click.echo(f"board of {board.goal_id!r} ({board.title}) after {board.events} events:")
        for card in board.tasks.values():
            click.echo(
                f"  {card.task_id:<8} {card.status:<9} {card.role:<10} "
                f"{card.worker or '-':<20} {card.percent:5.1f}%"
            )
        click.echo(f"outcome: {board.outcome}")
        click.echo(f"see the events again with: callsheet events --goal {goal}")

    run(main)
