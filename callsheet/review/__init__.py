"""Code review by a crew of specialists: ``callsheet review PATH``.

The inventory is taken first; the supervisor plans from it (perspectives by
module group, in parallel); analysts run real analyzers (ruff, bandit, radon,
mypy, the project's own tests with coverage) in subprocesses, every run
recorded as ``tool.called``; verifiers check each finding against the file and
re-run its rule, merge duplicates and reject what does not hold; the
synthesizer writes the Markdown report and the SARIF log from the log. With
``--fix``, fixers propose the tools' fixes as patches, a patch reviewer judges
them, a conflict detector finds where they collide, and the integrator merges
and verifies them into one patch.
"""

from callsheet.review.crew import (
    REVIEW_ROLES,
    ReviewController,
    ReviewSupervisor,
    build_review_crew,
)
from callsheet.review.detector import ConflictDetector
from callsheet.review.fixer import FixerWorker
from callsheet.review.integrate import Integrator
from callsheet.review.inventory import Inventory, InventoryError, scan
from callsheet.review.patch_review import PatchReviewer
from callsheet.review.synthesizer import Synthesizer
from callsheet.review.verifier import VerifierWorker
from callsheet.review.workers import AnalystWorker, InventoryWorker

__all__ = [
    "REVIEW_ROLES",
    "AnalystWorker",
    "ConflictDetector",
    "FixerWorker",
    "Integrator",
    "Inventory",
    "InventoryError",
    "InventoryWorker",
    "PatchReviewer",
    "ReviewController",
    "ReviewSupervisor",
    "Synthesizer",
    "VerifierWorker",
    "build_review_crew",
    "scan",
]
