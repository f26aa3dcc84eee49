"""The patch reviewer: reads each proposed fix, runs the tools on the patched file, judges.

For every patch of the task sent for review, ruff runs on the file before and
after (in private copies: the project's own style rules, pyflakes, syntax, and
the rules the patch fixes), ``ruff format`` on both, and, in a typed project,
mypy on both (a fix that breaks an annotation is caught here). It approves a patch that
fixes what it says and brings nothing new; it asks for changes (the findings go
back to the fixer in a new assignment) when the fix brings a problem the file
did not have, breaks the project's formatting (coherence with its conventions),
or fixes nothing it claims to. The lines a patch adds are also held to the
project's conventions (read from the shared context, ``convention.*``) and to
the goal's patches approved before it (``coherence``): drift is a finding too,
naming what fixes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from callsheet.agents import Agent, HandlerContext, on
from callsheet.agents.tools import ToolError, call_tool
from callsheet.events.catalog import (
    PatchProposed,
    PatchProposedData,
    ReviewCompleted,
    ReviewCompletedData,
    ReviewFinding,
    ReviewRequested,
    TaskAssigned,
)
from callsheet.events.envelope import Event
from callsheet.projections._common import GoalMap
from callsheet.projections.context import ContextStore
from callsheet.projections.fixes import Fixes
from callsheet.review.analyzers.base import Job
from callsheet.review.analyzers.mypy import Mypy, type_errors
from callsheet.review.analyzers.ruff import Ruff, diagnostics
from callsheet.review.coherence import Change, coherence
from callsheet.review.conventions import CONVENTION_PREFIX
from callsheet.review.plan import FIXER, PATCH_REVIEWER
from callsheet.review.workers import job_from

__all__ = ["PatchReviewer", "judge_patch"]


def judge_patch(
    patch: PatchProposedData,
    before: list[tuple[str, str, int]],
    after: list[tuple[str, str, int]],
    formatted_before: bool,
    formatted_after: bool,
) -> list[ReviewFinding]:
    """What is wrong with a patch (nothing: it is good), from the tools' view of both texts."""
    fixed_rules = {f.rule for f in patch.fixes}
    problems: list[ReviewFinding] = []
    old = Counter((c, m) for c, m, _ in before if c not in fixed_rules)
    for code, message, line in after:
        if code in fixed_rules:
            continue
        if old[(code, message)] > 0:
            old[(code, message)] -= 1
            continue
        problems.append(
            ReviewFinding(
                severity="major",
                message=f"the fix brings {code}: {message}",
                location=f"{patch.path}:{line}",
            )
        )
    left = Counter(c for c, _, _ in after if c in fixed_rules)
    gone = [r for r in sorted(fixed_rules) if Counter(c for c, _, _ in before)[r] > left[r]]
    if not gone:
        problems.append(
            ReviewFinding(
                severity="major",
                message=f"the patch fixes none of {', '.join(sorted(fixed_rules))}",
                location=patch.path,
            )
        )
    if formatted_before and not formatted_after:
        problems.append(
            ReviewFinding(
                severity="minor",
                message="the fix does not follow the project's formatting "
                "(ruff format, with its settings, would change the file)",
                location=patch.path,
            )
        )
    return problems


def _conventions(store: ContextStore, goal: str) -> dict[str, Any]:
    """The goal's ``convention.*`` entries of the shared context, by key."""
    return {
        key: entry.current.value
        for (g, key), entry in store.entries.items()
        if g == goal and key.startswith(CONVENTION_PREFIX)
    }


def _approved(fixes: Fixes, patches: Mapping[str, PatchProposedData], task: str) -> list[Change]:
    """The goal's patches a review approved (not since beaten in a conflict), of other tasks."""
    return [
        Change(d.path, d.before, d.after, d.patch_id)
        for card in fixes.patches.values()
        if card.status == "approved"
        and card.task_id != task
        and (d := patches.get(card.patch_id)) is not None
    ]


class PatchReviewer(Agent):
    """Reviews the patches of fix tasks (``review.requested`` for the patch-reviewer role)."""

    kind = "reviewer"
    role: ClassVar[str | None] = PATCH_REVIEWER
    durable: ClassVar[str | None] = "patch-reviewer"
    views: ClassVar[tuple[str, ...]] = ("context", "fixes")

    def __init__(self, name: str | None = None) -> None:
        """Create it."""
        super().__init__(name)
        self.patches: dict[str, PatchProposedData] = {}
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def observe(self, event: Event) -> None:
        """Remember the patches proposed and the fix tasks' inputs (a fold)."""
        if isinstance(event, PatchProposed):
            self.patches[event.data.patch_id] = event.data
        elif isinstance(event, TaskAssigned) and event.data.role == FIXER:
            self.inputs[(event.goal_id, event.task_id or "")] = dict(event.data.inputs)

    async def _views(
        self, ctx: HandlerContext, job: Job, texts: dict[str, str], rules: list[str], typed: bool
    ) -> tuple[dict[str, list[tuple[str, str, int]]], dict[str, str | None]]:
        """The tools' diagnostics of each text, and what ``ruff format`` makes of it."""
        ruff = Ruff("style")
        checked, _ = await call_tool(ctx, ruff.review_invocation(job, rules, texts))
        styled, _ = await call_tool(ctx, ruff.format_invocation(job, texts))
        found = {path: diagnostics(checked, job.root, path) for path in texts}
        typing = Mypy().check_invocation(job, texts) if typed else None
        if typing is not None:
            typed_run, _ = await call_tool(ctx, typing)
            for path in texts:
                found[path] += type_errors(typed_run, job.root, path)
        return found, dict(styled.outputs)

    def _drift(
        self, ctx: HandlerContext, task: str, patches: list[PatchProposedData], formatted: set[str]
    ) -> list[ReviewFinding]:
        """Where the patches drift from the conventions and the goal's approved patches."""
        goal = ctx.event.goal_id
        fixes_view: GoalMap[Fixes] = ctx.view("fixes")
        fixes = fixes_view.goals.get(goal) or Fixes(goal_id=goal)
        conventions = _conventions(ctx.view("context"), goal)
        others = _approved(fixes, self.patches, task)
        return [
            ReviewFinding(severity="minor", message=f["message"], location=f["location"])
            for p in patches
            for f in coherence(
                Change(p.path, p.before, p.after, p.patch_id),
                conventions,
                others,
                formatted=p.path in formatted,
            )
        ]

    @on()
    async def review(self, event: ReviewRequested, ctx: HandlerContext) -> None:
        """Judge every patch of the task; approve, or ask for changes with the findings."""
        if event.data.reviewer_role != self.role or event.task_id is None:
            return
        inputs = self.inputs.get((event.goal_id, event.task_id), {})
        patches = [self.patches[p] for p in event.data.artifact_ids if p in self.patches]
        findings: list[ReviewFinding] = []
        if not patches or not inputs:
            findings.append(ReviewFinding(severity="major", message="no patch to review"))
        else:
            files = sorted({p.path for p in patches})
            job = job_from(inputs, files)
            rules = sorted({f.rule for p in patches for f in p.fixes})
            try:
                typed = bool(inputs.get("typed"))
                old_check, old_styled = await self._views(
                    ctx, job, {p.path: p.before for p in patches}, rules, typed
                )
                new_check, new_styled = await self._views(
                    ctx, job, {p.path: p.after for p in patches}, rules, typed
                )
            except ToolError as exc:
                findings.append(ReviewFinding(severity="major", message=f"could not check: {exc}"))
            else:
                for p in patches:
                    findings += judge_patch(
                        p,
                        old_check[p.path],
                        new_check[p.path],
                        old_styled.get(p.path) == p.before,
                        new_styled.get(p.path) == p.after,
                    )
                formatted = {p.path for p in patches if old_styled.get(p.path) == p.before}
                findings += self._drift(ctx, event.task_id, patches, formatted)
        ctx.emit(
            ReviewCompleted,
            ReviewCompletedData(
                review_id=event.data.review_id,
                reviewer=self.name,
                verdict="changes_requested" if findings else "approved",
                findings=findings,
                summary="; ".join(f.message for f in findings)[:60000]
                or f"{len(patches)} patches fix what they say and bring nothing new",
            ),
        )
