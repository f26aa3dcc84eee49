"""The conflict detector: watches accepted fixes and says where they collide.

An observer of the log. Each time a review approves a fix task's patches, it
compares them with the fixes accepted before (``conflicts.file_clashes``: the same
file made from the same text) and with the modules' interface contracts in the
shared context (``conflicts.signature_clashes``), and emits a
``conflict.detected`` for each collision. Then, for every approved task, it
writes ``fixes.checked.<task>`` to the context: the supervisor integrates the
fixes only once every approved task is checked and no conflict is open.
"""

from __future__ import annotations

from typing import ClassVar

from callsheet.agents import Agent, HandlerContext, on
from callsheet.events.catalog import (
    ConflictDetected,
    ConflictDetectedData,
    ConflictResolved,
    ContextUpdated,
    ContextUpdatedData,
    PatchProposed,
    PatchProposedData,
    ReviewCompleted,
    ReviewRequested,
)
from callsheet.events.envelope import Event
from callsheet.projections.context import ContextStore, current
from callsheet.review.conflicts import Fix, conflict_id, file_clashes, signature_clashes
from callsheet.review.contracts import CONTRACT_PREFIX
from callsheet.review.plan import PATCH_REVIEWER

__all__ = ["CHECKED_PREFIX", "ConflictDetector"]

CHECKED_PREFIX = "fixes.checked."
"""Context keys saying that a fix task's accepted patches were checked for conflicts."""


def _fix(task: str, p: PatchProposedData) -> Fix:
    return Fix(p.patch_id, task, p.path, p.perspective, p.before, p.after)


class ConflictDetector(Agent):
    """See the module docstring."""

    kind = "observer"
    durable: ClassVar[str | None] = "review-conflicts"
    views: ClassVar[tuple[str, ...]] = ("context",)
    start_from = "history"  # it must see every fix of the goals it watches

    def __init__(self, name: str | None = None) -> None:
        """Create it."""
        super().__init__(name)
        self.patches: dict[str, tuple[str, PatchProposedData]] = {}
        self.reviews: dict[str, list[str]] = {}
        self.accepted: dict[tuple[str, str], list[Fix]] = {}
        self.parties: dict[str, list[str]] = {}
        self.lost: set[str] = set()

    def observe(self, event: Event) -> None:
        """Remember patches, reviews, accepted fixes and which lost a conflict (a fold)."""
        if isinstance(event, PatchProposed):
            self.patches[event.data.patch_id] = (event.task_id or "", event.data)
        elif isinstance(event, ReviewRequested) and event.data.reviewer_role == PATCH_REVIEWER:
            self.reviews[event.data.review_id] = list(event.data.artifact_ids)
        elif isinstance(event, ReviewCompleted) and event.data.verdict == "approved":
            for pid in self.reviews.get(event.data.review_id, []):
                if pid in self.patches:
                    task, patch = self.patches[pid]
                    key = (event.goal_id, patch.path)
                    self.accepted.setdefault(key, []).append(_fix(task, patch))
        elif isinstance(event, ConflictDetected):
            self.parties[event.data.conflict_id] = list(event.data.parties)
        elif isinstance(event, ConflictResolved) and event.data.resolution == "one_wins":
            parties = self.parties.get(event.data.conflict_id, [])
            self.lost.update(p for p in parties if p != event.data.winner)

    @on()
    async def approved(self, event: ReviewCompleted, ctx: HandlerContext) -> None:
        """Compare the approved patches with the accepted ones and the contracts."""
        ids = self.reviews.get(event.data.review_id)
        if event.data.verdict != "approved" or not ids or event.task_id is None:
            return
        store: ContextStore = ctx.view("context")
        for pid in ids:
            if pid not in self.patches:
                continue
            task, patch = self.patches[pid]
            fix = _fix(task, patch)
            # Accepted before this approval (which observe has folded in already).
            key = (event.goal_id, patch.path)
            earlier = [
                f
                for f in self.accepted.get(key, [])
                if f.patch_id not in self.lost and f.patch_id not in ids
            ]
            for clash in file_clashes(fix, earlier):
                a, b = clash.first, clash.second
                where = ", ".join(f"{s}-{e}" for s, e in clash.lines)
                ctx.emit(
                    ConflictDetected,
                    ConflictDetectedData(
                        conflict_id=conflict_id("file", a.patch_id, b.patch_id),
                        kind="file",
                        parties=[a.patch_id, b.patch_id],
                        subject=patch.path,
                        description=(
                            f"{a.task_id} and {b.task_id} both change {patch.path}: "
                            + ("independent hunks, they merge" if clash.independent
                               else f"overlapping hunks at lines {where}")
                        ),
                    ),
                    task_id=None,
                )  # fmt: skip
            entry = current(store, event.goal_id, CONTRACT_PREFIX + patch.path)
            contract = entry.value if entry is not None and isinstance(entry.value, dict) else None
            used_by = (contract or {}).get("used_by") or {}
            for sig in signature_clashes(fix, contract, used_by):
                if not sig.callers and sig.compatible:
                    continue  # nobody calls it, and calls would still work: the contract updates
                ctx.emit(
                    ConflictDetected,
                    ConflictDetectedData(
                        conflict_id=conflict_id("design", patch.patch_id, sig.name),
                        kind="design",
                        parties=[patch.patch_id, CONTRACT_PREFIX + patch.path],
                        subject=f"{patch.path}:{sig.name}",
                        description=(
                            f"{task} changes `{sig.before}` to "
                            f"`{sig.after or '(removed)'}`, part of the module's contract; "
                            + (f"used by {', '.join(sig.callers)}" if sig.callers else "no caller")
                            + ("; calls still work" if sig.compatible else "; calls would break")
                        ),
                        details={
                            "name": sig.name,
                            "before": sig.before,
                            "after": sig.after,
                            "callers": list(sig.callers),
                            "compatible": sig.compatible,
                        },
                    ),
                    task_id=None,
                )
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(
                key=CHECKED_PREFIX + event.task_id,
                kind="progress_state",
                value={"patches": ids},
                author=self.name,
            ),
            task_id=None,
        )
