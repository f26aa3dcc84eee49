"""Analyzer adapters: each runs a real tool in a subprocess and reads its findings.

``for_perspective`` gives the adapters of a perspective; ``ALL`` every adapter,
by key (what a finding's ``tool`` and the verifier's re-confirmation use).
"""

from __future__ import annotations

from callsheet.events.catalog import FindingReportedData, Perspective
from callsheet.review.analyzers.bandit import Bandit
from callsheet.review.analyzers.base import Analyzer, Job, Raw, relative
from callsheet.review.analyzers.mypy import Mypy
from callsheet.review.analyzers.radon import RadonComplexity, RadonMaintainability
from callsheet.review.analyzers.ruff import Ruff
from callsheet.review.analyzers.tests import Pytest

__all__ = [
    "ALL",
    "Analyzer",
    "Bandit",
    "Job",
    "Mypy",
    "Pytest",
    "RadonComplexity",
    "RadonMaintainability",
    "Raw",
    "Ruff",
    "for_perspective",
    "key_of",
    "relative",
]

_BY_PERSPECTIVE: dict[Perspective, tuple[Analyzer, ...]] = {
    "security": (Ruff("security"), Bandit()),
    "bugs": (Ruff("bugs"),),
    "complexity": (Ruff("complexity"), RadonComplexity(), RadonMaintainability()),
    "style": (Ruff("style"),),
    "tests": (Mypy(), Pytest()),
}

ALL: dict[str, Analyzer] = {a.key: a for group in _BY_PERSPECTIVE.values() for a in group}
"""Every adapter, by key (``ruff/security``, ``bandit/security``, ``mypy/tests``...)."""


def for_perspective(
    perspective: Perspective, *, typed: bool = True, tests: bool = True
) -> tuple[Analyzer, ...]:
    """The adapters of a perspective; mypy only for a typed project, pytest only with tests."""
    return tuple(
        a
        for a in _BY_PERSPECTIVE[perspective]
        if (typed or not isinstance(a, Mypy)) and (tests or not isinstance(a, Pytest))
    )


def key_of(finding: FindingReportedData) -> str | None:
    """The key of the adapter that reported a finding (None: no adapter, e.g. the model's)."""
    if finding.tool == "radon":
        return "radon-cc/complexity" if finding.rule == "CC" else "radon-mi/complexity"
    key = f"{finding.tool}/{finding.perspective}"
    return key if key in ALL else None
