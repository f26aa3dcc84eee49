"""What ``callsheet review --fix`` writes: the combined patch, and ``--apply``'s use of it.

The patch is the integrator's artifact, read from the log (checked against its
digest) and written whole or not at all. ``--apply`` hands it to ``git apply``
in the reviewed root, and only when the integrator verified the fixed tree:
first ``--check`` (a tree edited since the review refuses the patch, and nothing
is written), then the real application.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from callsheet.events.catalog import ArtifactPublished, TaskResult
from callsheet.events.store import StoredEvent
from callsheet.review.plan import INTEGRATE_TASK

__all__ = ["EXIT_NOT_APPLIED", "FixOutcome", "apply_patch", "fix_outcome"]

EXIT_NOT_APPLIED = 3
"""``--apply`` was asked for, and the patch was not applied (not verified, or refused)."""


@dataclass(frozen=True, slots=True)
class FixOutcome:
    """What the merge of the fixes gave, from its task's last result.

    Attributes:
        verified: Whether the fixed tree passed the checks and the project's tests.
        files: The files the patch changes.
        applied: The patches merged into it.
        left_out: Patches left out, with the reason.
        summary: The integrator's one-line account.
        artifact: The patch's ``artifact.published``, if there is a patch.
    """

    verified: bool
    files: list[str]
    applied: list[str]
    left_out: dict[str, str]
    summary: str
    artifact: ArtifactPublished | None


def fix_outcome(events: list[StoredEvent], named: list[str]) -> FixOutcome | None:
    """The merge's outcome (None: the goal ran no merge), the patch only if the goal names it."""
    result: TaskResult | None = None
    for stored in events:
        event = stored.event
        if isinstance(event, TaskResult) and event.task_id == INTEGRATE_TASK:
            result = event
    if result is None:
        return None
    output: dict[str, Any] = result.data.output if isinstance(result.data.output, dict) else {}
    artifact = None
    for stored in events:
        event = stored.event
        if (
            isinstance(event, ArtifactPublished)
            and event.data.artifact_id in result.data.artifact_ids
            and event.data.artifact_id in named
        ):
            artifact = event
    return FixOutcome(
        verified=bool(output.get("verified")),
        files=[str(f) for f in output.get("files", [])],
        applied=[str(p) for p in output.get("applied", [])],
        left_out={str(k): str(v) for k, v in (output.get("left_out") or {}).items()},
        summary=result.data.summary,
        artifact=artifact,
    )


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise click.ClickException("--apply needs git (git apply), which is not on PATH")
    # Paths are relative to root: git must not take them as relative to an enclosing
    # repository's top (it does when they happen to start with root's own path in it).
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.resolve().parent)}
    return subprocess.run(
        [git, "-C", str(root), "apply", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def apply_patch(root: Path, patch: Path) -> str | None:
    """Apply ``patch`` to the tree at ``root`` with ``git apply``; the reason if it did not.

    Nothing is written unless the whole patch applies (``--check`` first).
    """
    checked = _git(root, "--check", str(patch.resolve()))
    if checked.returncode != 0:
        said = (checked.stderr or checked.stdout).strip().splitlines()
        return "the patch no longer applies: " + (said[0] if said else "git apply refused it")
    applied = _git(root, str(patch.resolve()))
    if applied.returncode != 0:
        said = (applied.stderr or applied.stdout).strip().splitlines()
        return "git apply failed: " + (said[0] if said else "no reason given")
    return None
