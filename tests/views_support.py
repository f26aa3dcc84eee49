"""A small goal's events, built by hand, for the views' tests (board, panels, web)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callsheet.events.catalog import (
    AnyEvent,
    Budget,
    ConflictDetected,
    ConflictDetectedData,
    GoalSubmitted,
    GoalSubmittedData,
    ModelCalled,
    ModelCalledData,
    TaskAssigned,
    TaskAssignedData,
    TaskBlocked,
    TaskBlockedData,
    TaskPlanned,
    TaskPlannedData,
    TaskQuestion,
    TaskQuestionData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.store import StoredEvent

T0 = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


def goal_events(goal: str = "g1", *, at: datetime = T0) -> list[AnyEvent]:
    """Five tasks: 3 done, 1 blocked, 1 running; a question, a conflict, a model call."""
    submitted = GoalSubmitted.new(
        data=GoalSubmittedData(title="Ship it", budget=Budget(max_cost_usd=2.0, max_tokens=5000)),
        goal_id=goal, producer="cli", occurred_at=at,
    )  # fmt: skip
    events: list[AnyEvent] = [submitted]

    def add(event: AnyEvent) -> AnyEvent:
        events.append(event)
        return event

    for n, title in enumerate(("schema", "api", "ui", "docs", "tests"), start=1):
        task = f"t{n}"
        planned = add(TaskPlanned.new(
            data=TaskPlannedData(title=title, role="backend"), goal_id=goal, task_id=task,
            producer="supervisor", causation_id=submitted.id, occurred_at=at,
        ))  # fmt: skip
        assigned = add(TaskAssigned.new(
            data=TaskAssignedData(role="backend"), goal_id=goal, task_id=task,
            producer="supervisor", causation_id=planned.id, occurred_at=at,
        ))  # fmt: skip
        if n == 5:
            continue  # assigned, not started
        started_at = at + timedelta(seconds=n)
        add(TaskStarted.new(
            data=TaskStartedData(worker=f"backend-{n % 2 + 1}"), goal_id=goal, task_id=task,
            producer=f"backend-{n % 2 + 1}", causation_id=assigned.id, occurred_at=started_at,
        ))  # fmt: skip
        if n <= 3:
            add(TaskResult.new(
                data=TaskResultData(worker=f"backend-{n % 2 + 1}", output={"ok": True}),
                goal_id=goal, task_id=task, producer=f"backend-{n % 2 + 1}",
                causation_id=assigned.id, occurred_at=started_at + timedelta(seconds=1),
            ))  # fmt: skip
        else:
            add(TaskBlocked.new(
                data=TaskBlockedData(worker="backend-1", reason="needs a decision"),
                goal_id=goal, task_id=task, producer="backend-1", causation_id=assigned.id,
                occurred_at=started_at,
            ))  # fmt: skip
            add(TaskQuestion.new(
                data=TaskQuestionData(question_id="q1", worker="backend-1",
                                      question="Markdown or reST?"),
                goal_id=goal, task_id=task, producer="backend-1", causation_id=assigned.id,
                occurred_at=started_at,
            ))  # fmt: skip
    add(ConflictDetected.new(
        data=ConflictDetectedData(conflict_id="c1", kind="file", parties=["t1", "t2"],
                                  subject="auth.py"),
        goal_id=goal, producer="supervisor", causation_id=submitted.id, occurred_at=at,
    ))  # fmt: skip
    add(ModelCalled.new(
        data=ModelCalledData(agent="supervisor", provider="offline", model="offline-1",
                             request_digest="sha256:" + "0" * 64, response={}, input_tokens=300,
                             output_tokens=79, cost_usd=0.5),
        goal_id=goal, producer="supervisor", causation_id=submitted.id, occurred_at=at,
    ))  # fmt: skip
    return events


def stored(events: list[AnyEvent], first_seq: int = 1) -> list[StoredEvent]:
    return [
        StoredEvent(first_seq + i, f"cs.ev.{e.goal_id}", e.occurred_at, e)
        for i, e in enumerate(events)
    ]
