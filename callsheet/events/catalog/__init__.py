"""The finite, typed catalog of events: a tagged union on the ``type`` field."""

from __future__ import annotations

from typing import TypeAlias

from callsheet.events.catalog.aggregates import AggregateRecorded, AggregateRecordedData
from callsheet.events.catalog.costs import (
    BudgetExceeded,
    BudgetExceededData,
    ModelCalled,
    ModelCalledData,
    ToolCalled,
    ToolCalledData,
    UsageRecorded,
    UsageRecordedData,
)
from callsheet.events.catalog.findings import (
    PERSPECTIVES,
    SEVERITIES,
    AnalysisSkipped,
    AnalysisSkippedData,
    FindingReported,
    FindingReportedData,
    FindingVerified,
    FindingVerifiedData,
    FixEdit,
    Perspective,
    Severity,
    SuggestedFix,
)
from callsheet.events.catalog.goals import (
    Budget,
    GoalAccepted,
    GoalAcceptedData,
    GoalCancelled,
    GoalCancelledData,
    GoalCompleted,
    GoalCompletedData,
    GoalRejected,
    GoalRejectedData,
    GoalScopeChanged,
    GoalScopeChangedData,
    GoalSubmitted,
    GoalSubmittedData,
    PlannedTask,
    PlanProposed,
    PlanProposedData,
    Replanned,
    ReplannedData,
    ReplanTrigger,
    ReviewSpec,
)
from callsheet.events.catalog.patches import FixedFinding, PatchProposed, PatchProposedData
from callsheet.events.catalog.tasks import (
    TaskAnswered,
    TaskAnsweredData,
    TaskAssigned,
    TaskAssignedData,
    TaskBlocked,
    TaskBlockedData,
    TaskCancelled,
    TaskCancelledData,
    TaskCheckpoint,
    TaskCheckpointData,
    TaskFailed,
    TaskFailedData,
    TaskHeartbeat,
    TaskHeartbeatData,
    TaskPlanned,
    TaskPlannedData,
    TaskProgress,
    TaskProgressData,
    TaskQuestion,
    TaskQuestionData,
    TaskReassigned,
    TaskReassignedData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.catalog.team import (
    AgentError,
    AgentErrorData,
    ArtifactPublished,
    ArtifactPublishedData,
    ConflictDetected,
    ConflictDetectedData,
    ConflictResolved,
    ConflictResolvedData,
    ContextUpdated,
    ContextUpdatedData,
    ReviewCompleted,
    ReviewCompletedData,
    ReviewFinding,
    ReviewRequested,
    ReviewRequestedData,
)
from callsheet.events.envelope import Event

__all__ = [
    "EVENT_TYPES",
    "PERSPECTIVES",
    "SEVERITIES",
    "TASK_LEVEL_TYPES",
    "AgentError",
    "AgentErrorData",
    "AggregateRecorded",
    "AggregateRecordedData",
    "AnalysisSkipped",
    "AnalysisSkippedData",
    "AnyEvent",
    "ArtifactPublished",
    "ArtifactPublishedData",
    "Budget",
    "BudgetExceeded",
    "BudgetExceededData",
    "ConflictDetected",
    "ConflictDetectedData",
    "ConflictResolved",
    "ConflictResolvedData",
    "ContextUpdated",
    "ContextUpdatedData",
    "FindingReported",
    "FindingReportedData",
    "FindingVerified",
    "FindingVerifiedData",
    "FixEdit",
    "FixedFinding",
    "GoalAccepted",
    "GoalAcceptedData",
    "GoalCancelled",
    "GoalCancelledData",
    "GoalCompleted",
    "GoalCompletedData",
    "GoalRejected",
    "GoalRejectedData",
    "GoalScopeChanged",
    "GoalScopeChangedData",
    "GoalSubmitted",
    "GoalSubmittedData",
    "ModelCalled",
    "ModelCalledData",
    "PatchProposed",
    "PatchProposedData",
    "Perspective",
    "PlanProposed",
    "PlanProposedData",
    "PlannedTask",
    "ReplanTrigger",
    "Replanned",
    "ReplannedData",
    "ReviewCompleted",
    "ReviewCompletedData",
    "ReviewFinding",
    "ReviewRequested",
    "ReviewRequestedData",
    "ReviewSpec",
    "Severity",
    "SuggestedFix",
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
    "ToolCalled",
    "ToolCalledData",
    "UsageRecorded",
    "UsageRecordedData",
]

AnyEvent: TypeAlias = (
    GoalSubmitted
    | GoalAccepted
    | GoalRejected
    | GoalScopeChanged
    | GoalCancelled
    | GoalCompleted
    | PlanProposed
    | Replanned
    | TaskPlanned
    | TaskAssigned
    | TaskStarted
    | TaskProgress
    | TaskBlocked
    | TaskQuestion
    | TaskAnswered
    | TaskHeartbeat
    | TaskCheckpoint
    | TaskResult
    | TaskFailed
    | TaskCancelled
    | TaskReassigned
    | ArtifactPublished
    | ContextUpdated
    | ConflictDetected
    | ConflictResolved
    | ReviewRequested
    | ReviewCompleted
    | AgentError
    | ModelCalled
    | ToolCalled
    | UsageRecorded
    | BudgetExceeded
    | AggregateRecorded
    | FindingReported
    | FindingVerified
    | AnalysisSkipped
    | PatchProposed
)
"""Any event of the catalog; decoding picks the class from the ``type`` tag."""

EVENT_TYPES: dict[str, type[Event]] = {
    str(cls.__struct_config__.tag): cls for cls in AnyEvent.__args__
}
"""Every event class of the catalog, by its ``type``."""

TASK_LEVEL_TYPES: frozenset[str] = frozenset(
    t
    for t in EVENT_TYPES
    if t.startswith(("task.", "finding.", "analysis.", "patch.")) or t == "aggregate.recorded"
)
"""Types that must carry a ``task_id``: the entity they change (a task, or an aggregate).

Findings and skipped analyses belong to the task that reported them."""
