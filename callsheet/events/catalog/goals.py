"""Goal-level events: submission, acceptance, planning, replanning, completion."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from callsheet.events.catalog.findings import PERSPECTIVES, Perspective
from callsheet.events.envelope import Event, Id, Json, NonNegative, Payload, Text

__all__ = [
    "Budget",
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
    "PlanProposed",
    "PlanProposedData",
    "PlannedTask",
    "ReplanTrigger",
    "Replanned",
    "ReplannedData",
    "ReviewSpec",
]


class Budget(Payload, kw_only=True, frozen=True):
    """Spending limits for a goal; an unset limit is unlimited.

    The per-agent limits hold for each agent on its own: what any one agent
    (a worker, the supervisor) spends on the goal.
    """

    max_cost_usd: Annotated[
        Annotated[float, Meta(ge=0)] | None, Meta(description="Money limit in USD.")
    ] = None
    max_tokens: Annotated[NonNegative | None, Meta(description="Token limit, all models.")] = None
    max_cost_usd_per_agent: Annotated[
        Annotated[float, Meta(ge=0)] | None,
        Meta(description="Money limit in USD of each agent on the goal."),
    ] = None
    max_tokens_per_agent: Annotated[
        NonNegative | None, Meta(description="Token limit of each agent on the goal.")
    ] = None


class ReviewSpec(Payload, kw_only=True, frozen=True):
    """What a code review goal reviews, and how (``callsheet review``)."""

    path: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=4096,
            pattern=r"^/",
            description="Absolute path of the folder or file to review, on the workers' machine.",
        ),
    ]
    perspectives: Annotated[
        list[Perspective], Meta(min_length=1, description="Points of view to review from.")
    ] = msgspec.field(default_factory=lambda: list(PERSPECTIVES))
    split: Annotated[
        Literal["auto", "perspective", "none"],
        Meta(
            description="auto: the planner decides (a small codebase goes to one worker); "
            "perspective: at least one task per perspective; none: one task for everything."
        ),
    ] = "auto"
    lines_per_task: Annotated[
        int, Meta(ge=100, le=10_000_000, description="Target size of a module group, in lines.")
    ] = 4000
    tool_timeout: Annotated[
        float, Meta(gt=0, le=86400, description="Seconds a tool may run before it is stopped.")
    ] = 300.0
    slots: Annotated[
        Annotated[int, Meta(ge=1, le=1024)] | None,
        Meta(
            description="Analysis tasks the crew can run at once (analysts in flight, at most "
            "the machine's cores): the plan cuts no more tasks than this. None: unknown, the "
            "plan splits by lines_per_task alone."
        ),
    ] = None
    python: Annotated[
        Annotated[str, Meta(max_length=4096)] | None,
        Meta(description="Interpreter for the project's own tests; the crew's by default."),
    ] = None
    fix: Annotated[
        bool, Meta(description="Propose fixes as patches, merge and verify them (--fix).")
    ] = False
    max_review_rounds: Annotated[
        int, Meta(ge=1, le=10, description="Reviews of a fix before it is dropped.")
    ] = 2
    reconfirm: Annotated[
        Literal["changed", "always"],
        Meta(
            description="changed: a verifier runs a per-file tool again only on files that "
            "changed since they were analysed (the same bytes give the same findings); "
            "always: on every file with findings."
        ),
    ] = "changed"
    per_rule: Annotated[
        int, Meta(ge=1, le=100000, description="Findings of one rule listed in full by the report.")
    ] = 20


class GoalSubmittedData(Payload, kw_only=True, frozen=True):
    """A user or service asks the crew for something."""

    title: Annotated[str, Meta(min_length=1, max_length=512, description="Short name.")]
    description: Annotated[Text, Meta(description="What is wanted, in full.")] = ""
    requested_by: Annotated[Id | None, Meta(description="Who asked.")] = None
    constraints: Annotated[list[Text], Meta(description="Constraints the result must meet.")] = []
    budget: Annotated[Budget | None, Meta(description="Spending limits.")] = None
    review: Annotated[
        ReviewSpec | None, Meta(description="Set for a code review goal: what to review.")
    ] = None


class GoalSubmitted(Event, tag="goal.submitted", frozen=True, kw_only=True):
    """A goal was submitted to the controller."""

    data: GoalSubmittedData


class GoalAcceptedData(Payload, kw_only=True, frozen=True):
    """The controller validated the goal and started a supervisor for it."""

    supervisor: Annotated[Id, Meta(description="Agent id of the supervisor in charge.")]


class GoalAccepted(Event, tag="goal.accepted", frozen=True, kw_only=True):
    """The controller accepted a goal."""

    data: GoalAcceptedData


class GoalRejectedData(Payload, kw_only=True, frozen=True):
    """The controller refused the goal."""

    reason: Annotated[Text, Meta(description="Why, for the person who submitted it.")]


class GoalRejected(Event, tag="goal.rejected", frozen=True, kw_only=True):
    """The controller rejected a goal."""

    data: GoalRejectedData


class GoalScopeChangedData(Payload, kw_only=True, frozen=True):
    """The requester changed what the goal asks for, mid-flight."""

    change: Annotated[Text, Meta(description="What is added, removed or altered.")]
    requested_by: Annotated[Id | None, Meta(description="Who asked for the change.")] = None


class GoalScopeChanged(Event, tag="goal.scope_changed", frozen=True, kw_only=True):
    """The scope of a goal changed; the supervisor replans."""

    data: GoalScopeChangedData


class GoalCancelledData(Payload, kw_only=True, frozen=True):
    """The goal is abandoned."""

    reason: Annotated[Text, Meta(description="Why the goal was cancelled.")]


class GoalCancelled(Event, tag="goal.cancelled", frozen=True, kw_only=True):
    """A goal was cancelled."""

    data: GoalCancelledData


class GoalCompletedData(Payload, kw_only=True, frozen=True):
    """The supervisor assembled the final result."""

    outcome: Annotated[
        Literal["succeeded", "failed", "partial"], Meta(description="How the goal ended.")
    ]
    summary: Annotated[Text, Meta(description="The assembled result, in short.")] = ""
    artifact_ids: Annotated[list[Id], Meta(description="Artifacts making up the result.")] = []


class GoalCompleted(Event, tag="goal.completed", frozen=True, kw_only=True):
    """A goal reached its end."""

    data: GoalCompletedData


class PlannedTask(Payload, kw_only=True, frozen=True):
    """One task of a plan."""

    task_id: Annotated[Id, Meta(description="Id of the task.")]
    title: Annotated[str, Meta(min_length=1, max_length=512, description="Short name.")]
    role: Annotated[Id, Meta(description="Worker role that should do it.")]
    depends_on: Annotated[list[Id], Meta(description="Tasks that must finish first.")] = []
    priority: Annotated[int, Meta(ge=0, le=9, description="0 is most urgent.")] = 5
    estimate_seconds: Annotated[
        Annotated[float, Meta(ge=0)] | None, Meta(description="Expected duration.")
    ] = None
    inputs: Annotated[
        dict[str, Json], Meta(description="Inputs the assignment will carry, by name.")
    ] = {}
    context_keys: Annotated[
        list[Id], Meta(description="Context-store entries the worker will need.")
    ] = []


class PlanProposedData(Payload, kw_only=True, frozen=True):
    """The supervisor's decomposition of a goal."""

    plan_version: Annotated[int, Meta(ge=1, description="Increases with every replan.")]
    tasks: Annotated[list[PlannedTask], Meta(description="The tasks of the plan.")]
    rationale: Annotated[Text, Meta(description="Why the goal is cut this way.")] = ""


class PlanProposed(Event, tag="plan.proposed", frozen=True, kw_only=True):
    """A supervisor proposed a plan for a goal."""

    data: PlanProposedData


ReplanTrigger = Literal[
    "task_failed",
    "scope_changed",
    "complexity",
    "opportunity",
    "worker_failed",
    "conflict",
    "inventory",
    "other",
]
"""What makes a supervisor replan."""


class ReplannedData(Payload, kw_only=True, frozen=True):
    """The plan changed: what triggered it and what is different."""

    plan_version: Annotated[int, Meta(ge=1, description="The new plan's version.")]
    trigger: Annotated[ReplanTrigger, Meta(description="What made the supervisor replan.")]
    reason: Annotated[Text, Meta(description="Why, in words.")]
    added: Annotated[list[PlannedTask], Meta(description="New tasks.")] = []
    removed: Annotated[list[Id], Meta(description="Task ids dropped from the plan.")] = []
    cause_task_id: Annotated[Id | None, Meta(description="The task that triggered it.")] = None


class Replanned(Event, tag="plan.replanned", frozen=True, kw_only=True):
    """A supervisor changed the plan."""

    data: ReplannedData
