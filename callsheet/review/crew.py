"""The review crew's controller and supervisor, and ``build_review_crew``.

The supervisor is the crew's ``Supervisor`` with the review's plan: the inventory
first, then (on its result) the plan of ``review.plan``, recorded as a replan
with the ``inventory`` trigger. A task that fails after its retries does not
stop the review: it is dropped from the plan (recorded, with what it left
unanalysed), its dependents go on, and the report says what is missing. A
failed inventory or report ends the goal, failed, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import msgspec

from callsheet.agents import Agent, HandlerContext, on
from callsheet.crew.controller import Controller
from callsheet.crew.policy import Escalate, FailurePolicy
from callsheet.events.catalog import (
    AnalysisSkipped,
    AnalysisSkippedData,
    GoalAccepted,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmittedData,
    PlannedTask,
    PlanProposed,
    PlanProposedData,
    Replanned,
    ReplannedData,
    TaskResult,
)
from callsheet.models import Model
from callsheet.projections.board import Board
from callsheet.review.detector import ConflictDetector
from callsheet.review.fixer import FixerWorker
from callsheet.review.integrate import Integrator
from callsheet.review.inventory import Inventory
from callsheet.review.opportunity import OpportunitySupervisor
from callsheet.review.patch_review import PatchReviewer
from callsheet.review.plan import (
    ANALYST,
    FIXER,
    INTEGRATE_TASK,
    INTEGRATOR,
    INVENTORY,
    INVENTORY_TASK,
    REPORTER,
    VERIFIER,
    inventory_task,
    plan_review,
)
from callsheet.review.replanning import descoped, latest_report
from callsheet.review.synthesizer import Synthesizer
from callsheet.review.verifier import VerifierWorker
from callsheet.review.workers import AnalystWorker, InventoryWorker

__all__ = [
    "REVIEW_ROLES",
    "ReviewController",
    "ReviewSupervisor",
    "build_review_crew",
]

REVIEW_ROLES = (INVENTORY, ANALYST, VERIFIER, REPORTER, FIXER, INTEGRATOR)
_SKIP_PATHS = 10000


class ReviewController(Controller):
    """Accepts review goals (``goal.submitted`` with ``review``) for the review supervisor."""

    durable = "review-controller"

    def __init__(self, name: str | None = None) -> None:
        """Create it; accepted goals go to ``review-supervisor``."""
        super().__init__(name, supervisor=ReviewSupervisor.durable_name())

    def takes(self, data: GoalSubmittedData) -> bool:
        """Only review goals."""
        return data.review is not None


class ReviewSupervisor(OpportunitySupervisor):
    """Plans a review from the codebase's inventory; see the module docstring."""

    durable = "review-supervisor"
    views: ClassVar[tuple[str, ...]] = (
        "board",
        "costs",
        "findings",
        "conflicts",
        "context",
        "fixes",
    )

    def __init__(
        self,
        name: str | None = None,
        *,
        model: Model | None = None,
        lease_seconds: float = 60.0,
        policy: FailurePolicy | None = None,
        max_queued: int | None = 4,
    ) -> None:
        """Create it.

        Args:
            name: Agent id.
            model: Answers workers' questions (planning needs no model).
            lease_seconds: Lease stated in assignments.
            policy: Retries and backoff; a task is never decomposed by a model.
            max_queued: Most of its tasks waiting in a role's queue at once.
        """
        super().__init__(
            name,
            roles=REVIEW_ROLES,
            model=model,
            policy=policy or FailurePolicy(attempts_per_role=2, decompose=False),
            lease_seconds=lease_seconds,
            max_queued=max_queued,
        )

    @on()
    async def plan(self, event: GoalAccepted, ctx: HandlerContext) -> None:
        """The first plan of a review: the inventory (the rest follows from it)."""
        if event.data.supervisor != self.durable_name() or event.goal_id in self.finished:
            return
        request = self.requests.get(event.goal_id)
        if request is None or request.review is None:
            ctx.emit(
                GoalCompleted,
                GoalCompletedData(outcome="failed", summary="not a review goal: nothing to plan"),
                task_id=None,
            )
            return
        first = inventory_task(request.review)
        ctx.emit(
            PlanProposed,
            PlanProposedData(
                plan_version=1,
                tasks=[first],
                rationale="first the inventory: the plan follows the codebase's shape and size",
            ),
            task_id=None,
        )
        self._plan_tasks(ctx, [first])

    def _budgeted(self, goal: str, tasks: Sequence[PlannedTask]) -> list[PlannedTask]:
        """Give each analysis task its share of the goal's token and cost budgets, if any.

        The shares are of the budget as submitted; a budget raised by an answer
        grows the shares of the tasks not started yet (``crew.budget.rescale``).
        """
        request = self.requests.get(goal)
        budget = request.budget if request else None
        analysis = [t for t in tasks if t.role == ANALYST]
        if budget is None or not analysis:
            return list(tasks)
        shares: dict[str, int | float] = {}
        if budget.max_tokens is not None:
            shares["model_tokens"] = budget.max_tokens // len(analysis)
        if budget.max_cost_usd is not None:
            shares["model_cost_usd"] = budget.max_cost_usd / len(analysis)
        return [
            msgspec.structs.replace(t, inputs={**t.inputs, **shares}) if t.role == ANALYST else t
            for t in tasks
        ]

    @on(where=lambda e: e.task_id is not None)
    async def result(self, event: TaskResult, ctx: HandlerContext) -> None:
        """The inventory's result brings the plan; any other result moves the goal on."""
        key = (event.goal_id, event.task_id or "")
        if not self._own(event) or event.causation_id != self.current.get(key):
            return
        if event.task_id != INVENTORY_TASK:
            card = ctx.board.tasks.get(event.task_id or "")
            if card is not None and card.role == FIXER and self.request_patch_review(ctx, event):
                return  # done once its patches are reviewed
            if card is not None and card.role == ANALYST:
                self.take_back(ctx, card, event)
            self._advance(ctx)
            return
        request = self.requests.get(event.goal_id)
        assert request is not None and request.review is not None  # planned by ``plan``
        try:
            inventory = msgspec.convert(event.data.output, Inventory)
        except msgspec.ValidationError as exc:
            ctx.emit(
                GoalCompleted,
                GoalCompletedData(outcome="failed", summary=f"unreadable inventory: {exc}"),
                task_id=None,
            )
            return
        asked = request.review.perspectives
        spec = msgspec.structs.replace(
            request.review, perspectives=self.planned_perspectives(event.goal_id, asked)
        )
        plan = plan_review(inventory, spec, event.goal_id)
        tasks = self._budgeted(event.goal_id, plan.tasks)
        ctx.emit(
            Replanned,
            ReplannedData(
                plan_version=ctx.board.plan_version + 1,
                trigger="inventory",
                reason=plan.rationale + _rescoped(asked, spec.perspectives),
                added=tasks,
                cause_task_id=INVENTORY_TASK,
            ),
            task_id=None,
        )
        self._plan_tasks(ctx, tasks)

    def _escalate(self, ctx: HandlerContext, decision: Escalate) -> None:
        """A failed analysis or verification is dropped (the review goes on); others end it."""
        card = ctx.board.tasks.get(ctx.event.task_id or "")
        if card is not None and self.split_failed(ctx, card, decision.reason):
            return
        if card is None or card.role not in (ANALYST, VERIFIER):
            # No inventory, no plan; no report, no review: the goal fails, saying why.
            ctx.emit(
                GoalCompleted,
                GoalCompletedData(outcome="failed", summary=decision.reason[:60000]),
                task_id=None,
            )
            return
        what = "analysis stopped" if card.role == ANALYST else "verification failed"
        paths = [str(p) for p in card.inputs.get("files", [])][:_SKIP_PATHS]
        perspectives = [str(p) for p in card.inputs.get("perspectives", [])]
        ctx.emit(
            AnalysisSkipped,
            AnalysisSkippedData(
                reason=f"{what}: {decision.reason}"[:65536],
                paths=paths,
                perspectives=perspectives,  # type: ignore[arg-type]
            ),
        )
        reason = f"{card.task_id} dropped, the review goes on without it: {decision.reason}"
        ctx.emit(
            Replanned,
            ReplannedData(
                plan_version=ctx.board.plan_version + 1,
                trigger="task_failed",
                reason=reason[:65536],
                removed=[card.task_id],
                cause_task_id=card.task_id,
            ),
            task_id=None,
        )

    @on(where=lambda e: e.task_id is None)
    async def dropped(self, event: Replanned, ctx: HandlerContext) -> None:
        """Its own replan dropped a failed task: assign what no longer waits for it."""
        if (
            event.producer == self.name
            and event.data.trigger == "task_failed"
            and event.data.removed
            and self._mine(event)
        ):
            self._advance(ctx)

    def completion(self, ctx: HandlerContext, board: Board) -> GoalCompletedData:
        """The goal's result: the report's figures and digests (partial if a task was dropped)."""
        card = latest_report(board)
        report = self.results.get(ctx.event.goal_id, {}).get(card.task_id) if card else None
        if report is None:
            return GoalCompletedData(outcome="failed", summary="the review ended with no report")
        cancelled = [c for c in board.tasks.values() if c.status == "cancelled"]
        swaps = self.replaced.get(ctx.event.goal_id, {})
        lost = [
            c
            for c in cancelled
            if c.role not in (FIXER, REPORTER) and not descoped(c) and not swaps.get(c.task_id)
        ]
        dropped = [c.task_id for c in lost]
        output = report.data.output if isinstance(report.data.output, dict) else {}
        summary = report.data.summary
        if output.get("report_digest"):
            summary += f"; report {output['report_digest']}"
        artifacts = list(report.data.artifact_ids)
        merged = self.results.get(ctx.event.goal_id, {}).get(INTEGRATE_TASK)
        if merged is not None:
            summary += f"; fixes: {merged.data.summary}"
            artifacts += merged.data.artifact_ids
        if dropped:
            summary += f"; dropped: {', '.join(dropped)}"
        return GoalCompletedData(
            outcome="partial" if dropped else "succeeded",
            summary=summary[:60000],
            artifact_ids=artifacts,
        )


def _rescoped(asked: Sequence[str], planned: Sequence[str]) -> str:
    """What the plan says when the scope changed before it was made."""
    if list(asked) == list(planned):
        return ""
    return f"; the scope changed before the plan: {', '.join(planned)} (asked: {', '.join(asked)})"


def build_review_crew(
    *,
    analysts: int = 0,
    model: Model | None = None,
    lease_seconds: float = 60.0,
    fix: bool = True,
) -> list[Agent]:
    """The agents of a review crew for one process.

    Args:
        analysts: Analyst workers in this process (0: they run in processes of their own).
        model: The model (Claude reviews the code too when it is not the offline one).
        lease_seconds: The tasks' lease.
        fix: With the agents of ``--fix`` (fixer, patch reviewer, conflict detector,
            integrator). A crew for reviews that fix nothing leaves them out: two of them
            fold every event of the log into views that only fixes use.
    """
    agents: list[Agent] = [
        ReviewController("review-controller"),
        ReviewSupervisor("review-supervisor", model=model, lease_seconds=lease_seconds),
        InventoryWorker("inventory-1"),
        VerifierWorker("verifier-1"),
        Synthesizer("synthesizer-1"),
    ]
    if fix:
        agents += [
            FixerWorker("fixer-1"),
            PatchReviewer("patch-reviewer-1"),
            ConflictDetector("review-conflicts-1"),
            Integrator("integrator-1"),
        ]
    agents.extend(AnalystWorker(f"analyst-{i + 1}", model=model) for i in range(analysts))
    return agents
