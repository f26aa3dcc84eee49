"""How the review's supervisor changes its plan while the review runs, each change an event.

Every change is a ``plan.replanned`` whose reason says what changed and why:

- *scope change* (``callsheet scope GOAL TEXT``, read by ``review.scope``): before
  the inventory's result the change is kept for the plan made from it; after, the
  added perspectives get analysis and verification tasks of their own, tasks of a
  dropped perspective that have not started are removed (or keep their other
  perspectives), and the report is planned again after the new work. Once the
  report is being written, or when the text cannot be read, nothing changes and
  the event says so.
- *failed subtask*: an analysis or verification over several files that failed
  after its retries is split by file into two halves (once); one file that fails
  is dropped as before (``ReviewSupervisor._escalate``).
- *discovered complexity*: an analyst that finds its files far larger than planned
  hands part of them back; the supervisor plans them as a task of their own.
- *opportunity*: an analyst that notices an error outside its perspectives
  writes it to the context (``opportunity.<task>``); an error-level security or
  bugs problem gets a task, anything else is deferred to the report, each
  decision recorded.
- *worker failure*: a task delivered again because its worker stopped (its lease
  ran out) is recorded, with who had it and who took it over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from callsheet.agents import HandlerContext, on
from callsheet.agents.tools import ToolError
from callsheet.events.catalog import (
    PERSPECTIVES,
    GoalScopeChanged,
    Perspective,
    PlannedTask,
    Replanned,
    ReplannedData,
    ReplanTrigger,
    ReviewSpec,
    TaskFailed,
    TaskResult,
    TaskStarted,
)
from callsheet.events.envelope import Event
from callsheet.projections.board import Board, TaskCard
from callsheet.review.fix_supervision import FixingSupervisor
from callsheet.review.inventory import Inventory
from callsheet.review.plan import (
    ANALYST,
    FIXER,
    INVENTORY_TASK,
    REPORT_TASK,
    REPORTER,
    VERIFIER,
    plan_review,
)
from callsheet.review.scope import ScopeError, parse_scope, rescoped

__all__ = [
    "REPLACES",
    "SCOPE_CHANGED",
    "ReplanningSupervisor",
    "descoped",
    "emit_replan",
    "latest_report",
    "renamed",
    "report_after",
]

REPLACES = "replaces"
"""Input of a task planned in place of another (dependents of the old one wait for it)."""
SCOPE_CHANGED = "scope changed"
"""How the reason of a scope change's replan begins."""


def latest_report(board: Board) -> TaskCard | None:
    """The report task the plan has now (a scope change plans it again)."""
    reports = [c for c in board.tasks.values() if c.role == REPORTER and c.status != "cancelled"]
    return reports[-1] if reports else None


def emit_replan(
    ctx: HandlerContext,
    board: Board,
    trigger: ReplanTrigger,
    reason: str,
    *,
    added: list[PlannedTask] | None = None,
    removed: list[str] | None = None,
    cause_task_id: str | None = None,
) -> None:
    """Emit the goal's next plan version: what changed (maybe nothing) and why."""
    ctx.emit(
        Replanned,
        ReplannedData(
            plan_version=board.plan_version + 1,
            trigger=trigger,
            reason=reason[:65536],
            added=added or [],
            removed=removed or [],
            cause_task_id=cause_task_id,
        ),
        task_id=None,
    )


def report_after(
    report: TaskCard, added: Sequence[PlannedTask], suffix: str, perspectives: Sequence[str]
) -> PlannedTask:
    """The report planned again, after the verifications among ``added`` too."""
    return PlannedTask(
        task_id=REPORT_TASK + suffix,
        title=report.title,
        role=REPORTER,
        depends_on=[*report.depends_on, *(t.task_id for t in added if t.role == VERIFIER)],
        priority=report.priority,
        inputs={**report.inputs, "perspectives": list(perspectives), REPLACES: report.task_id},
    )


def descoped(card: TaskCard) -> bool:
    """Whether a cancelled task was removed by a scope change (not dropped on failure)."""
    return card.status == "cancelled" and (card.reason or "").startswith(
        f"removed by replan: {SCOPE_CHANGED}"
    )


def renamed(tasks: Sequence[PlannedTask], suffix: str) -> list[PlannedTask]:
    """The tasks with ``suffix`` on their ids and on the ids they name among themselves."""
    ids = {t.task_id for t in tasks}

    def new(task_id: str) -> str:
        return task_id + suffix if task_id in ids else task_id

    out = []
    for t in tasks:
        inputs = dict(t.inputs)
        if isinstance(inputs.get("analysis_tasks"), list):
            inputs["analysis_tasks"] = [new(str(i)) for i in inputs["analysis_tasks"]]
        out.append(
            msgspec.structs.replace(
                t, task_id=new(t.task_id), depends_on=[new(d) for d in t.depends_on], inputs=inputs
            )
        )
    return out


def _by_a_tool(error: str) -> bool:
    """Whether a failure's error is a tool's (which may depend on the files it was given)."""
    kinds = {ToolError.__name__, *(k.__name__ for k in ToolError.__subclasses__())}
    return error.split(":", 1)[0] in kinds


def _more(task_id: str) -> str:
    """The task that analyses what ``task_id`` handed back."""
    return f"{task_id}-more"


def _handed_back(result: TaskResult) -> list[str]:
    """The files an analysis handed back (far larger than planned; ``review.growth``)."""
    output = result.data.output
    back = output.get("handed_back") if isinstance(output, dict) else None
    return [str(f) for f in back] if isinstance(back, list) else []


def _with_replacements(tasks: list[str], swaps: Mapping[str, Sequence[str]]) -> list[str]:
    """The tasks and, recursively, those that replaced them (findings of both count)."""
    out: list[str] = []
    todo = list(tasks)
    while todo:
        task = todo.pop(0)
        if task not in out:
            out.append(task)
            todo.extend(swaps.get(task, ()))
    return out


def _halves(card: TaskCard, files: list[str]) -> list[PlannedTask]:
    """The task over each half of its files (by lines, for an analysis)."""
    sizes = [int(n) for n in card.inputs.get("sizes", [1] * len(files))]
    total, running, cut = sum(sizes), 0, 1
    for index, size in enumerate(sizes[:-1], start=1):
        running += size
        cut = index
        if running * 2 >= total:
            break
    tests = {str(t) for t in card.inputs.get("test_files", [])}
    halves = []
    for name, mine, lines in (("a", files[:cut], sizes[:cut]), ("b", files[cut:], sizes[cut:])):
        inputs: dict[str, Any] = {
            **card.inputs,
            "files": mine,
            "test_files": [f for f in mine if f in tests],
        }
        if "sizes" in card.inputs:
            inputs.update(sizes=lines, lines=sum(lines))
        halves.append(
            PlannedTask(
                task_id=f"{card.task_id}-{name}",
                title=f"{card.title} ({len(mine)} of its {len(files)} files)"[:512],
                role=card.role,
                depends_on=list(card.depends_on),
                priority=card.priority,
                inputs=inputs,
            )
        )
    return halves


def _perspectives(card: TaskCard) -> list[str]:
    found = card.inputs.get("perspectives", [])
    return [str(p) for p in found] if isinstance(found, list) else []


class ReplanningSupervisor(FixingSupervisor):
    """The review supervisor's replanning; see the module docstring."""

    def observe(self, event: Event) -> None:
        """Also: scope changes before the inventory's result, and what a replan replaced."""
        super().observe(event)
        goal = event.goal_id
        if (
            isinstance(event, GoalScopeChanged)
            and goal in self.supervised
            and INVENTORY_TASK not in self.results.get(goal, {})
        ):
            self.early_changes.setdefault(goal, []).append(event.data.change)
        elif isinstance(event, Replanned) and event.data.cause_task_id is None:
            swaps = self.replaced.setdefault(goal, {})
            for task in event.data.added:
                old = task.inputs.get(REPLACES)
                if isinstance(old, str):
                    swaps[old] = [task.task_id]
            for task_id in event.data.removed:
                swaps.setdefault(task_id, [])

    def assignment_inputs(self, ctx: HandlerContext, goal: str, card: TaskCard) -> dict[str, Any]:
        """Also: the tasks a verification or merge reads, with what replaced them since."""
        inputs = super().assignment_inputs(ctx, goal, card)
        swaps = self._swaps(goal)
        for name in ("analysis_tasks", "fix_tasks"):
            named = card.inputs.get(name)
            if isinstance(named, list) and any(str(t) in swaps for t in named):
                inputs[name] = _with_replacements([str(t) for t in named], swaps)
        return inputs

    def _swaps(self, goal: str) -> dict[str, list[str]]:
        """What replaced what in the goal's plan (the inventory's plan replaces nothing)."""
        return {k: v for k, v in self.replaced.get(goal, {}).items() if k != INVENTORY_TASK}

    def holds(self, ctx: HandlerContext, goal: str, card: TaskCard) -> bool:
        """Also: a verification waits for what replaced its analyses since it was planned."""
        if super().holds(ctx, goal, card):
            return True
        named = card.inputs.get("analysis_tasks")
        if card.role != VERIFIER or not isinstance(named, list):
            return False
        read = _with_replacements([str(t) for t in named], self._swaps(goal))
        results = self.results.get(goal, {})
        # Handed-back files: their task is planned in the same reaction as the result that
        # handed them back, so the result says what to wait for before the replan is read.
        later = [t for t in read if t not in named]
        later += [_more(t) for t in read if t in results and _handed_back(results[t])]
        tasks = self._own_board(ctx, goal).tasks
        return any(t not in tasks or tasks[t].status not in ("done", "cancelled") for t in later)

    def take_back(self, ctx: HandlerContext, card: TaskCard, result: TaskResult) -> None:
        """An analyst handed back files far larger than planned: a task of their own."""
        back = _handed_back(result)
        if not back:
            return
        output = result.data.output
        assert isinstance(output, dict)  # it handed files back
        files = [str(f) for f in back]
        sizes = [int(n) for n in output.get("handed_back_sizes", [1] * len(files))]
        tests = {str(t) for t in card.inputs.get("test_files", [])}
        names = ", ".join(_perspectives(card))
        more = PlannedTask(
            task_id=_more(card.task_id),
            title=f"Review {len(files)} files ({sum(sizes)} lines) for {names}"[:512],
            role=ANALYST,
            depends_on=list(card.depends_on),
            priority=card.priority,
            inputs={
                **card.inputs,
                "files": files,
                "sizes": sizes,
                "lines": sum(sizes),
                "test_files": [f for f in files if f in tests],
            },
        )
        kept = len(card.inputs.get("files", [])) - len(files)
        reason = (
            f"{card.task_id}: its files have {output.get('measured_lines')} lines, "
            f"{output.get('planned_lines')} planned; it analysed {kept} and handed {len(files)} "
            f"back ({sum(sizes)} lines), which {more.task_id} analyses before the verification"
        )
        emit_replan(ctx, ctx.board, "complexity", reason, added=[more], cause_task_id=card.task_id)
        self._plan_tasks(ctx, [more])

    def split_failed(self, ctx: HandlerContext, card: TaskCard, reason: str) -> bool:
        """Split an analysis or verification of several files that failed, by file, in two.

        The halves are split again if they fail, so a file that always fails ends
        up alone, and is dropped alone. False if the task is not split.
        """
        files = [str(f) for f in card.inputs.get("files", [])]
        if card.role not in (ANALYST, VERIFIER) or len(files) < 2:
            return False
        failure = ctx.event
        if not isinstance(failure, TaskFailed) or not _by_a_tool(failure.data.error or ""):
            return False  # a model that is down, say, fails on any file: splitting cannot help
        halves = _halves(card, files)
        split = " and ".join(f"{h.task_id} ({len(h.inputs['files'])} files)" for h in halves)
        why = (
            f"{card.task_id} failed after its retries ({reason}); split by file into {split}, "
            "so that what fails cannot stop the rest"
        )
        emit_replan(
            ctx, ctx.board, "task_failed", why, added=halves, removed=[card.task_id],
            cause_task_id=card.task_id,
        )  # fmt: skip
        self._plan_tasks(ctx, halves)
        return True

    @on(where=lambda e: e.task_id is not None)
    async def redelivered(self, event: TaskStarted, ctx: HandlerContext) -> None:
        """A task delivered again: the worker that had it stopped. Recorded, with who took over."""
        key = (event.goal_id, event.task_id or "")
        if not self._own(event) or event.data.attempt < 2:
            return
        if event.causation_id != self.current.get(key):
            return  # an assignment replaced since
        card = ctx.board.tasks.get(key[1])
        resume = card.last_checkpoint_id if card is not None else None
        how = f"resumes from checkpoint {resume}" if resume else "starts it again"
        why = (
            f"{key[1]} delivered again (delivery {event.data.attempt}): the worker that "
            f"had it stopped before finishing (its lease ran out); {event.data.worker} took it "
            f"over and {how}"
        )
        emit_replan(ctx, ctx.board, "worker_failed", why)

    def planned_perspectives(self, goal: str, asked: Sequence[Perspective]) -> list[Perspective]:
        """The perspectives the plan after the inventory covers: as asked, then as changed."""
        return rescoped(asked, self.early_changes.get(goal, [])) or list(asked)

    @on(where=lambda e: e.task_id is None)
    async def rescope(self, event: GoalScopeChanged, ctx: HandlerContext) -> None:
        """A person changed the review's scope: change the plan, or say why not."""
        request = self.requests.get(event.goal_id)
        if not self._mine(event) or request is None or request.review is None:
            return
        board = self._own_board(ctx)
        text = event.data.change

        def replanned(
            reason: str, added: list[PlannedTask] | None = None, removed: list[str] | None = None
        ) -> None:
            said = f"{SCOPE_CHANGED}, {text[:2000]!r}: {reason}"
            emit_replan(ctx, board, "scope_changed", said, added=added, removed=removed)

        try:
            change = parse_scope(text)
        except ScopeError as exc:
            replanned(f"not understood ({exc}); nothing changed")
            return
        inventory = self.results.get(event.goal_id, {}).get(INVENTORY_TASK)
        if inventory is None:
            replanned(f"{change.describe()}, taken into account by the plan after the inventory")
            return
        report = latest_report(board)
        if report is None or report.status != "planned":
            replanned("too late, the report is being written; nothing changed")
            return
        analyses = [c for c in board.tasks.values() if c.role == ANALYST]
        current = {p for c in analyses if c.status != "cancelled" for p in _perspectives(c)}
        add = [p for p in change.add if p not in current]
        drop = {p for p in change.drop if p in current}
        if not add and not drop:
            replanned(f"the plan already covers it ({', '.join(sorted(current))}); nothing changed")
            return
        if not (current - drop) and not add:
            replanned("that would leave nothing to review; nothing changed")
            return
        suffix = f"-v{board.plan_version + 1}"
        added = self._added(inventory.data.output, request.review, event.goal_id, add, suffix)
        removed, kept, replacements = self._without(board, drop, suffix)
        added += replacements
        left = [p for p in PERSPECTIVES if (p in current or p in add) and p not in drop]
        added.append(report_after(report, added, suffix, left))
        removed.append(report.task_id)
        reason = _scope_reason(add, drop, kept, added, fixing=request.review.fix)
        replanned(reason, added=added, removed=removed)
        self._plan_tasks(ctx, added)

    def _added(
        self, output: object, spec: ReviewSpec, goal: str, add: list[Perspective], suffix: str
    ) -> list[PlannedTask]:
        """Analysis and verification of the added perspectives (findings reported, not fixed)."""
        if not add:
            return []
        inventory = msgspec.convert(output, Inventory)
        parsed = msgspec.structs.replace(inventory, files=[f for f in inventory.files if f.parses])
        asked = msgspec.structs.replace(spec, perspectives=add, fix=False)
        tasks = [t for t in plan_review(parsed, asked, goal).tasks if t.role != REPORTER]
        return renamed(tasks, suffix)

    def _without(
        self, board: Board, drop: set[Perspective], suffix: str
    ) -> tuple[list[str], list[str], list[PlannedTask]]:
        """Tasks to remove for the dropped perspectives, those already started, replacements."""
        removed: list[str] = []
        kept: list[str] = []
        replacements: list[PlannedTask] = []
        for card in board.tasks.values():
            mine = _perspectives(card)
            if card.role not in (ANALYST, FIXER) or card.status == "cancelled":
                continue
            if not drop & set(mine):
                continue
            if card.status != "planned":
                kept.append(card.task_id)
                continue
            removed.append(card.task_id)
            left = [p for p in mine if p not in drop]
            if left:
                replacements.append(
                    PlannedTask(
                        task_id=card.task_id + suffix,
                        title=f"{card.title} (now {', '.join(left)})"[:512],
                        role=card.role,
                        depends_on=list(card.depends_on),
                        priority=card.priority,
                        inputs={**card.inputs, "perspectives": left, REPLACES: card.task_id},
                    )
                )
        return removed, kept, replacements


def _scope_reason(
    add: Iterable[str],
    drop: Iterable[str],
    kept: list[str],
    added: list[PlannedTask],
    *,
    fixing: bool,
) -> str:
    parts = []
    new = [t.task_id for t in added if t.role in (ANALYST, VERIFIER) and REPLACES not in t.inputs]
    if add:
        unfixed = "; reported, not fixed" if fixing else ""
        parts.append(f"added {', '.join(add)} ({', '.join(new)}{unfixed})")
    if drop:
        parts.append(f"dropped {', '.join(sorted(drop))}")
    if kept:
        parts.append(f"{', '.join(kept)} had started and go on")
    parts.append("the report is written after the new work")
    return "; ".join(parts)
