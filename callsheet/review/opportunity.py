"""Opportunity: an analyst notices a problem outside the review's perspectives.

When a review leaves out security or bugs (``plan.WATCHED``), its analysts run
ruff's rules of those perspectives on each batch too, and write the errors they
find to the shared context (``opportunity.<task>.<step>``), not as findings.
The supervisor then decides, and records the decision as a ``plan.replanned``
(trigger ``opportunity``): files nobody analyses for that perspective get an
analysis and a verification of their own, and the report waits for them; what
another task covers already, or what comes once the report is being written,
is deferred, left in the context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from callsheet.agents import HandlerContext, WorkContext, on
from callsheet.agents.tools import ToolError
from callsheet.events.catalog import (
    PERSPECTIVES,
    ContextUpdated,
    ContextUpdatedData,
    Perspective,
    PlannedTask,
    TaskAssigned,
)
from callsheet.projections.board import Board
from callsheet.review.analyzers import Analyzer, Job, Raw
from callsheet.review.analyzers.ruff import Ruff
from callsheet.review.inventory import Inventory
from callsheet.review.plan import ANALYST, INVENTORY_TASK, REPORTER, plan_review
from callsheet.review.replanning import (
    ReplanningSupervisor,
    emit_replan,
    latest_report,
    renamed,
    report_after,
)

__all__ = ["OPPORTUNITIES", "OPPORTUNITY_PREFIX", "OpportunitySupervisor", "notice", "uncovered"]

OPPORTUNITY_PREFIX = "opportunity."
"""Context keys of what analysts noticed outside the review's perspectives."""
OPPORTUNITIES = 100
"""Most problems one entry lists."""

Run = Callable[[WorkContext, Analyzer, Job], Awaitable["tuple[list[Raw], str] | None"]]


async def notice(
    ctx: WorkContext, event: TaskAssigned, job: Job, watch: list[Perspective], step: int, run: Run
) -> None:
    """Ruff's errors of the watched perspectives on one batch, to the shared context.

    Emitted with the step's findings and checkpoint. A tool that fails here
    changes nothing: it is a look outside the task.
    """
    seen: list[dict[str, Any]] = []
    for perspective in watch:
        try:
            ran = await run(ctx, Ruff(perspective), job)
        except ToolError:
            continue
        for raw in ran[0] if ran is not None else []:
            if raw.severity == "error":
                seen.append(
                    {
                        "perspective": perspective,
                        "path": raw.path,
                        "line": raw.line,
                        "rule": raw.rule,
                        "message": raw.message[:500],
                    }
                )
    if seen:
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(
                key=f"{OPPORTUNITY_PREFIX}{event.task_id}.{step}"[:128],
                kind="note",
                value={"task": event.task_id, "found": seen[:OPPORTUNITIES]},
                rationale=f"{len(seen)} errors outside this review's perspectives",
                author=ctx.agent.name,
            ),
            task_id=None,
        )


def uncovered(board: Board, found: list[dict[str, Any]]) -> dict[Perspective, list[str]]:
    """The files of each perspective noticed that no analysis task covers (kept or planned)."""
    covered: set[tuple[str, str]] = set()
    for card in board.tasks.values():
        if card.role == ANALYST and card.status != "cancelled":
            files = [str(f) for f in card.inputs.get("files", [])]
            covered.update((str(p), f) for p in card.inputs.get("perspectives", []) for f in files)
    out: dict[Perspective, set[str]] = {}
    for item in found:
        perspective, path = item.get("perspective"), item.get("path")
        known = perspective in PERSPECTIVES and isinstance(path, str)
        if known and (perspective, path) not in covered:
            out.setdefault(perspective, set()).add(path)  # type: ignore[arg-type]
    return {p: sorted(out[p]) for p in PERSPECTIVES if p in out}


class OpportunitySupervisor(ReplanningSupervisor):
    """Acts on what analysts noticed outside the review's perspectives, or defers it."""

    @on(where=lambda e: e.task_id is None)
    async def noticed(self, event: ContextUpdated, ctx: HandlerContext) -> None:
        """An analyst noticed errors outside the review's perspectives: spawn or defer."""
        key = event.data.key
        request = self.requests.get(event.goal_id)
        if not key.startswith(OPPORTUNITY_PREFIX) or not self._mine(event):
            return
        if request is None or request.review is None:
            return
        value = event.data.value if isinstance(event.data.value, dict) else {}
        found = [f for f in value.get("found", []) if isinstance(f, dict)]
        board = self._own_board(ctx)
        rules = sorted({str(f.get("rule")) for f in found})
        what = f"{key}: {len(found)} errors outside the review's perspectives ({', '.join(rules)})"

        def replanned(
            reason: str, added: list[PlannedTask] | None = None, removed: list[str] | None = None
        ) -> None:
            said = f"{what}; {reason}"
            emit_replan(ctx, board, "opportunity", said, added=added, removed=removed)

        wanted = uncovered(board, found)
        report = latest_report(board)
        inventory = self.results.get(event.goal_id, {}).get(INVENTORY_TASK)
        if not wanted:
            replanned("deferred: another task analyses these files for them already")
            return
        if report is None or report.status != "planned" or inventory is None:
            replanned(f"deferred: the report is being written; left in the context ({key})")
            return
        suffix = f"-v{board.plan_version + 1}"
        scanned = msgspec.convert(inventory.data.output, Inventory)
        added: list[PlannedTask] = []
        for perspective, files in wanted.items():
            part = msgspec.structs.replace(
                scanned, files=[f for f in scanned.files if f.path in files and f.parses]
            )
            spec = msgspec.structs.replace(
                request.review, perspectives=[perspective], fix=False, split="none"
            )
            tasks = [t for t in plan_review(part, spec, event.goal_id).tasks if t.role != REPORTER]
            added += renamed(tasks, f"-{perspective}{suffix}")
        # The review's scope stays as it was: these findings are reported, not asked for.
        asked = [str(p) for p in report.inputs.get("perspectives", [])]
        added.append(report_after(report, added, suffix, asked))
        spawned = ", ".join(
            f"{t.task_id} ({len(t.inputs.get('files', []))} files)"
            for t in added
            if t.role == ANALYST
        )
        replanned(
            f"spawned {spawned}, verified before the report (findings reported, not fixed)",
            added=added,
            removed=[report.task_id],
        )
        self._plan_tasks(ctx, added)
