"""Discovered complexity: an analyst whose files are far larger than planned hands part back.

The plan sizes a task by the lines the inventory counted. When the files have
grown since (or the inventory was wrong) by more than ``GROWTH`` times and by at
least ``GROWTH_LINES`` lines, the analyst keeps the files that fit the planned
size (at least one) and hands the others back in its result; the supervisor
plans them as a task of their own (``review.replanning``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GROWTH", "GROWTH_LINES", "Handback", "hand_back", "measure"]

GROWTH = 2.0
"""How many times larger than planned a task's files must be to be split."""
GROWTH_LINES = 1000
"""And by how many lines at least (a few lines more is no reason to replan)."""


@dataclass(frozen=True, slots=True)
class Handback:
    """The files an analyst keeps, and those it hands back, with their lines now."""

    kept: list[str]
    kept_sizes: list[int]
    back: list[str]
    back_sizes: list[int]


def measure(root: str, files: Sequence[str]) -> list[int]:
    """Lines of each file now (0 for a file that cannot be read)."""
    sizes = []
    for rel in files:
        try:
            sizes.append((Path(root) / rel).read_bytes().count(b"\n"))
        except OSError:
            sizes.append(0)
    return sizes


def hand_back(files: Sequence[str], planned: Sequence[int], now: Sequence[int]) -> Handback | None:
    """What to hand back, or None when the files are about as large as planned."""
    budget, total = sum(planned), sum(now)
    if len(files) < 2 or total < GROWTH * budget or total - budget < GROWTH_LINES:
        return None
    kept, used = 1, now[0]
    while kept < len(files) - 1 and used + now[kept] <= budget:
        used += now[kept]
        kept += 1
    return Handback(list(files[:kept]), list(now[:kept]), list(files[kept:]), list(now[kept:]))
