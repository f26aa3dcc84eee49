"""Conflicts between workers: detected, then resolved, with who decided and how.

Conflicts are keyed by ``(goal_id, conflict_id)``: conflict ids are chosen by the
agent that detects them and are only unique within a goal. A resolution for a
conflict the log never showed being detected is kept (with no kind or parties),
so that nothing the log says is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from callsheet.events.catalog import ConflictDetected, ConflictResolved
from callsheet.events.envelope import Event
from callsheet.projections._common import assoc

__all__ = ["VERSION", "Conflict", "Conflicts", "fold", "initial", "open_conflicts", "resolved"]

VERSION = 1
"""Bumped whenever the fold's output changes, to invalidate snapshots."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict.

    Attributes:
        goal_id: The goal it arose in.
        conflict_id: Its id.
        kind: ``file``, ``design``, ``resource`` or ``priority``; ``None`` if never detected.
        parties: Agents or tasks involved.
        subject: What they collide on.
        description: What the collision is.
        detected_by: Agent that reported it.
        detected_at: When it was reported.
        resolution: How it was settled, or ``None`` while open.
        decided_by: Agent that settled it.
        winner: Party whose approach wins, if any.
        notes: What each party must now do.
        resolved_at: When it was settled.
    """

    goal_id: str
    conflict_id: str
    kind: str | None = None
    parties: tuple[str, ...] = ()
    subject: str = ""
    description: str = ""
    detected_by: str | None = None
    detected_at: datetime | None = None
    resolution: str | None = None
    decided_by: str | None = None
    winner: str | None = None
    notes: str = ""
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Whether it still waits for a decision."""
        return self.resolution is None


@dataclass(frozen=True, slots=True)
class Conflicts:
    """Every conflict seen, by ``(goal_id, conflict_id)``, in order of appearance."""

    by_id: Mapping[tuple[str, str], Conflict] = field(default_factory=dict)


def initial() -> Conflicts:
    """Return the state with no conflict."""
    return Conflicts()


def fold(state: Conflicts, event: Event) -> Conflicts:
    """Return the conflicts after ``event``; never mutates ``state``."""
    if isinstance(event, ConflictDetected):
        d = event.data
        key = (event.goal_id, d.conflict_id)
        # A re-detection refreshes the facts but keeps a resolution already made.
        conflict = replace(
            state.by_id.get(key) or Conflict(goal_id=event.goal_id, conflict_id=d.conflict_id),
            kind=d.kind,
            parties=tuple(d.parties),
            subject=d.subject,
            description=d.description,
            detected_by=event.producer,
            detected_at=event.occurred_at,
        )
        return Conflicts(by_id=assoc(state.by_id, key, conflict))
    if isinstance(event, ConflictResolved):
        r = event.data
        key = (event.goal_id, r.conflict_id)
        conflict = replace(
            state.by_id.get(key) or Conflict(goal_id=event.goal_id, conflict_id=r.conflict_id),
            resolution=r.resolution,
            decided_by=r.decided_by,
            winner=r.winner,
            notes=r.notes,
            resolved_at=event.occurred_at,
        )
        return Conflicts(by_id=assoc(state.by_id, key, conflict))
    return state


def open_conflicts(state: Conflicts, goal_id: str | None = None) -> list[Conflict]:
    """Return the conflicts still open, of one goal or of all."""
    return [c for c in state.by_id.values() if c.is_open and goal_id in (None, c.goal_id)]


def resolved(state: Conflicts, goal_id: str | None = None) -> list[Conflict]:
    """Return the conflicts settled, of one goal or of all."""
    return [c for c in state.by_id.values() if not c.is_open and goal_id in (None, c.goal_id)]
