"""Fixes of a review (``callsheet review --fix``): patches, their reviews, who lost a conflict.

A pure fold per goal (``fold``); ``fold_all`` keeps one per goal (the registry's
``fixes`` projection). A patch is ``proposed``, then its review makes it
``approved`` or ``changes_requested``; a patch that lost a conflict (a
``conflict.resolved`` of resolution ``one_wins`` whose winner is another party)
is ``lost``. Only the patches' metadata are kept (their texts stay in the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from callsheet.events.catalog import (
    ConflictDetected,
    ConflictResolved,
    PatchProposed,
    ReviewCompleted,
    ReviewRequested,
)
from callsheet.events.envelope import Event
from callsheet.projections._common import GoalMap, evolve, passoc, per_goal

__all__ = [
    "PATCH_REVIEWER",
    "VERSION",
    "Fixes",
    "PatchCard",
    "fold",
    "fold_all",
    "initial",
    "initial_all",
]

VERSION = 1
"""Bumped whenever the fold's output changes, to invalidate snapshots."""

PATCH_REVIEWER = "patch-reviewer"
"""The role that reviews patches (a review of another role is not about patches)."""

PatchStatus = Literal["proposed", "approved", "changes_requested", "rejected", "lost"]


@dataclass(frozen=True, slots=True)
class PatchCard:
    """One patch, without its texts.

    Attributes:
        patch_id: The patch.
        task_id: The fix task that proposed it.
        path: The file it changes.
        perspective: The perspective whose findings it fixes.
        round: Which round of its task made it.
        applicability: safe, unsafe or manual.
        finding_ids: The findings it fixes.
        event_id: Its ``patch.proposed`` event.
        before_digest: The text it was made from.
        after_digest: The text it makes.
        status: See the module docstring.
        review_id: The review that judged it.
        reason: The review's or the conflict's words.
    """

    patch_id: str
    task_id: str
    path: str
    perspective: str
    round: int
    applicability: str
    finding_ids: tuple[str, ...]
    event_id: str
    before_digest: str
    after_digest: str
    status: PatchStatus = "proposed"
    review_id: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Fixes:
    """A goal's fixes.

    Attributes:
        goal_id: The goal.
        patches: Cards by patch id.
        reviews: The patches each review covers.
        parties: The parties of each conflict (to know who lost).
        events: Events of the goal folded.
    """

    goal_id: str = ""
    patches: Mapping[str, PatchCard] = field(default_factory=dict)
    reviews: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    parties: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    events: int = 0

    def of_task(self, task_id: str) -> list[PatchCard]:
        """The patches of a task's last round, by path."""
        cards = [c for c in self.patches.values() if c.task_id == task_id]
        last = max((c.round for c in cards), default=0)
        return sorted((c for c in cards if c.round == last), key=lambda c: c.path)


def initial() -> Fixes:
    """Return the state before any event."""
    return Fixes()


def _set_status(
    state: Fixes, ids: tuple[str, ...], status: PatchStatus, **changes: object
) -> Fixes:
    cards = state.patches
    for pid in ids:
        card = cards.get(pid)
        if card is not None:
            cards = passoc(cards, pid, evolve(card, status=status, **changes))
    return evolve(state, patches=cards)


def fold(state: Fixes, event: Event) -> Fixes:
    """Return the state after ``event``; never mutates ``state``."""
    if state.goal_id and event.goal_id != state.goal_id:
        return state
    state = evolve(state, goal_id=event.goal_id, events=state.events + 1)
    if isinstance(event, PatchProposed):
        d = event.data
        card = PatchCard(
            patch_id=d.patch_id,
            task_id=event.task_id or "",
            path=d.path,
            perspective=d.perspective,
            round=d.round,
            applicability=d.applicability,
            finding_ids=tuple(f.finding_id for f in d.fixes),
            event_id=event.id,
            before_digest=d.before_digest,
            after_digest=d.after_digest,
        )
        return evolve(state, patches=passoc(state.patches, d.patch_id, card))
    if isinstance(event, ReviewRequested) and event.data.reviewer_role == PATCH_REVIEWER:
        ids = tuple(event.data.artifact_ids)
        state = evolve(state, reviews=passoc(state.reviews, event.data.review_id, ids))
        return _set_status(state, ids, "proposed", review_id=event.data.review_id)
    if isinstance(event, ReviewCompleted) and event.data.review_id in state.reviews:
        ids = state.reviews[event.data.review_id]
        return _set_status(state, ids, event.data.verdict, reason=event.data.summary)
    if isinstance(event, ConflictDetected):
        parties = tuple(event.data.parties)
        return evolve(state, parties=passoc(state.parties, event.data.conflict_id, parties))
    if isinstance(event, ConflictResolved) and event.data.resolution == "one_wins":
        losers = tuple(
            p for p in state.parties.get(event.data.conflict_id, ()) if p != event.data.winner
        )
        return _set_status(state, losers, "lost", reason=event.data.notes)
    return state


def initial_all() -> GoalMap[Fixes]:
    """Return the empty set of goals' fixes."""
    return GoalMap()


fold_all = per_goal(initial, fold)
"""Fold an event into the fixes of its goal."""
