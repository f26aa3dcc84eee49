"""The review's plan, from the inventory: a pure function (so a re-drive plans the same).

After the inventory, the supervisor plans:

- analysis tasks: each perspective on each module group, in parallel. Groups are
  consecutive folders of the tree packed up to ``lines_per_task`` lines, so a
  task's size follows the code's, not the number of files. The tests perspective
  (mypy and the project's own test suite) is one task over the whole codebase,
  since neither splits well; it starts first, being the longest.
- a verification task per group, after the group's analysis tasks; the tests
  and typing's findings are verified last, merged into what the groups kept;
- the report, last.

A small codebase (under ``SMALL_LINES`` lines) is not worth decomposing: one
task does every perspective (``split="auto"``). ``split="perspective"`` keeps one
task per perspective however small the code; ``split="none"`` one task in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import msgspec

from callsheet.events.catalog import PERSPECTIVES, Perspective, PlannedTask, ReviewSpec
from callsheet.review.inventory import Inventory, SourceFile

__all__ = [
    "ANALYST",
    "INVENTORY",
    "MAX_GROUPS",
    "REPORTER",
    "REPORT_TASK",
    "SMALL_LINES",
    "VERIFIER",
    "ReviewPlan",
    "cache_name",
    "inventory_task",
    "module_groups",
    "plan_review",
]

INVENTORY, ANALYST, VERIFIER, REPORTER = "inventory", "analyst", "verifier", "synthesizer"
"""The worker roles of the review crew."""
INVENTORY_TASK, REPORT_TASK = "inventory", "report"
SMALL_LINES = 2000
"""Below this many lines, ``split="auto"`` gives everything to one worker."""
MAX_GROUPS = 48
"""Most module groups: a bigger codebase gets bigger groups (the plan stays one batch)."""


@dataclass(frozen=True, slots=True)
class ReviewPlan:
    """The tasks after the inventory, and why they are cut this way."""

    tasks: list[PlannedTask]
    rationale: str


def cache_name(goal_id: str) -> str:
    """Name of the goal's lasting tool cache (mypy's, shared by analysis and verification)."""
    import hashlib

    return "review-" + hashlib.sha256(goal_id.encode()).hexdigest()[:16]


def inventory_task(spec: ReviewSpec) -> PlannedTask:
    """The first task: take the inventory of the codebase."""
    return PlannedTask(
        task_id=INVENTORY_TASK,
        title=f"Inventory of {spec.path}"[:512],
        role=INVENTORY,
        priority=2,
        inputs={"path": spec.path},
    )


def _key(path: str) -> tuple[str, ...]:
    """The folder a file belongs to for grouping: its first two folders at most."""
    parts = PurePosixPath(path).parts[:-1]
    return tuple(parts[:2])


def module_groups(files: Sequence[SourceFile], lines_per_task: int) -> list[list[SourceFile]]:
    """Consecutive folders packed into groups of about ``lines_per_task`` lines.

    A folder is split only when it is larger than a group on its own; at most
    ``MAX_GROUPS`` groups are made (the target grows with the codebase).
    """
    total = sum(f.lines for f in files)
    # Every group but the last holds at least half the target, hence the bound.
    target = max(lines_per_task, -(-2 * total // (MAX_GROUPS - 1)))
    ordered = sorted(files, key=lambda f: f.path)
    groups: list[list[SourceFile]] = []
    current: list[SourceFile] = []
    size = 0
    for f in ordered:
        moving = bool(current) and _key(f.path) != _key(current[-1].path)
        if current and (size >= target or (moving and size >= target // 2)):
            groups.append(current)
            current, size = [], 0
        current.append(f)
        size += max(f.lines, 1)
    if current:
        groups.append(current)
    return groups


def _common(inventory: Inventory, spec: ReviewSpec, goal_id: str) -> dict[str, Any]:
    return {
        "root": inventory.root,
        "config": msgspec.to_builtins(inventory.config),
        "timeout": spec.tool_timeout,
        "python": spec.python,
        "cache": cache_name(goal_id),
        "typed": inventory.typed,
    }


def _analysis(
    task_id: str,
    perspectives: Sequence[Perspective],
    files: Sequence[SourceFile],
    common: dict[str, Any],
    priority: int = 5,
) -> PlannedTask:
    names = ", ".join(perspectives)
    lines = sum(f.lines for f in files)
    return PlannedTask(
        task_id=task_id,
        title=f"Review {len(files)} files ({lines} lines) for {names}"[:512],
        role=ANALYST,
        priority=priority,
        inputs={
            **common,
            "perspectives": list(perspectives),
            "files": [f.path for f in files],
            "sizes": [f.lines for f in files],
            "test_files": [f.path for f in files if f.test],
            "lines": lines,
        },
    )


def plan_review(inventory: Inventory, spec: ReviewSpec, goal_id: str) -> ReviewPlan:
    """The tasks that follow the inventory; see the module docstring."""
    files = [f for f in inventory.files if f.parses]
    broken = [f for f in inventory.files if not f.parses]  # their syntax errors need verifying
    wanted = [p for p in PERSPECTIVES if p in spec.perspectives]
    common = _common(inventory, spec, goal_id)
    report_inputs = {"root": inventory.root, "per_rule": spec.per_rule, "perspectives": wanted}
    lines = sum(f.lines for f in files)
    tasks: list[PlannedTask] = []
    verify: list[PlannedTask] = []
    one_task = spec.split == "none" or (spec.split == "auto" and lines < SMALL_LINES)
    groups: list[list[SourceFile]]
    covering: list[list[str]]
    if not files:
        groups, covering = ([[]], [[]]) if broken else ([], [])
        rationale = "nothing to analyse: no Python file that parses"
    elif one_task:
        tasks.append(_analysis("analyze", wanted, files, common))
        groups = [files]
        rationale = (
            f"{len(files)} files, {lines} lines: small enough for one worker, every perspective"
            if spec.split == "auto"
            else "one task for everything, as asked"
        )
        covering = [["analyze"]]
    else:
        whole = [p for p in wanted if p == "tests"]
        split = [p for p in wanted if p != "tests"]
        if not split:
            groups, covering = ([[]], [[]]) if broken else ([], [])
        else:
            groups = module_groups(files, spec.lines_per_task) if lines >= SMALL_LINES else [files]
            covering = [[] for _ in groups]
        if whole:
            tasks.append(_analysis("analyze-tests", whole, files, common, priority=3))
        for index, group in enumerate(groups if split else [], start=1):
            suffix = f"-{index:02d}" if len(groups) > 1 else ""
            for perspective in split:
                task_id = f"analyze-{perspective}{suffix}"
                tasks.append(_analysis(task_id, [perspective], group, common))
                covering[index - 1].append(task_id)
        rationale = (
            f"{len(files)} files, {lines} lines in {len(groups)} module group(s) of about "
            f"{spec.lines_per_task} lines: {len(split)} perspective(s) per group in parallel"
            + (", the tests and typing over the whole codebase" if whole else "")
        )
    for index, (group, ids) in enumerate(zip(groups, covering, strict=True), start=1):
        task_id = "verify" if len(groups) == 1 else f"verify-{index:02d}"
        if index == 1 and broken:  # the inventory reported their syntax errors
            group, ids = [*group, *broken], [INVENTORY_TASK, *ids]
        verify.append(
            PlannedTask(
                task_id=task_id,
                title=f"Verify the findings in {len(group)} files",
                role=VERIFIER,
                depends_on=ids,
                priority=4,
                inputs={
                    **common,
                    "analysis_tasks": ids,
                    "files": [f.path for f in group],
                    "test_files": [f.path for f in group if f.test],
                },
            )
        )
    if any(t.task_id == "analyze-tests" for t in tasks):
        # After the groups' verifications: what the tests and typing found again merges
        # into the findings they kept (pyflakes' and mypy's undefined names...).
        verify.append(
            PlannedTask(
                task_id="verify-tests",
                title=f"Verify the tests' and typing's findings in {len(files)} files",
                role=VERIFIER,
                depends_on=["analyze-tests", *(t.task_id for t in verify)],
                priority=4,
                inputs={
                    **common,
                    "analysis_tasks": ["analyze-tests"],
                    "files": [f.path for f in files],
                    "test_files": [f.path for f in files if f.test],
                },
            )
        )
    report = PlannedTask(
        task_id=REPORT_TASK,
        title="Write the report",
        role=REPORTER,
        depends_on=[t.task_id for t in verify],
        priority=4,
        inputs=report_inputs,
    )
    return ReviewPlan([*tasks, *verify, report], rationale)
