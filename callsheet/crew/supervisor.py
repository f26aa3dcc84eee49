"""The supervisor: plans a goal, hands out tasks, reacts to results and failures, replans.

It never does the work. Everything it knows is folded from the log (its board
view and its own memory in ``observe``), so a supervisor killed and restarted
rebuilds the same picture and, since its reactions have derived ids, never
assigns a task twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import msgspec

from callsheet.agents import Agent, HandlerContext, on
from callsheet.agents.recording import call_model
from callsheet.crew.asking import BudgetAsking
from callsheet.crew.budget import has_limits
from callsheet.crew.handoff import DEPENDENCIES, dependency_inputs
from callsheet.crew.memory import BudgetMemory, SupervisorMemory
from callsheet.crew.policy import (
    Escalate,
    FailurePolicy,
    Reassign,
    Retry,
    all_done,
    decide,
    ready,
    waiting,
)
from callsheet.crew.readiness import GoalIndex
from callsheet.events.catalog import (
    ConflictDetected,
    ConflictResolved,
    ConflictResolvedData,
    GoalAccepted,
    GoalCancelled,
    GoalCompleted,
    GoalCompletedData,
    GoalScopeChanged,
    GoalSubmitted,
    GoalSubmittedData,
    PlannedTask,
    PlanProposed,
    PlanProposedData,
    Replanned,
    ReplannedData,
    ReviewCompleted,
    ReviewRequested,
    ReviewRequestedData,
    TaskAssigned,
    TaskAssignedData,
    TaskFailed,
    TaskPlanned,
    TaskPlannedData,
    TaskReassigned,
    TaskReassignedData,
    TaskResult,
    TaskStarted,
)
from callsheet.events.envelope import Event
from callsheet.models import Model, ModelError, ModelReply, ModelRequest, default_model
from callsheet.projections._common import GoalMap
from callsheet.projections.board import Board, TaskCard

__all__ = ["PLAN_SCHEMA", "Supervisor"]

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tasks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "task_id": {"type": "string"},
                    "title": {"type": "string"},
                    "role": {"type": "string"},
                    "depends_on": {"type": "array", "items": {"type": "string"}},
                    "priority": {"type": "integer", "minimum": 0, "maximum": 9},
                },
                "required": ["task_id", "title", "role"],
            },
        },
        "rationale": {"type": "string"},
    },
    "required": ["tasks"],
}


class _Plan(msgspec.Struct, forbid_unknown_fields=False):
    tasks: list[PlannedTask]
    rationale: str = ""


def _goal_level(event: Event) -> bool:
    return event.task_id is None


class Supervisor(BudgetAsking, Agent):
    """Plans, assigns, monitors, reassigns and replans; one per deployment (durable ``supervisor``).

    Budgets (asking a person before a task would pass one, stopping a breach) are
    the handlers of ``BudgetAsking`` (``crew.asking``). Args of the constructor:
    see ``__init__``.
    """

    kind = "supervisor"
    durable = "supervisor"
    views: ClassVar[tuple[str, ...]] = ("board", "costs")

    def __init__(
        self,
        name: str | None = None,
        *,
        roles: tuple[str, ...] = ("database", "backend", "frontend"),
        model: Model | None = None,
        policy: FailurePolicy | None = None,
        review: bool = False,
        reviewer_role: str = "reviewer",
        lease_seconds: float = 30.0,
        max_queued: int | None = 4,
    ) -> None:
        """Create it.

        Args:
            name: Agent id; ``supervisor`` plus a suffix by default.
            roles: Worker roles there are workers for (the planner only uses these).
            model: Planner model; the default model by default.
            policy: Retries, backoff and fallback roles for failed tasks.
            review: Whether every result is reviewed before it counts as done.
            reviewer_role: Role asked for reviews.
            lease_seconds: Lease stated in assignments (the workers' ack wait should match).
            max_queued: Most of its tasks waiting in a role's queue at once (assigned,
                not started); the rest wait in the plan and the most urgent ready
                task, of any of its goals, is assigned as soon as one is taken.
                This is how priority holds across the queue (which delivers in
                order). None: every ready task is assigned at once.

        Raises:
            ValueError: ``max_queued`` below 1.
        """
        if max_queued is not None and max_queued < 1:
            raise ValueError("max_queued must be at least 1 (or None for no limit)")
        super().__init__(name)
        self.roles = roles
        self.model = model or default_model()
        self.policy = policy or FailurePolicy()
        self.review = review
        self.reviewer_role = reviewer_role
        self.task_lease = lease_seconds
        self.max_queued = max_queued
        self.supervised: dict[str, None] = {}
        """Goals this supervisor accepted, in the order it accepted them."""
        self.finished: set[str] = set()
        self.requests: dict[str, GoalSubmittedData] = {}
        self.current: dict[tuple[str, str], str] = {}
        self.role_attempts: dict[tuple[str, str], Counter[str]] = {}
        self.results: dict[str, dict[str, TaskResult]] = {}
        self.replaced: dict[str, dict[str, list[str]]] = {}
        self.early_changes: dict[str, list[str]] = {}
        self.planned: dict[str, set[str]] = {}
        self.budgets = BudgetMemory()
        self._index: dict[str, GoalIndex] = {}
        """Per goal, its ready tasks and queue counts (derived: rebuilt from the board)."""
        self._touched: dict[str, dict[str, None]] = {}
        """Per indexed goal, own tasks events touched since the index last looked."""

    # -- memory: folded from the log ------------------------------------------------

    memory_version = 3

    def memory(self) -> SupervisorMemory:
        """The memory, for a snapshot."""
        return SupervisorMemory(
            supervised=list(self.supervised),
            finished=sorted(self.finished),
            requests=dict(self.requests),
            current=dict(self.current),
            role_attempts={k: dict(v) for k, v in self.role_attempts.items()},
            results={g: dict(r) for g, r in self.results.items()},
            replaced={g: {k: list(v) for k, v in r.items()} for g, r in self.replaced.items()},
            early_changes={g: list(c) for g, c in self.early_changes.items()},
            planned={g: sorted(p) for g, p in self.planned.items()},
            budgets=msgspec.convert(msgspec.to_builtins(self.budgets), BudgetMemory),
        )

    def memory_type(self) -> type[SupervisorMemory]:
        """``SupervisorMemory``."""
        return SupervisorMemory

    def restore(self, memory: SupervisorMemory) -> None:
        """Take back a snapshot's memory."""
        self.supervised = dict.fromkeys(memory.supervised)
        self.finished = set(memory.finished)
        self.requests = dict(memory.requests)
        self.current = dict(memory.current)
        self.role_attempts = {k: Counter(v) for k, v in memory.role_attempts.items()}
        self.results = {g: dict(r) for g, r in memory.results.items()}
        self.replaced = {g: dict(r) for g, r in memory.replaced.items()}
        self.early_changes = {g: list(c) for g, c in memory.early_changes.items()}
        self.planned = {g: set(p) for g, p in memory.planned.items()}
        self.budgets = msgspec.convert(msgspec.to_builtins(memory.budgets), BudgetMemory)
        self._index, self._touched = {}, {}  # rebuilt from the board on first use

    def observe(self, event: Event) -> None:
        """Remember goals, assignments and results (a fold; see ``Agent.observe``)."""
        goal = event.goal_id
        self._observe_budget(event)
        if isinstance(event, GoalSubmitted):
            self.requests[goal] = event.data
        elif isinstance(event, GoalScopeChanged) and goal not in self.supervised:
            # Changed before the plan: the plan takes it into account.
            self.early_changes.setdefault(goal, []).append(event.data.change)
        elif isinstance(event, GoalAccepted) and event.data.supervisor == self.durable_name():
            self.supervised.setdefault(goal)
        elif isinstance(event, GoalCompleted | GoalCancelled):
            self.finished.add(goal)
        elif isinstance(event, TaskPlanned) and event.producer == self.name:
            self.planned.setdefault(goal, set()).add(event.task_id or "")
        elif isinstance(event, TaskAssigned) and event.task_id is not None:
            key = (goal, event.task_id)
            self.current[key] = event.id
            self.role_attempts.setdefault(key, Counter())[event.data.role] += 1
        elif isinstance(event, TaskResult) and event.task_id is not None:
            self.results.setdefault(goal, {})[event.task_id] = event
        elif isinstance(event, Replanned) and event.data.cause_task_id is not None:
            added = [t.task_id for t in event.data.added]
            self.replaced.setdefault(goal, {})[event.data.cause_task_id] = added
        if goal in self._index:
            if event.task_id is None:
                if isinstance(event, PlanProposed | Replanned):  # tasks added or removed
                    del self._index[goal]
                    self._touched.pop(goal, None)
            elif event.task_id in self.planned.get(goal, ()):
                self._touched.setdefault(goal, {})[event.task_id] = None

    def _goal_index(self, ctx: HandlerContext, goal: str) -> GoalIndex | None:
        """The goal's index, brought up to date; None for a goal with replaced tasks."""
        if self.replaced.get(goal):
            return None  # a dependency on a replaced task: the full rule (policy.ready)
        boards: GoalMap[Board] = ctx.view("board")
        board = boards.goals.get(goal) or Board(goal_id=goal)
        index = self._index.get(goal)
        if index is None:
            index = self._index[goal] = GoalIndex.build(board, self.planned.get(goal, ()), None)
            self._touched[goal] = {}
        else:
            touched = self._touched.get(goal)
            if touched:
                index.refresh(board, list(touched), None)
                touched.clear()
        return index

    def _mine(self, event: Event) -> bool:
        return event.goal_id in self.supervised and event.goal_id not in self.finished

    def _own(self, event: Event) -> bool:
        """Whether the event is about a task this supervisor planned (not a sub-supervisor's)."""
        return self._mine(event) and event.task_id in self.planned.get(event.goal_id, ())

    def _own_board(self, ctx: HandlerContext, goal: str | None = None) -> Board:
        """A goal's board (the event's by default) with only the tasks this supervisor planned."""
        goal = ctx.event.goal_id if goal is None else goal
        boards: GoalMap[Board] = ctx.view("board")
        board = boards.goals.get(goal) or Board(goal_id=goal)
        own = self.planned.get(goal, set())
        return replace(board, tasks={k: v for k, v in board.tasks.items() if k in own})

    def _dispatch(self, ctx: HandlerContext, new: Sequence[tuple[str, TaskCard]] = ()) -> None:
        """Assign ready tasks of all its open goals, most urgent first, within ``max_queued``.

        A task the goal's budget cannot pay for is held, and a person asked (``_affordable``).

        Args:
            ctx: The handler's context.
            new: Tasks planned by this handler that can start (not on the board yet).
        """
        goals = [goal for goal in self.supervised if goal not in self.finished]
        fresh = {(goal, card.task_id) for goal, card in new}
        plain = type(self).holds is Supervisor.holds
        views: GoalMap[Board] = ctx.view("board")
        boards: dict[str, Board] = {}  # of goals with budget limits (the budget rule needs them)
        queued: Counter[str] = Counter()
        ready_cards: list[tuple[str, TaskCard]] = []
        for goal in goals:
            limited = has_limits(self.budget_of(goal))
            index = self._goal_index(ctx, goal)
            if index is None or limited:
                board = boards[goal] = self._own_board(ctx, goal)
            if index is None:
                ready_cards += [(goal, card) for card in ready(board, self.replaced.get(goal))]
                queued.update(waiting([board]))
                continue
            # Only the most urgent few per role can be chosen (unless a rule may hold some).
            limit = self.max_queued if plain and not limited else None
            tasks = views.goals[goal].tasks if goal in views.goals else {}
            ready_cards += [(goal, tasks[t]) for t in index.ready_tasks(limit)]
            queued.update(index.queued)
        candidates = [
            (goal, card)
            for goal, card in ready_cards
            if (goal, card.task_id) not in fresh and not self.holds(ctx, goal, card)
        ]
        fresh_ok = [(goal, card) for goal, card in new if not self.holds(ctx, goal, card)]
        for goal, card in self._affordable(ctx, [*candidates, *fresh_ok], queued, boards):
            inputs = self.assignment_inputs(ctx, goal, card)
            self._assign(ctx, card, goal_id=goal, inputs=inputs)

    def holds(self, ctx: HandlerContext, goal: str, card: TaskCard) -> bool:
        """Whether a ready task must wait all the same (a subclass's rule); never, here."""
        del ctx, goal, card
        return False

    def assignment_inputs(self, ctx: HandlerContext, goal: str, card: TaskCard) -> dict[str, Any]:
        """Inputs a subclass adds to a task's first assignment; none, here."""
        del ctx, goal, card
        return {}

    # -- helpers ------------------------------------------------------------------

    def _assign(
        self,
        ctx: HandlerContext,
        card: TaskCard,
        *,
        attempt: int = 1,
        goal_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        if attempt > 1 and card.last_checkpoint_id is not None:
            extra.setdefault("resume_from", card.last_checkpoint_id)  # the worker resumes from it
        goal = goal_id or ctx.event.goal_id
        given = {**card.inputs, **(inputs or {})}
        if card.depends_on:  # the results of what it waited for (bounded: see crew.handoff)
            given[DEPENDENCIES] = dependency_inputs(
                card.depends_on, self.results.get(goal, {}), self.replaced.get(goal)
            )
        ctx.emit(
            TaskAssigned,
            TaskAssignedData(
                role=extra.pop("role", card.role),
                attempt=attempt,
                instructions=card.title,
                priority=card.priority,
                lease_seconds=self.task_lease,
                max_attempts=self.policy.attempts_per_role,
                inputs=given,
                context_keys=list(card.context_keys),
                **extra,
            ),
            task_id=card.task_id,
            goal_id=goal_id,
        )

    def completion(self, ctx: HandlerContext, board: Board) -> GoalCompletedData:
        """The goal's result once every task is done: the tasks' summaries and artifacts."""
        results = self.results.get(ctx.event.goal_id, {})
        summary = "; ".join(
            r.data.summary or f"{task}: done" for task, r in results.items() if task in board.tasks
        )
        artifacts = [a for r in results.values() for a in r.data.artifact_ids]
        return GoalCompletedData(
            outcome="succeeded", summary=summary[:60000], artifact_ids=artifacts
        )

    def _advance(self, ctx: HandlerContext) -> None:
        """Assign what became ready; complete the goal when everything is done."""
        index = self._goal_index(ctx, ctx.event.goal_id)
        if index is None or index.all_done:
            board = self._own_board(ctx)
            if all_done(board):
                ctx.emit(GoalCompleted, self.completion(ctx, board), task_id=None)
                return
        self._dispatch(ctx)

    def _tasks_from(self, output: Any) -> _Plan:
        return msgspec.convert(output, _Plan)

    # -- handlers -------------------------------------------------------------------

    @on()
    async def plan(self, event: GoalAccepted, ctx: HandlerContext) -> None:
        """Decompose an accepted goal into tasks and hand out those that can start."""
        if event.data.supervisor != self.durable_name() or event.goal_id in self.finished:
            return
        request = self.requests.get(event.goal_id)
        title = request.title if request else ctx.board.title
        try:
            reply = await call_model(
                ctx,
                self.model,
                ModelRequest(
                    task="plan",
                    prompt="Decompose the goal into tasks for the available worker roles. "
                    "Use depends_on only where a task needs another's result.",
                    inputs={
                        "title": title,
                        "description": request.description if request else "",
                        "constraints": request.constraints if request else [],
                        "changes": self.early_changes.get(event.goal_id, []),
                        "roles": list(self.roles),
                    },
                    schema=PLAN_SCHEMA,
                ),
            )
            plan = self._tasks_from(reply.output)
            unknown = sorted({t.role for t in plan.tasks} - set(self.roles))
            if not plan.tasks or unknown:
                raise ValueError(f"no tasks, or roles without workers: {unknown}")
        except (msgspec.ValidationError, ValueError, ModelError) as exc:
            why = f"the model failed: {exc}" if isinstance(exc, ModelError) else str(exc)
            ctx.emit(
                GoalCompleted,
                GoalCompletedData(outcome="failed", summary=f"could not plan the goal: {why}"),
                task_id=None,
            )
            return
        ctx.emit(
            PlanProposed,
            PlanProposedData(plan_version=1, tasks=plan.tasks, rationale=plan.rationale[:60000]),
            task_id=None,
        )
        self._plan_tasks(ctx, plan.tasks)

    def _plan_tasks(self, ctx: HandlerContext, tasks: list[PlannedTask]) -> None:
        known = ctx.board.tasks
        for t in tasks:
            ctx.emit(
                TaskPlanned,
                TaskPlannedData(
                    title=t.title,
                    role=t.role,
                    depends_on=t.depends_on,
                    priority=t.priority,
                    inputs=t.inputs,
                    context_keys=t.context_keys,
                ),
                task_id=t.task_id,
            )
        goal = ctx.event.goal_id
        startable = [
            (
                goal,
                TaskCard(
                    task_id=t.task_id,
                    title=t.title,
                    role=t.role,
                    priority=t.priority,
                    depends_on=tuple(t.depends_on),
                    inputs=t.inputs,
                    context_keys=tuple(t.context_keys),
                ),
            )
            for t in tasks
            if all((d in known and known[d].status == "done") for d in t.depends_on)
        ]
        self._dispatch(ctx, startable)

    @on(where=lambda e: e.task_id is not None)
    async def taken(self, event: TaskStarted, ctx: HandlerContext) -> None:
        """A worker took one of its tasks: a place in that role's queue is free."""
        if self.max_queued is not None and self._own(event):
            self._dispatch(ctx)

    @on(where=lambda e: e.task_id is not None)
    async def result(self, event: TaskResult, ctx: HandlerContext) -> None:
        """A task is done: review it, or move the goal on."""
        if not self._own(event) or self.current.get((event.goal_id, event.task_id or "")) is None:
            return
        if event.causation_id != self.current[(event.goal_id, event.task_id or "")]:
            return  # a late result of an older assignment
        if self.review:
            card = ctx.board.tasks.get(event.task_id or "")
            title = card.title if card else event.task_id
            ctx.emit(
                ReviewRequested,
                ReviewRequestedData(
                    review_id=f"review-{event.task_id}-{event.id[-6:]}",
                    reviewer_role=self.reviewer_role,
                    artifact_ids=event.data.artifact_ids,
                    instructions=f"Check the result of: {title}",
                ),
            )
            return
        self._advance(ctx)

    @on()
    async def reviewed(self, event: ReviewCompleted, ctx: HandlerContext) -> None:
        """A review came back: accept the task, or send it back with the findings."""
        if not self._own(event) or event.task_id is None or event.task_id not in ctx.board.tasks:
            return
        card = ctx.board.tasks[event.task_id]
        if event.data.verdict == "approved":
            self._advance(ctx)
            return
        findings = "; ".join(f.message for f in event.data.findings) or event.data.summary
        self._assign(
            ctx, card, attempt=card.attempts + 1, inputs={"review_findings": findings[:60000]}
        )

    @on(where=lambda e: e.task_id is not None)
    async def failed(self, event: TaskFailed, ctx: HandlerContext) -> None:
        """A task failed: retry with backoff, hand it to another role, or escalate."""
        key = (event.goal_id, event.task_id or "")
        if not self._own(event) or event.causation_id != self.current.get(key):
            return  # not ours, or the failure of an assignment already replaced
        card = ctx.board.tasks.get(key[1])
        if card is None:
            return
        attempts = self.role_attempts.get(key, Counter())
        decision = decide(
            card,
            event.data,
            self.policy,
            now=ctx.now(),
            attempts_on_role=attempts[card.role],
            tried_roles=frozenset(attempts),
        )
        if isinstance(decision, Retry):
            self._assign(ctx, card, attempt=decision.attempt, not_before=decision.not_before)
        elif isinstance(decision, Reassign):
            ctx.emit(
                TaskReassigned,
                TaskReassignedData(
                    from_role=card.role,
                    to_role=decision.to_role,
                    reason=event.data.reason,
                    attempt=decision.attempt,
                    from_worker=event.data.worker,
                    attempts_used=card.attempts,
                ),
            )
            self._assign(ctx, card, attempt=decision.attempt, role=decision.to_role)
        elif not (self.policy.decompose and await self._decompose(ctx, card, event)):
            self._escalate(ctx, decision)

    def _is_replacement(self, goal: str, task_id: str) -> bool:
        return any(task_id in added for added in self.replaced.get(goal, {}).values())

    async def _decompose(self, ctx: HandlerContext, card: TaskCard, failure: TaskFailed) -> bool:
        """Plan the failed task anew, as other tasks (once); False if that is not possible."""
        goal = failure.goal_id
        if self._is_replacement(goal, card.task_id) or card.task_id in self.replaced.get(goal, {}):
            return False
        try:
            reply = await self._replan_failed(ctx, card, failure)
        except ModelError:
            return False  # the model cannot help now: escalate
        try:
            plan = self._tasks_from(reply.output)
        except msgspec.ValidationError:
            return False
        return self._replace(ctx, card, failure, plan)

    async def _replan_failed(
        self, ctx: HandlerContext, card: TaskCard, failure: TaskFailed
    ) -> ModelReply:
        board = ctx.board
        return await call_model(
            ctx,
            self.model,
            ModelRequest(
                task="replan",
                prompt="A task failed and cannot be retried as it is. Replace it with other "
                "tasks, for the available roles, that together do what it was meant to do.",
                inputs={
                    "title": board.title,
                    "failed_task": {
                        "task_id": card.task_id,
                        "title": card.title,
                        "role": card.role,
                        "reason": failure.data.reason,
                    },
                    "roles": list(self.roles),
                    "tasks": {t: c.title for t, c in board.tasks.items()},
                },
                schema=PLAN_SCHEMA,
            ),
        )

    def _replace(
        self, ctx: HandlerContext, card: TaskCard, failure: TaskFailed, plan: _Plan
    ) -> bool:
        """Plan the failed task's replacements (False: the plan has none)."""
        board = ctx.board
        added = [
            PlannedTask(task_id=t.task_id, title=t.title, role=t.role, priority=card.priority)
            for t in plan.tasks
            if t.task_id not in board.tasks and t.role in self.roles
        ]
        if not added:
            return False
        ctx.emit(
            Replanned,
            ReplannedData(
                plan_version=board.plan_version + 1,
                trigger="task_failed",
                reason=f"{card.task_id} failed ({failure.data.reason}); {plan.rationale}"[:60000],
                added=added,
                removed=[card.task_id],
                cause_task_id=card.task_id,
            ),
            task_id=None,
        )
        self._plan_tasks(ctx, added)
        return True

    def _escalate(self, ctx: HandlerContext, decision: Escalate) -> None:
        done = [c for c in ctx.board.tasks.values() if c.status == "done"]
        ctx.emit(
            GoalCompleted,
            GoalCompletedData(outcome="partial" if done else "failed", summary=decision.reason),
            task_id=None,
        )

    @on(where=_goal_level)
    async def rescope(self, event: GoalScopeChanged, ctx: HandlerContext) -> None:
        """The scope changed: plan the extra work and start it."""
        if not self._mine(event):
            return
        board = ctx.board
        reply = await call_model(
            ctx,
            self.model,
            ModelRequest(
                task="replan",
                prompt="The goal's scope changed. Give only the tasks to add.",
                inputs={
                    "title": board.title,
                    "change": event.data.change,
                    "roles": list(self.roles),
                    "tasks": {t: c.title for t, c in board.tasks.items()},
                },
                schema=PLAN_SCHEMA,
            ),
        )
        plan = self._tasks_from(reply.output)
        added = [t for t in plan.tasks if t.task_id not in board.tasks and t.role in self.roles]
        ctx.emit(
            Replanned,
            ReplannedData(
                plan_version=board.plan_version + 1,
                trigger="scope_changed",
                reason=event.data.change,
                added=added,
            ),
            task_id=None,
        )
        self._plan_tasks(ctx, added)

    @on()
    async def settle(self, event: ConflictDetected, ctx: HandlerContext) -> None:
        """Settle a conflict: the party whose task is most urgent wins; the others adapt."""
        if event.goal_id not in self.supervised:
            return
        tasks = ctx.board.tasks
        parties = sorted(
            event.data.parties, key=lambda p: (tasks[p].priority if p in tasks else 9, p)
        )
        ctx.emit(
            ConflictResolved,
            ConflictResolvedData(
                conflict_id=event.data.conflict_id,
                resolution="one_wins",
                decided_by=self.name,
                winner=parties[0],
                notes=f"{parties[0]} keeps its approach on {event.data.subject}; "
                f"{', '.join(parties[1:]) or 'nobody else'} adapts",
            ),
        )
