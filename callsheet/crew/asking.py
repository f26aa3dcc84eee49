"""The supervisor's questions and budgets: it asks a person before a task would pass a budget.

A mixin of ``Supervisor`` (its handlers are the supervisor's). Its model answers
the questions meant for an agent (``answer``); a question meant for a human is
left for ``callsheet answer``. The budget handlers are thin over the
pure policies of ``crew.budget`` (estimates, admission, breaches) and
``crew.answers`` (the answer grammar). Every step is an event:

1. Before it hands out a task, the supervisor estimates what the task would
   spend (``budget.admit``); when that would take the goal past a limit it holds
   the task and asks: a ``task.question`` about the task, ``kind="budget"``,
   ``addressed_to="human"`` (no model answers it). The goal is paused: no task
   that may spend starts until the answer; running tasks finish, and tasks that
   similar tasks show spend nothing still start.
2. A person answers with ``callsheet answer`` (``task.answered``, by
   ``human:NAME``). The supervisor reads the answer (``answers.parse``): a raise,
   or a "go on" (the limit raised just enough for the task, by its estimate),
   becomes a decision in the shared context (``context.updated``, key
   ``budget``, kind ``decision``: the budget now, the task let go on), and that
   decision resumes the dispatch where it paused; "stop" cancels the goal.
   An answer it cannot read, or a raise that does not raise, is asked again,
   saying why.
3. A limit passed anyway (a task spent more than its estimate, or had none) is
   a hard stop, as before: ``budget.exceeded`` (action ``stop``), every open
   task cancelled (which fences out its worker), the goal cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec

from callsheet.agents import HandlerContext, on
from callsheet.agents.recording import call_model
from callsheet.crew.answers import GRAMMAR, AnswerError, GoOn, Raise, Stop, apply, parse
from callsheet.crew.budget import (
    Books,
    Over,
    agent_spend,
    breach,
    dispatchable,
    has_limits,
    rescale,
    stretch,
)
from callsheet.crew.memory import BudgetMemory
from callsheet.events.catalog import (
    Budget,
    BudgetExceeded,
    BudgetExceededData,
    ContextUpdated,
    ContextUpdatedData,
    GoalCancelled,
    GoalCancelledData,
    GoalCompleted,
    GoalSubmitted,
    GoalSubmittedData,
    ModelCalled,
    TaskAnswered,
    TaskAnsweredData,
    TaskCancelled,
    TaskCancelledData,
    TaskQuestion,
    TaskQuestionData,
    UsageRecorded,
)
from callsheet.events.envelope import Event
from callsheet.models import Model, ModelError, ModelReply, ModelRequest
from callsheet.projections.board import TERMINAL, Board, TaskCard
from callsheet.projections.costs import Costs, Spend

__all__ = ["BUDGET_KEY", "BudgetAsking", "BudgetDecision", "decided_budget"]

BUDGET_KEY = "budget"
"""The shared-context key of the supervisor's budget decisions."""


class BudgetDecision(msgspec.Struct, kw_only=True, frozen=True):
    """The value of a budget decision in the shared context."""

    budget: Budget
    """The goal's budget from now on."""
    allow: list[str] = []
    """Tasks to start once whatever their estimate ("go on")."""
    question_id: str = ""
    answer: str = ""
    answered_by: str = ""


def decided_budget(events: Iterable[Event]) -> Budget | None:
    """A goal's budget as of its events: the submitted one, then each budget decision's."""
    budget: Budget | None = None
    for event in events:
        if isinstance(event, GoalSubmitted):
            budget = event.data.budget
        elif (
            isinstance(event, ContextUpdated)
            and event.data.key == BUDGET_KEY
            and event.data.kind == "decision"
        ):
            try:
                budget = msgspec.convert(event.data.value, BudgetDecision).budget
            except msgspec.ValidationError:
                continue
    return budget


class BudgetAsking:
    """Budget handling for the supervisor (see the module docstring)."""

    name: str
    model: Model
    requests: dict[str, GoalSubmittedData]
    budgets: BudgetMemory
    max_queued: int | None
    _note = ""
    """Said first in the next question (why the last answer could not be used)."""

    if TYPE_CHECKING:

        def _mine(self, event: Event) -> bool: ...

        def _dispatch(
            self, ctx: HandlerContext, new: Sequence[tuple[str, TaskCard]] = ()
        ) -> None: ...

        def _own_board(self, ctx: HandlerContext, goal: str | None = None) -> Board: ...

    # -- memory -------------------------------------------------------------------------

    def _observe_budget(self, event: Event) -> None:
        """Fold what the budgets need (called by ``Supervisor.observe``)."""
        goal, memory = event.goal_id, self.budgets
        if isinstance(event, TaskQuestion):
            if event.data.kind == "budget" and event.producer == self.name:
                memory.asked.setdefault(goal, {})[event.data.question_id] = event.task_id or ""
        elif isinstance(event, TaskAnswered):
            if event.data.question_id in memory.asked.get(goal, {}):
                memory.answered.setdefault(goal, {}).setdefault(event.data.question_id, event.id)
        elif isinstance(event, ContextUpdated):
            decision = self._decision(event)
            if decision is not None:
                memory.limits[goal] = decision.budget
                memory.allowed.setdefault(goal, []).extend(decision.allow)
        elif isinstance(event, GoalCompleted | GoalCancelled):
            memory.forget(goal)

    def _decision(self, event: ContextUpdated) -> BudgetDecision | None:
        data = event.data
        if data.key != BUDGET_KEY or data.kind != "decision" or event.producer != self.name:
            return None
        try:
            return msgspec.convert(data.value, BudgetDecision)
        except msgspec.ValidationError:
            return None

    def budget_of(self, goal: str) -> Budget | None:
        """The goal's budget now: the submitted one, as raised by answers."""
        request = self.requests.get(goal)
        return self.budgets.limits.get(goal) or (request.budget if request else None)

    # -- before a task starts -------------------------------------------------------------

    def _affordable(
        self,
        ctx: HandlerContext,
        candidates: Sequence[tuple[str, TaskCard]],
        queued: Any,
        boards: dict[str, Board],
    ) -> list[tuple[str, TaskCard]]:
        """The tasks to hand out now: the scheduler's pick less what the budget holds.

        A goal the pick would take past its budget is paused with a question.
        """
        costs: Costs = ctx.view("costs")
        books = {
            goal: Books(
                budget,
                board,
                costs,
                paused=self.budgets.paused(goal),
                allowed=frozenset(self.budgets.allowed.get(goal, ())),
            )
            for goal, board in boards.items()
            if has_limits(budget := self.budget_of(goal))
        }
        decided = dispatchable(candidates, queued, self.max_queued, books)
        for goal, over in decided.asks.items():
            self._ask(ctx, goal, over, waiting=sum(1 for g, _ in decided.held if g == goal))
        out = []
        for goal, card in decided.admitted:
            planned = self.requests[goal].budget if goal in self.requests else None
            inputs = rescale(card.inputs, planned, self.budget_of(goal))
            out.append((goal, replace(card, inputs=inputs) if inputs != card.inputs else card))
        return out

    def _ask(self, ctx: HandlerContext, goal: str, over: Over, *, waiting: int) -> None:
        task = over.task_id or ""
        question_id = f"budget-{task[:60]}-{ctx.event.id[-8:].lower()}"
        others = f" ({waiting - 1} more tasks wait with it)" if waiting > 1 else ""
        text = (
            f"{self._note}Starting task {task} would pass {over.describe()}. The goal is paused: "
            f"nothing more that may spend starts until you answer{others}. Answer with "
            f"`callsheet answer {question_id} TEXT`, TEXT being {GRAMMAR} "
            "(go on: this task, the limit raised by its estimate)."
        )
        ctx.emit(
            TaskQuestion,
            TaskQuestionData(
                question_id=question_id,
                worker=self.name,
                question=text[:65536],
                addressed_to="human",
                kind="budget",
            ),
            task_id=task,
            goal_id=goal,
        )

    # -- questions: a model answers those meant for an agent ---------------------------------

    @on()
    async def answer(self, event: TaskQuestion, ctx: HandlerContext) -> None:
        """Answer a worker's question (recorded like any model call); not one meant for a human."""
        if not self._mine(event) or event.data.addressed_to == "human":
            return
        try:
            reply = await self._answer_call(ctx, event)
        except ModelError as exc:
            ctx.emit(
                TaskAnswered,
                TaskAnsweredData(
                    question_id=event.data.question_id,
                    answer=f"no answer: the model failed ({exc})"[:60000],
                    answered_by=self.name,
                ),
            )
            return
        text = str(reply.output.get("answer", "")) if isinstance(reply.output, dict) else ""
        ctx.emit(
            TaskAnswered,
            TaskAnsweredData(
                question_id=event.data.question_id,
                answer=text[:60000] or "no answer",
                answered_by=self.name,
            ),
        )

    async def _answer_call(self, ctx: HandlerContext, event: TaskQuestion) -> ModelReply:
        return await call_model(
            ctx,
            self.model,
            ModelRequest(
                task="answer",
                prompt="A worker asks a question about its task; answer it briefly.",
                inputs={"question": event.data.question, "task": event.task_id},
                schema={
                    "type": "object",
                    "properties": {"answer": {"type": "string"}},
                    "required": ["answer"],
                },
            ),
        )

    # -- a person answers -----------------------------------------------------------------

    @on()
    async def answered(self, event: TaskAnswered, ctx: HandlerContext) -> None:
        """A person answered a budget question: raise, go on once, or stop; else ask again."""
        goal, qid = event.goal_id, event.data.question_id
        task = self.budgets.asked.get(goal, {}).get(qid)
        first = self.budgets.answered.get(goal, {}).get(qid) == event.id
        if task is None or not first or not self._mine(event):
            return  # not its question, answered already, or the goal has ended
        budget = self.budget_of(goal)
        who = event.data.answered_by
        try:
            reply = parse(event.data.answer)
            if isinstance(reply, Raise):
                budget = apply(budget, reply)
            elif isinstance(reply, GoOn):
                budget = self._stretched(ctx, goal, task, budget)
        except AnswerError as exc:
            # Asked again (the goal is no longer paused by this question): the dispatch
            # that follows asks anew, with today's estimate, saying why.
            self._note = (
                f"The answer {event.data.answer[:200]!r} of {who} could not be used: {exc}. "
            )
            try:
                self._dispatch(ctx)
            finally:
                self._note = ""
            return
        if isinstance(reply, Stop):
            self._stop(ctx, f"stopped by {who}, asked about the budget ({qid})")
            return
        assert budget is not None  # the question was about one of its limits
        decision = BudgetDecision(
            budget=budget,
            allow=[task] if isinstance(reply, GoOn) else [],
            question_id=qid,
            answer=event.data.answer[:1000],
            answered_by=who,
        )
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(
                key=BUDGET_KEY,
                kind="decision",
                value=msgspec.to_builtins(decision),
                rationale=f"{who} answered {qid}: {event.data.answer}"[:65536],
                author=self.name,
            ),
            task_id=None,
        )

    def _stretched(
        self, ctx: HandlerContext, goal: str, task: str, budget: Budget | None
    ) -> Budget | None:
        """The budget raised by what the task asked about is expected to spend ("go on")."""
        boards: dict[str, Board] = {goal: self._own_board(ctx, goal)}
        card = boards[goal].tasks.get(task)
        if card is None or budget is None:
            return budget
        return stretch(Books(budget, boards[goal], ctx.view("costs")), card)

    @on(where=lambda e: e.task_id is None)
    async def resumed(self, event: ContextUpdated, ctx: HandlerContext) -> None:
        """Its own budget decision: hand out what it allows (the goal resumes)."""
        if self._mine(event) and self._decision(event) is not None:
            self._dispatch(ctx)

    # -- a limit passed anyway --------------------------------------------------------------

    @on()
    async def budget(self, event: ModelCalled | UsageRecorded, ctx: HandlerContext) -> None:
        """A goal spent more than a limit: stop it (its open tasks and the goal are cancelled)."""
        if not self._mine(event):
            return
        goal = event.goal_id
        limits = self.budget_of(goal)
        costs: Costs = ctx.view("costs")
        over = breach(limits, costs, goal)
        if over is None or limits is None:
            return
        spent = (
            agent_spend(costs, goal).get(over.agent, Spend())
            if over.agent
            else costs.by_goal.get(goal, Spend())
        )
        per_agent = over.scope == "agent"
        ctx.emit(
            BudgetExceeded,
            BudgetExceededData(
                scope=over.scope,
                scope_id=over.agent or goal,
                limit_usd=limits.max_cost_usd_per_agent if per_agent else limits.max_cost_usd,
                spent_usd=spent.cost_usd,
                limit_tokens=limits.max_tokens_per_agent if per_agent else limits.max_tokens,
                spent_tokens=spent.tokens,
                action="stop",
                details={"limit": over.describe()},
            ),
            task_id=None,
        )
        self._stop(ctx, f"budget exceeded: {over.describe()}")

    def _stop(self, ctx: HandlerContext, reason: str) -> None:
        """Cancel the goal's open tasks (which fences out their workers), then the goal."""
        for card in ctx.board.tasks.values():
            if card.status not in TERMINAL:
                ctx.emit(
                    TaskCancelled, TaskCancelledData(reason=reason[:65536]), task_id=card.task_id
                )
        ctx.emit(GoalCancelled, GoalCancelledData(reason=reason[:65536]), task_id=None)
