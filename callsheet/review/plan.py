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

When the spec says how many analysis tasks the crew runs at once (``slots``: the
analysts in flight, at most the machine's cores), ``split="auto"`` cuts no more
tasks than that: more would only queue, and each would start its tools again.
A task then covers a *group of perspectives* (whose ruff rules one ruff run
selects together) on a group of files, cut so that the tasks' costs, by the
tools' measured cost per line (``COST``), are as even as they can be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import msgspec

from callsheet.events.catalog import PERSPECTIVES, Perspective, PlannedTask, ReviewSpec
from callsheet.projections.fixes import PATCH_REVIEWER
from callsheet.review.inventory import Inventory, SourceFile

__all__ = [
    "ANALYST",
    "COST",
    "FIXER",
    "INTEGRATE_TASK",
    "INTEGRATOR",
    "INVENTORY",
    "LEARN_TASK",
    "MAX_GROUPS",
    "PATCH_NAME",
    "PATCH_REVIEWER",
    "REPORTER",
    "REPORT_TASK",
    "SMALL_LINES",
    "VERIFIER",
    "WATCHED",
    "ReviewPlan",
    "balanced_groups",
    "cache_name",
    "defers_knowledge",
    "inventory_task",
    "module_groups",
    "perspective_groups",
    "plan_review",
]

INVENTORY, ANALYST, VERIFIER, REPORTER = "inventory", "analyst", "verifier", "synthesizer"
"""The worker roles of the review crew."""
FIXER, INTEGRATOR = "fixer", "integrator"
"""The roles of ``--fix``: fixers propose patches (which ``PATCH_REVIEWER`` judges), an
integrator merges them."""
INVENTORY_TASK, REPORT_TASK, INTEGRATE_TASK = "inventory", "report", "integrate"
LEARN_TASK = "learn"
"""The task that learns the project's conventions and contracts, beside the analyses
(``defers_knowledge``); the report and the fixes wait for it."""
PATCH_NAME = "callsheet-review.patch"
"""The combined patch's file name (the CLI writes it in the current folder)."""
WATCHED: tuple[Perspective, ...] = ("security", "bugs")
"""Perspectives whose errors an analyst reports as opportunities when the review leaves them out."""
SMALL_LINES = 2000
COST: dict[Perspective, float] = {
    "security": 0.65,
    "complexity": 0.65,
    "style": 0.05,
    "bugs": 0.02,
    "tests": 1.0,
}
"""Seconds of tool time per 10,000 lines, by perspective (its tools run directly on
setuptools: bandit and radon are the costly ones; ruff is cheap whatever it selects)."""
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
    slots = {"slots": spec.slots} if spec.slots is not None else {}
    return PlannedTask(
        task_id=INVENTORY_TASK,
        title=f"Inventory of {spec.path}"[:512],
        role=INVENTORY,
        priority=2,
        inputs={"path": spec.path, **slots},
    )


def defers_knowledge(slots: int | None, lines: int) -> bool:
    """Whether the conventions and contracts are learnt by a task of their own (``LEARN_TASK``).

    They take seconds to learn on a large codebase (every file's syntax and tokens)
    and no analysis needs them: when the crew runs tasks side by side (``slots``),
    a codebase the plan splits learns them beside the analyses, not before.
    """
    return slots is not None and lines >= SMALL_LINES


def _learning(inventory: Inventory) -> PlannedTask:
    return PlannedTask(
        task_id=LEARN_TASK,
        title="Learn the project's conventions and its modules' contracts",
        role=INVENTORY,
        priority=3,
        inputs={
            "learn": True,
            "root": inventory.root,
            "files": [f.path for f in inventory.files if f.parses],
            "test_files": [f.path for f in inventory.files if f.test],
            "config": msgspec.to_builtins(inventory.config),
        },
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


def balanced_groups(files: Sequence[SourceFile], count: int) -> list[list[SourceFile]]:
    """The files, in path order, cut into at most ``count`` runs of about equal lines."""
    ordered = sorted(files, key=lambda f: f.path)
    total = sum(max(f.lines, 1) for f in ordered)
    groups: list[list[SourceFile]] = [[] for _ in range(max(1, count))]
    seen = 0
    for f in ordered:
        # A file goes to the group its first line falls in: contiguous, even, never more.
        groups[min(len(groups) - 1, seen * len(groups) // max(total, 1))].append(f)
        seen += max(f.lines, 1)
    return [g for g in groups if g]


def perspective_groups(perspectives: Sequence[Perspective], count: int) -> list[list[Perspective]]:
    """The perspectives in ``count`` groups of about equal cost (``COST``), in catalog order.

    The costliest goes first to the cheapest group (longest processing time first).
    """
    parts: list[list[Perspective]] = [[] for _ in range(max(1, min(count, len(perspectives))))]
    loads = [0.0] * len(parts)
    order = sorted(perspectives, key=lambda p: (-COST[p], PERSPECTIVES.index(p)))
    for p in order:
        cheapest = loads.index(min(loads))
        parts[cheapest].append(p)
        loads[cheapest] += COST[p]
    for part in parts:
        part.sort(key=PERSPECTIVES.index)
    return sorted((p for p in parts if p), key=lambda part: PERSPECTIVES.index(part[0]))


def _cut(
    perspectives: Sequence[Perspective], lines: int, slots: int, most_groups: int
) -> tuple[list[list[Perspective]], int]:
    """Perspective groups and a number of file groups, at most ``slots`` tasks in all.

    Of the cuts whose slowest task is within 10 % of the fastest possible, the one
    with the fewest tasks, then the fewest file groups (each file group starts
    every tool again; a perspective group starts only its own).
    """
    options: list[tuple[float, int, int, list[list[Perspective]]]] = []
    for files in range(1, max(1, min(slots, most_groups)) + 1):
        parts = perspective_groups(perspectives, max(1, slots // files))
        slowest = max(sum(COST[p] for p in part) for part in parts) * lines / files
        options.append((slowest, len(parts) * files, files, parts))
    best = min(o[0] for o in options)
    _, _, files, parts = min((o for o in options if o[0] <= best * 1.1), key=lambda o: o[1:3])
    return parts, files


def _common(inventory: Inventory, spec: ReviewSpec, goal_id: str) -> dict[str, Any]:
    return {
        "root": inventory.root,
        "config": msgspec.to_builtins(inventory.config),
        "timeout": spec.tool_timeout,
        "python": spec.python,
        "cache": cache_name(goal_id),
        "typed": inventory.typed,
        "reconfirm": spec.reconfirm,
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


@dataclass(frozen=True, slots=True)
class _Analyses:
    """The analysis tasks, the file groups verified separately, and what covers each."""

    tasks: list[PlannedTask]
    groups: list[list[SourceFile]]
    covering: list[list[str]]
    rationale: str


def _nothing(broken: bool) -> tuple[list[list[SourceFile]], list[list[str]]]:
    """No group to analyse; one to verify if the inventory found files that do not parse."""
    return ([[]], [[]]) if broken else ([], [])


def _one_task(
    files: list[SourceFile], lines: int, wanted: list[Perspective], spec: ReviewSpec, common: Any
) -> _Analyses:
    why = (
        f"{len(files)} files, {lines} lines: small enough for one worker, every perspective"
        if spec.split == "auto"
        else "one task for everything, as asked"
    )
    return _Analyses([_analysis("analyze", wanted, files, common)], [files], [["analyze"]], why)


def _analyses(
    files: list[SourceFile], broken: bool, wanted: list[Perspective], spec: ReviewSpec, common: Any
) -> _Analyses:
    lines = sum(f.lines for f in files)
    if not files:
        return _Analyses([], *_nothing(broken), "nothing to analyse: no Python file that parses")
    if spec.split == "none" or (spec.split == "auto" and lines < SMALL_LINES):
        return _one_task(files, lines, wanted, spec, common)
    whole = [p for p in wanted if p == "tests"]
    split = [p for p in wanted if p != "tests"]
    tasks = [_analysis("analyze-tests", whole, files, common, priority=3)] if whole else []
    if not split:
        return _Analyses(tasks, *_nothing(broken), "the tests and typing over the whole codebase")
    if spec.slots is not None and spec.split == "auto":
        return _slotted(files, lines, split, spec, common, tasks)
    groups = module_groups(files, spec.lines_per_task) if lines >= SMALL_LINES else [files]
    covering: list[list[str]] = [[] for _ in groups]
    for index, group in enumerate(groups, start=1):
        suffix = f"-{index:02d}" if len(groups) > 1 else ""
        for perspective in split:
            task_id = f"analyze-{perspective}{suffix}"
            tasks.append(_analysis(task_id, [perspective], group, common))
            covering[index - 1].append(task_id)
    why = (
        f"{len(files)} files, {lines} lines in {len(groups)} module group(s) of about "
        f"{spec.lines_per_task} lines: {len(split)} perspective(s) per group in parallel"
        + (", the tests and typing over the whole codebase" if whole else "")
    )
    return _Analyses(tasks, groups, covering, why)


def _slotted(
    files: list[SourceFile],
    lines: int,
    split: Sequence[Perspective],
    spec: ReviewSpec,
    common: Any,
    tasks: list[PlannedTask],
) -> _Analyses:
    """At most ``spec.slots`` tasks (the tests' one included): perspective groups by file groups."""
    slots = max(1, spec.slots or 1) - len(tasks)
    by_lines = max(1, -(-lines // spec.lines_per_task))
    parts, count = _cut(split, lines, max(1, slots), min(by_lines, MAX_GROUPS))
    groups = balanced_groups(files, count)
    covering: list[list[str]] = [[] for _ in groups]
    for index, group in enumerate(groups, start=1):
        suffix = f"-{index:02d}" if len(groups) > 1 else ""
        for part in parts:
            task_id = f"analyze-{'-'.join(part)}{suffix}"
            tasks.append(_analysis(task_id, part, group, common))
            covering[index - 1].append(task_id)
    named = "; ".join(", ".join(part) for part in parts)
    why = (
        f"{len(files)} files, {lines} lines, {spec.slots} analysis task(s) at once: "
        f"{len(groups)} file group(s) by {len(parts)} perspective group(s) ({named}), "
        "cut by the tools' cost"
        + (
            ", the tests and typing over the whole codebase"
            if len(tasks) > len(groups) * len(parts)
            else ""
        )
    )
    return _Analyses(tasks, groups, covering, why)


def _verification(
    task_id: str, title: str, ids: list[str], group: list[SourceFile], common: Any
) -> PlannedTask:
    return PlannedTask(
        task_id=task_id,
        title=title,
        role=VERIFIER,
        depends_on=ids,
        priority=4,
        inputs={
            **common,
            "analysis_tasks": [i for i in ids if not i.startswith("verify")],
            "files": [f.path for f in group],
            "test_files": [f.path for f in group if f.test],
        },
    )


def plan_review(inventory: Inventory, spec: ReviewSpec, goal_id: str) -> ReviewPlan:
    """The tasks that follow the inventory; see the module docstring."""
    files = [f for f in inventory.files if f.parses]
    broken = [f for f in inventory.files if not f.parses]  # their syntax errors need verifying
    wanted = [p for p in PERSPECTIVES if p in spec.perspectives]
    common = _common(inventory, spec, goal_id)
    # Analysts keep an eye on what the review does not cover (an opportunity, when found).
    watch = [p for p in WATCHED if p not in wanted]
    watching = {**common, "watch": watch} if watch else common
    plan = _analyses(files, bool(broken), wanted, spec, watching)
    verify: list[PlannedTask] = []
    for index, (group, ids) in enumerate(zip(plan.groups, plan.covering, strict=True), start=1):
        task_id = "verify" if len(plan.groups) == 1 else f"verify-{index:02d}"
        if index == 1 and broken:  # the inventory reported their syntax errors
            group, ids = [*group, *broken], [INVENTORY_TASK, *ids]
        title = f"Verify the findings in {len(group)} files"
        verify.append(_verification(task_id, title, ids, group, common))
    if any(t.task_id == "analyze-tests" for t in plan.tasks):
        # After the groups' verifications: what the tests and typing found again merges
        # into the findings they kept (pyflakes' and mypy's undefined names...).
        title = f"Verify the tests' and typing's findings in {len(files)} files"
        ids = ["analyze-tests", *(t.task_id for t in verify)]
        verify.append(_verification("verify-tests", title, ids, files, common))
    learn = [_learning(inventory)] if defers_knowledge(spec.slots, inventory.lines) else []
    fixes = _fixes(plan, verify, files, common) if spec.fix else []
    if learn:  # the fixes are held to the conventions and contracts
        fixes = [msgspec.structs.replace(t, depends_on=[*t.depends_on, LEARN_TASK]) for t in fixes]
    report = PlannedTask(
        task_id=REPORT_TASK,
        title="Write the report",
        role=REPORTER,
        depends_on=[t.task_id for t in verify]
        + [t.task_id for t in fixes[-1:]]
        + [t.task_id for t in learn],
        priority=4,
        inputs={"root": inventory.root, "per_rule": spec.per_rule, "perspectives": wanted},
    )
    why = plan.rationale + (
        "; each analysis's findings fixed, then merged and verified" if fixes else ""
    )
    return ReviewPlan([*learn, *plan.tasks, *verify, *fixes, report], why)


def _fixes(
    plan: _Analyses, verify: list[PlannedTask], files: list[SourceFile], common: Any
) -> list[PlannedTask]:
    """A fix task for each analysis task (after the verification of its group), and the merge."""
    by_analysis = {a: v.task_id for v in verify for a in v.depends_on}
    fixes = []
    for task in plan.tasks:
        perspectives = [p for p in task.inputs["perspectives"] if p != "tests"]
        if not perspectives or task.task_id not in by_analysis:
            continue
        count = len(task.inputs["files"])
        fixes.append(
            PlannedTask(
                task_id="fix" + task.task_id.removeprefix("analyze"),
                title=f"Fix the {', '.join(perspectives)} findings in {count} files",
                role=FIXER,
                depends_on=[by_analysis[task.task_id]],
                priority=task.priority,
                inputs={
                    **common,
                    "perspectives": perspectives,
                    "files": task.inputs["files"],
                    "test_files": task.inputs["test_files"],
                },
            )
        )
    if not fixes:
        return []
    merge_after = [t.task_id for t in fixes] + [
        t.task_id for t in verify if t.task_id == "verify-tests"
    ]
    integrate = PlannedTask(
        task_id=INTEGRATE_TASK,
        title="Merge the accepted fixes and verify the fixed tree",
        role=INTEGRATOR,
        depends_on=merge_after,
        priority=4,
        inputs={
            **common,
            "fix_tasks": [t.task_id for t in fixes],
            "files": [f.path for f in files],
            "test_files": [f.path for f in files if f.test],
        },
    )
    return [*fixes, integrate]
