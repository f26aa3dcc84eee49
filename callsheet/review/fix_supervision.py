"""How the review's supervisor runs ``--fix``: reviews of patches, conflicts, priority, the merge.

- A fix task's patches go to the patch reviewer; changes requested send the task
  back with the reviewer's findings, at most ``max_review_rounds`` times, after
  which the fix is dropped with the reason.
- Conflicts the detector reports are settled here, each decision recorded in the
  shared context (``decision.<conflict>``): independent hunks are merged; of
  overlapping ones the more important perspective's fix wins and the other is
  made again on top of it; a fix that would break a contract its callers rely on
  is dropped, one they cannot notice updates the contract; a task waiting for the
  test suite is queued.
- Priority: a file with an error-level security finding holds the other
  perspectives' fixes of that file until the security fix is settled; then they
  are made on top of it.
- The merge (``integrate``) waits until every fix task is settled, the detector
  has checked what was approved, and no conflict is open.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from callsheet.agents import HandlerContext, on
from callsheet.crew.supervisor import Supervisor
from callsheet.events.catalog import (
    ConflictDetected,
    ConflictDetectedData,
    ConflictResolved,
    ConflictResolvedData,
    ContextUpdated,
    ContextUpdatedData,
    ReviewCompleted,
    ReviewRequested,
    ReviewRequestedData,
    TaskCancelled,
    TaskCancelledData,
    TaskResult,
)
from callsheet.projections._common import GoalMap
from callsheet.projections.board import Board, TaskCard
from callsheet.projections.conflicts import Conflicts
from callsheet.projections.context import ContextStore, current
from callsheet.projections.findings import Findings
from callsheet.projections.fixes import PATCH_REVIEWER, Fixes
from callsheet.review.conflicts import conflict_id, rank_perspective
from callsheet.review.detector import CHECKED_PREFIX
from callsheet.review.plan import FIXER, INTEGRATE_TASK

__all__ = ["FixingSupervisor"]


def _fixes(ctx: HandlerContext) -> Fixes:
    found: GoalMap[Fixes] = ctx.view("fixes")
    return found.goals.get(ctx.event.goal_id) or Fixes(goal_id=ctx.event.goal_id)


class FixingSupervisor(Supervisor):
    """The supervisor's part in ``--fix`` (see the module docstring)."""

    def _rounds(self, goal: str) -> int:
        request = self.requests.get(goal)
        return request.review.max_review_rounds if request and request.review else 2

    def _decide(self, ctx: HandlerContext, event: ConflictDetected, **data: Any) -> None:
        """Settle a conflict, and record the decision in the shared context."""
        resolved = ctx.emit(
            ConflictResolved,
            ConflictResolvedData(conflict_id=event.data.conflict_id, decided_by=self.name, **data),
            task_id=None,
        )
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(
                key=f"decision.{event.data.conflict_id}",
                kind="decision",
                value={
                    "conflict": event.data.conflict_id,
                    "kind": event.data.kind,
                    "subject": event.data.subject,
                    "resolution": data["resolution"],
                    "winner": data.get("winner"),
                },
                rationale=f"{event.data.description}; {data.get('notes', '')}"[:65536],
                author=self.name,
            ),
            task_id=None,
        )
        del resolved

    # -- patches and their reviews -------------------------------------------------

    def request_patch_review(self, ctx: HandlerContext, event: TaskResult) -> bool:
        """Send a fix task's patches to review; False when it made none (it is done)."""
        output = event.data.output if isinstance(event.data.output, dict) else {}
        patches = [str(p) for p in output.get("patches", [])]
        if not patches:
            return False
        ctx.emit(
            ReviewRequested,
            ReviewRequestedData(
                review_id=f"review-{event.task_id}-r{output.get('round', 1)}",
                reviewer_role=PATCH_REVIEWER,
                artifact_ids=patches,
                instructions="Check that each patch fixes its findings, brings nothing new and "
                "follows the project's conventions.",
            ),
        )
        return True

    @on()
    async def reviewed(self, event: ReviewCompleted, ctx: HandlerContext) -> None:
        """A review of patches: approved moves on; changes send the task back, or drop it."""
        card = ctx.board.tasks.get(event.task_id or "")
        if card is None or card.role != FIXER or not self._own(event):
            await super().reviewed(event, ctx)
            return
        if event.data.verdict == "approved":
            self._advance(ctx)
            return
        said = [f"{f.location or ''}: {f.message}".strip(": ") for f in event.data.findings]
        if card.attempts < self._rounds(event.goal_id):
            review = [
                {"location": f.location or "", "message": f.message} for f in event.data.findings
            ]
            self._assign(ctx, card, attempt=card.attempts + 1, inputs={"review": review[:50]})
            return
        ctx.emit(
            TaskCancelled,
            TaskCancelledData(
                reason=f"fix dropped after {card.attempts} review rounds: {'; '.join(said)}"[:65536]
            ),
        )
        # Dropped with no replacement: what depends on it (the merge) no longer waits for it.
        self.replaced.setdefault(event.goal_id, {})[card.task_id] = []

    @on(where=lambda e: e.task_id is not None)
    async def dropped_fix(self, event: TaskCancelled, ctx: HandlerContext) -> None:
        """Its own cancellation of a fix: what waited for it goes on."""
        if event.producer == self.name and self._mine(event):
            self._advance(ctx)

    @on(where=lambda e: e.task_id is None)
    async def checked(self, event: ContextUpdated, ctx: HandlerContext) -> None:
        """The detector checked a task's approved patches: the merge may be ready."""
        if event.data.key.startswith(CHECKED_PREFIX) and self._mine(event):
            self._advance(ctx)

    # -- conflicts ---------------------------------------------------------------

    @on()
    async def settle(self, event: ConflictDetected, ctx: HandlerContext) -> None:
        """Settle a conflict of the fixes (see the module docstring)."""
        if not self._mine(event):
            return
        conflicts: Conflicts = ctx.view("conflicts")
        known = conflicts.by_id.get((event.goal_id, event.data.conflict_id))
        if known is not None and not known.is_open:
            return  # settled already (a priority hold is settled as it is detected)
        kind = event.data.kind
        if kind == "resource":
            self._decide(
                ctx,
                event,
                resolution="queued",
                winner=event.data.parties[-1],
                notes=f"{event.data.parties[0]} waits its turn for {event.data.subject}",
            )
        elif kind == "file":
            self._settle_file(ctx, event)
        elif kind == "design":
            self._settle_design(ctx, event)
        else:
            await super().settle(event, ctx)

    def _settle_file(self, ctx: HandlerContext, event: ConflictDetected) -> None:
        fixes = _fixes(ctx)
        cards = [fixes.patches[p] for p in event.data.parties if p in fixes.patches]
        if "independent hunks" in event.data.description or len(cards) < 2:
            self._decide(
                ctx,
                event,
                resolution="auto_merged",
                notes=f"merged with merge3: both fixes of {event.data.subject} are kept",
            )
            return
        first, second = sorted(cards, key=lambda c: (rank_perspective(c.perspective), c.patch_id))
        loser_card = ctx.board.tasks.get(second.task_id)
        again = loser_card is not None and loser_card.attempts < self._rounds(event.goal_id)
        notes = f"{first.task_id}'s {first.perspective} fix of {event.data.subject} wins; " + (
            f"{second.task_id} makes its fix again on top of it"
            if again
            else f"{second.task_id}'s fix of it is dropped (no review round left)"
        )
        self._decide(ctx, event, resolution="one_wins", winner=first.patch_id, notes=notes)
        if again and loser_card is not None:
            self._assign(
                ctx,
                loser_card,
                attempt=loser_card.attempts + 1,
                inputs={
                    "rebase_on": [first.patch_id],
                    "review": [
                        {
                            "location": event.data.subject,
                            "message": f"made again on top of {first.task_id}'s fix after a "
                            "conflict",
                        }
                    ],
                },
                goal_id=event.goal_id,
            )

    def _settle_design(self, ctx: HandlerContext, event: ConflictDetected) -> None:
        patch, contract = event.data.parties[0], event.data.parties[-1]
        details = event.data.details if isinstance(event.data.details, dict) else {}
        breaks = not details.get("compatible", "calls would break" not in event.data.description)
        if breaks:
            self._decide(
                ctx,
                event,
                resolution="one_wins",
                winner=contract,
                notes=f"the contract is kept: {event.data.description}; the fix {patch} is dropped",
            )
            return
        self._decide(
            ctx,
            event,
            resolution="adapted",
            winner=patch,
            notes=f"calls still work, so the contract of {event.data.subject} is updated",
        )
        store: ContextStore = ctx.view("context")
        entry = current(store, event.goal_id, contract)
        value = dict(entry.value) if entry is not None and isinstance(entry.value, dict) else {}
        changes = [*value.get("changes", []), event.data.description]
        functions = dict(value.get("functions") or {})
        if details.get("name") and details.get("after"):
            functions[str(details["name"])] = details["after"]
        value["functions"] = functions
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(
                key=contract,
                kind="interface_contract",
                value={**value, "changes": changes},
                rationale=f"updated by {patch}: {event.data.description}"[:65536],
                author=self.name,
                supersedes=entry.current.event_id if entry is not None else None,
            ),
            task_id=None,
        )

    @on(where=lambda e: e.task_id is None)
    async def decided(self, event: ConflictResolved, ctx: HandlerContext) -> None:
        """Its own decision is in the log: what waited for it may go on."""
        if event.producer == self.name and self._mine(event):
            self._advance(ctx)

    # -- priority and the merge ---------------------------------------------------

    def _settled(self, fixes: Fixes, board: Board, task: str, store: ContextStore) -> bool:
        card = board.tasks.get(task)
        if card is None or card.status == "cancelled":
            return True
        if card.status != "done":
            return False
        # Only approved patches are merged and checked by the detector: a round that
        # made nothing leaves the last round's sent-back patches, which wait for no one.
        patches = [p for p in fixes.of_task(task) if p.status == "approved"]
        if not patches:
            return True
        entry = current(store, board.goal_id, CHECKED_PREFIX + task)
        checked = entry.value.get("patches", []) if entry and isinstance(entry.value, dict) else []
        return sorted(checked) == sorted(p.patch_id for p in patches)

    def _fix_tasks(self, board: Board) -> list[TaskCard]:
        return [c for c in board.tasks.values() if c.role == FIXER]

    def holds(self, ctx: HandlerContext, goal: str, card: TaskCard) -> bool:
        """Whether a ready task must wait: the merge until all is settled; priority holds."""
        boards: GoalMap[Board] = ctx.view("board")
        board = boards.goals.get(goal) or Board(goal_id=goal)
        fixes_view: GoalMap[Fixes] = ctx.view("fixes")
        fixes = fixes_view.goals.get(goal) or Fixes(goal_id=goal)
        store: ContextStore = ctx.view("context")
        if card.task_id == INTEGRATE_TASK:
            conflicts: Conflicts = ctx.view("conflicts")
            open_ = [c for (g, _), c in conflicts.by_id.items() if g == goal and c.is_open]
            settled = all(
                self._settled(fixes, board, t.task_id, store) for t in self._fix_tasks(board)
            )
            return bool(open_) or not settled
        if card.role != FIXER or "security" in card.inputs.get("perspectives", []):
            return False
        blocking = self._security_first(ctx, goal, board, fixes, store, card)
        return blocking is not None

    def _security_first(
        self,
        ctx: HandlerContext,
        goal: str,
        board: Board,
        fixes: Fixes,
        store: ContextStore,
        card: TaskCard,
    ) -> str | None:
        """The security fix task this one waits for (recorded as a priority conflict), if any."""
        found: GoalMap[Findings] = ctx.view("findings")
        state = found.goals.get(goal) or Findings(goal_id=goal)
        files = set(card.inputs.get("files", []))
        critical = {
            c.data.path
            for c in state.by_status("confirmed")
            if c.data.perspective == "security" and state.severity(c) == "error"
        } & files
        for other in self._fix_tasks(board):
            if "security" not in other.inputs.get("perspectives", []):
                continue
            shared = sorted(critical & set(other.inputs.get("files", [])))
            if not shared or self._settled(fixes, board, other.task_id, store):
                continue
            self._hold(ctx, goal, card, other, shared)
            return other.task_id
        return None

    def _hold(
        self, ctx: HandlerContext, goal: str, card: TaskCard, other: TaskCard, shared: list[str]
    ) -> None:
        """Record, once, that ``card`` waits for ``other``'s security fix of ``shared``."""
        cid = conflict_id("priority", card.task_id, other.task_id)
        conflicts: Conflicts = ctx.view("conflicts")
        if (goal, cid) in conflicts.by_id or any(
            isinstance(e, ConflictDetected) and e.data.conflict_id == cid for e in ctx.emitted
        ):
            return
        files = ", ".join(shared)
        detected = ctx.emit(
            ConflictDetected,
            ConflictDetectedData(
                conflict_id=cid,
                kind="priority",
                parties=[card.task_id, other.task_id],
                subject=files,
                description=f"an error-level security finding in {files}: {other.task_id}'s "
                f"fix comes first",
            ),
            task_id=None,
            goal_id=goal,
        )
        self._decide(
            ctx,
            detected,
            resolution="queued",
            winner=other.task_id,
            notes=f"{card.task_id} waits for {other.task_id}, then makes its fix on top of it",
        )

    def assignment_inputs(self, ctx: HandlerContext, goal: str, card: TaskCard) -> dict[str, Any]:
        """A fix task released after a priority hold is made on top of the security fixes."""
        if card.role != FIXER or "security" in card.inputs.get("perspectives", []):
            return {}
        conflicts: Conflicts = ctx.view("conflicts")
        fixes_view: GoalMap[Fixes] = ctx.view("fixes")
        fixes = fixes_view.goals.get(goal) or Fixes(goal_id=goal)
        waited = [
            c.winner
            for (g, _), c in conflicts.by_id.items()
            if g == goal and c.kind == "priority" and c.parties[:1] == (card.task_id,) and c.winner
        ]
        on_top = _approved(fixes, waited, set(card.inputs.get("files", [])))
        return {"rebase_on": on_top} if on_top else {}


def _approved(fixes: Fixes, tasks: Iterable[str], files: set[str]) -> list[str]:
    return [
        p.patch_id
        for task in tasks
        for p in fixes.of_task(task)
        if p.status == "approved" and p.path in files
    ]
