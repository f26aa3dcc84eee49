"""What makes two fixes collide, and how the supervisor settles it: pure functions.

- **file**: two accepted fixes of one file, made from the same text. Independent
  hunks merge (``patches.merge``); overlapping ones conflict, and the fix of the
  more important perspective wins (security, then bugs, then the rest) while the
  other is made again on top of it.
- **design**: a fix that changes a public signature of the module's contract (the
  inventory's ``contract.<path>`` entry). A change that callers cannot notice (a
  default value, an annotation: ``Signature.accepts_calls_of``) updates the
  contract; one they can (a parameter removed, renamed or made required) keeps the
  contract, and the fix is dropped, when other modules call the function.
- **priority**: an error-level security finding in a file holds the other
  perspectives' fixes of that file until the security fix is settled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from callsheet.events.catalog import PERSPECTIVES, Perspective
from callsheet.review.patches import changed_signatures, merge

__all__ = [
    "FileClash",
    "Fix",
    "SignatureClash",
    "conflict_id",
    "file_clashes",
    "rank_perspective",
    "signature_clashes",
    "winner",
]

_ORDER: tuple[Perspective, ...] = ("security", "bugs", "tests", "complexity", "style")
"""Which perspective's fix wins a clash: security first, then bugs, then the rest."""


@dataclass(frozen=True, slots=True)
class Fix:
    """An accepted fix of one file (from a ``patch.proposed`` its review approved)."""

    patch_id: str
    task_id: str
    path: str
    perspective: Perspective
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class FileClash:
    """Two fixes of one file made from the same text."""

    first: Fix
    second: Fix
    merged: str | None
    lines: tuple[tuple[int, int], ...]

    @property
    def independent(self) -> bool:
        """Whether their hunks merge without overlapping."""
        return self.merged is not None


@dataclass(frozen=True, slots=True)
class SignatureClash:
    """A fix that changes a signature the module's contract names."""

    fix: Fix
    name: str
    before: str
    after: str | None
    callers: tuple[str, ...]
    compatible: bool


def rank_perspective(perspective: str) -> int:
    """0 for the perspective whose fixes win (security), larger for the others."""
    return _ORDER.index(perspective) if perspective in _ORDER else len(PERSPECTIVES)


def winner(first: Fix, second: Fix) -> tuple[Fix, Fix]:
    """``(winner, loser)`` of a clash: the more important perspective, then the earlier fix."""
    ordered = sorted((first, second), key=lambda f: (rank_perspective(f.perspective), f.patch_id))
    return ordered[0], ordered[1]


def conflict_id(kind: str, *parts: str) -> str:
    """A stable id for the conflict between these parties (the same however often it is seen)."""
    digest = hashlib.sha256("\x00".join((kind, *sorted(parts))).encode()).hexdigest()[:16]
    return f"{kind}-{digest}"


def file_clashes(new: Fix, accepted: Iterable[Fix]) -> list[FileClash]:
    """The clashes of a newly accepted fix with those accepted before (other tasks, same text)."""
    found = []
    for other in accepted:
        if other.task_id == new.task_id or other.path != new.path or other.before != new.before:
            continue  # the same task's later round, another file, or made on top of it
        merged = merge(new.before, other.after, new.after)
        found.append(FileClash(other, new, merged.text, merged.conflicts))
    return found


def signature_clashes(
    fix: Fix, contract: Mapping[str, object] | None, callers: Mapping[str, Sequence[str]]
) -> list[SignatureClash]:
    """The signatures of the module's contract that a fix changes.

    Args:
        fix: The accepted fix.
        contract: The module's contract (``{"functions": {name: signature}}``), if any.
        callers: Other files that use each public name (``patches.callers``).
    """
    if not contract:
        return []
    named = contract.get("functions")
    if not isinstance(named, Mapping):
        return []
    found = []
    for old, new in changed_signatures(fix.before, fix.after):
        if old.name not in named:
            continue
        users = tuple(callers.get(old.name.split(".", 1)[0], ()))
        fits = new is not None and new.accepts_calls_of(old)
        found.append(
            SignatureClash(fix, old.name, old.text, None if new is None else new.text, users, fits)
        )
    return found
