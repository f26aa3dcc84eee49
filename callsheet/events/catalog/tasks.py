"""Task lifecycle events: the handoff, progress, blockers, questions, results."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from callsheet.events.envelope import Event, Id, Json, NonNegative, Payload, Text, UtcTime

__all__ = [
    "TaskAnswered",
    "TaskAnsweredData",
    "TaskAssigned",
    "TaskAssignedData",
    "TaskBlocked",
    "TaskBlockedData",
    "TaskCancelled",
    "TaskCancelledData",
    "TaskCheckpoint",
    "TaskCheckpointData",
    "TaskFailed",
    "TaskFailedData",
    "TaskHeartbeat",
    "TaskHeartbeatData",
    "TaskPlanned",
    "TaskPlannedData",
    "TaskProgress",
    "TaskProgressData",
    "TaskQuestion",
    "TaskQuestionData",
    "TaskReassigned",
    "TaskReassignedData",
    "TaskResult",
    "TaskResultData",
    "TaskStarted",
    "TaskStartedData",
]

Priority = Annotated[int, Meta(ge=0, le=9, description="0 is most urgent.")]


class TaskPlannedData(Payload, kw_only=True, frozen=True):
    """A task exists in the plan, not yet handed to anyone."""

    title: Annotated[str, Meta(min_length=1, max_length=512, description="Short name.")]
    description: Annotated[Text, Meta(description="What to do.")] = ""
    role: Annotated[Id, Meta(description="Worker role that should do it.")]
    depends_on: Annotated[list[Id], Meta(description="Tasks that must finish first.")] = []
    priority: Priority = 5
    deadline: Annotated[UtcTime | None, Meta(description="When it must be done.")] = None
    parent_task_id: Annotated[Id | None, Meta(description="Task this one was split from.")] = None
    inputs: Annotated[
        dict[str, Json], Meta(description="Inputs the assignment will carry, by name.")
    ] = {}
    context_keys: Annotated[
        list[Id], Meta(description="Context-store entries the worker will need.")
    ] = []


class TaskPlanned(Event, tag="task.planned", frozen=True, kw_only=True):
    """A task was added to a goal's plan."""

    data: TaskPlannedData


class TaskAssignedData(Payload, kw_only=True, frozen=True):
    """The handoff: here is a task with these inputs."""

    role: Annotated[Id, Meta(description="Role whose worker pool takes the task.")]
    attempt: Annotated[int, Meta(ge=1, description="1 for the first try, then 2, 3...")] = 1
    instructions: Annotated[Text, Meta(description="What to do, scoped for the worker.")] = ""
    inputs: Annotated[dict[str, Json], Meta(description="Inputs, by name.")] = {}
    context_keys: Annotated[
        list[Id], Meta(description="Context-store entries the worker should read.")
    ] = []
    priority: Priority = 5
    deadline: Annotated[UtcTime | None, Meta(description="When it must be done.")] = None
    lease_seconds: Annotated[
        float, Meta(gt=0, description="Lease length: silence longer than this loses the task.")
    ] = 30.0
    max_attempts: Annotated[int, Meta(ge=1, description="Deliveries before it fails.")] = 3
    resume_from: Annotated[
        Id | None, Meta(description="Checkpoint to resume from, when reassigned.")
    ] = None
    not_before: Annotated[
        UtcTime | None, Meta(description="Earliest start (a retry's backoff); none: at once.")
    ] = None


class TaskAssigned(Event, tag="task.assigned", frozen=True, kw_only=True):
    """A task was handed to a role's worker pool."""

    data: TaskAssignedData
    route_role_field: ClassVar[str | None] = "role"


class TaskStartedData(Payload, kw_only=True, frozen=True):
    """A worker picked the task up."""

    worker: Annotated[Id, Meta(description="Agent id of the worker.")]
    attempt: Annotated[int, Meta(ge=1, description="Which delivery this is.")] = 1


class TaskStarted(Event, tag="task.started", frozen=True, kw_only=True):
    """A worker started a task."""

    data: TaskStartedData


class TaskProgressData(Payload, kw_only=True, frozen=True):
    """I'm X% done, here is intermediate state."""

    worker: Annotated[Id, Meta(description="Agent id of the worker.")]
    percent: Annotated[float, Meta(ge=0, le=100, description="How far along.")]
    note: Annotated[Text, Meta(description="What was just done.")] = ""


class TaskProgress(Event, tag="task.progress", frozen=True, kw_only=True):
    """A worker reported progress."""

    data: TaskProgressData


class TaskBlockedData(Payload, kw_only=True, frozen=True):
    """I can't continue because of Y."""

    worker: Annotated[Id, Meta(description="Agent id of the worker.")]
    reason: Annotated[Text, Meta(description="What stops the work.")]
    needs: Annotated[Text, Meta(description="What would unblock it.")] = ""
    kind: Annotated[
        Literal["dependency", "resource", "information", "permission", "other"],
        Meta(description="Kind of blocker."),
    ] = "other"


class TaskBlocked(Event, tag="task.blocked", frozen=True, kw_only=True):
    """A worker is blocked."""

    data: TaskBlockedData


class TaskQuestionData(Payload, kw_only=True, frozen=True):
    """I need clarification on Z."""

    question_id: Annotated[Id, Meta(description="Id the answer refers to.")]
    worker: Annotated[
        Id, Meta(description="Agent id of who asks: the task's worker, or the supervisor.")
    ]
    question: Annotated[Text, Meta(description="The question.")]
    addressed_to: Annotated[
        Literal["agent", "human"],
        Meta(
            description="Who answers: an agent (the supervisor's model) or a person "
            "(`callsheet answer`); no agent answers a question meant for a human."
        ),
    ] = "agent"
    kind: Annotated[
        Literal["clarification", "budget"],
        Meta(
            description="budget: the supervisor paused the goal before a task would pass "
            "its budget; the answer follows the grammar of callsheet.crew.answers."
        ),
    ] = "clarification"


class TaskQuestion(Event, tag="task.question", frozen=True, kw_only=True):
    """A worker asked a question."""

    data: TaskQuestionData


class TaskAnsweredData(Payload, kw_only=True, frozen=True):
    """The answer to a worker's question."""

    question_id: Annotated[Id, Meta(description="The question answered.")]
    answer: Annotated[Text, Meta(description="The answer.")]
    answered_by: Annotated[Id, Meta(description="Agent or person who answered.")]


class TaskAnswered(Event, tag="task.answered", frozen=True, kw_only=True):
    """A question was answered."""

    data: TaskAnsweredData


class TaskHeartbeatData(Payload, kw_only=True, frozen=True):
    """I'm still alive and working; extends the lease."""

    worker: Annotated[Id, Meta(description="Agent id of the worker.")]
    attempt: Annotated[int, Meta(ge=1, description="Which delivery this is.")] = 1
    lease_until: Annotated[UtcTime | None, Meta(description="New end of the lease.")] = None


class TaskHeartbeat(Event, tag="task.heartbeat", frozen=True, kw_only=True):
    """A worker's heartbeat for a task."""

    data: TaskHeartbeatData


class TaskCheckpointData(Payload, kw_only=True, frozen=True):
    """Save my state: I can resume from here."""

    checkpoint_id: Annotated[Id, Meta(description="Id to resume from.")]
    worker: Annotated[Id, Meta(description="Agent id of the worker.")]
    state: Annotated[Json, Meta(description="Whatever the worker needs to resume.")]
    note: Annotated[Text, Meta(description="What has been done so far.")] = ""


class TaskCheckpoint(Event, tag="task.checkpoint", frozen=True, kw_only=True):
    """A worker checkpointed a task."""

    data: TaskCheckpointData


class TaskResultData(Payload, kw_only=True, frozen=True):
    """Here is my output."""

    worker: Annotated[Id, Meta(description="Agent id of the worker.")]
    output: Annotated[Json, Meta(description="The structured result.")]
    summary: Annotated[Text, Meta(description="The result in a few lines.")] = ""
    artifact_ids: Annotated[list[Id], Meta(description="Artifacts produced.")] = []


class TaskResult(Event, tag="task.result", frozen=True, kw_only=True):
    """A worker finished a task."""

    data: TaskResultData


class TaskFailedData(Payload, kw_only=True, frozen=True):
    """The task could not be done on this attempt."""

    reason: Annotated[Text, Meta(description="What went wrong.")]
    worker: Annotated[Id | None, Meta(description="Worker, if one was involved.")] = None
    attempt: Annotated[int, Meta(ge=1, description="Which delivery failed.")] = 1
    retryable: Annotated[bool, Meta(description="Whether another try may succeed.")] = True
    error: Annotated[Text | None, Meta(description="Error type and message.")] = None


class TaskFailed(Event, tag="task.failed", frozen=True, kw_only=True):
    """A task failed."""

    data: TaskFailedData


class TaskCancelledData(Payload, kw_only=True, frozen=True):
    """The task is no longer wanted."""

    reason: Annotated[Text, Meta(description="Why it was cancelled.")]


class TaskCancelled(Event, tag="task.cancelled", frozen=True, kw_only=True):
    """A task was cancelled."""

    data: TaskCancelledData


class TaskReassignedData(Payload, kw_only=True, frozen=True):
    """The task moves to another role or worker."""

    from_role: Annotated[Id, Meta(description="Role that had it.")]
    to_role: Annotated[Id, Meta(description="Role that gets it.")]
    reason: Annotated[Text, Meta(description="Why it moved.")]
    attempt: Annotated[int, Meta(ge=1, description="Attempt number of the new assignment.")]
    from_worker: Annotated[Id | None, Meta(description="Worker that had it.")] = None
    attempts_used: Annotated[NonNegative, Meta(description="Deliveries already spent.")] = 0


class TaskReassigned(Event, tag="task.reassigned", frozen=True, kw_only=True):
    """A task was reassigned."""

    data: TaskReassignedData
