"""Pipeline: items flow through stage queues, with a dead letter and a circuit breaker.

Stages are roles (``extract`` -> ``transform`` -> ``load``), each with its own
work queue and workers. A coordinator (a supervisor: only supervisors hand out
work) feeds each item to the next stage when the previous one returns its result.

- **Dead letter**: an item whose stage fails is not retried here; it is written
  to the context store under ``dlq.<item>`` (kind ``note``: stage and reason).
- **Circuit breaker**: once a stage has failed ``breaker_after`` times, the
  coordinator records the decision ``breaker.<stage>`` = ``open`` and stops
  feeding that stage: items that reach it later are held (``held.<item>``),
  not assigned.
- The goal completes when every item is loaded, dead-lettered or held
  (``partial`` if any was not loaded).

Events: goal.submitted (description = the items, comma-separated) ->
task.planned + task.assigned per item and stage -> task.result / task.failed ->
context.updated (dlq / breaker / held) -> goal.completed.

Run: ``python -m examples.coordination.pipeline``
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from callsheet.agents import Agent, HandlerContext, WorkContext, on, work
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
    TaskFailed,
    TaskPlanned,
    TaskPlannedData,
    TaskResult,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore, StoredEvent
from examples.coordination.support import run_goal, run_main

__all__ = ["STAGES", "Coordinator", "PipelineSummary", "Stage", "run"]

STAGES = ("extract", "transform", "load")


def _task(item: str, stage: str) -> str:
    return f"{item}.{stage}"


class Coordinator(Agent):
    """Feeds items from stage to stage; dead-letters failures; opens a stage's breaker."""

    kind = "supervisor"
    durable = "pipeline"

    def __init__(self, name: str | None = None, *, breaker_after: int = 2) -> None:
        """Create it; a stage's breaker opens after ``breaker_after`` failures."""
        super().__init__(name)
        self.breaker_after = breaker_after
        self.items: dict[str, list[str]] = {}
        self.failures: dict[str, Counter[str]] = {}
        self.open: dict[str, set[str]] = {}
        self.settled: dict[str, dict[str, str]] = {}

    def observe(self, event: Event) -> None:
        """Memory, folded from the log: items, failures, open breakers, settled items."""
        goal = event.goal_id
        if isinstance(event, GoalSubmitted):
            self.items[goal] = [i.strip() for i in event.data.description.split(",") if i.strip()]
        elif isinstance(event, TaskFailed) and event.producer != self.name:
            stage = (event.task_id or "").rsplit(".", 1)[-1]
            self.failures.setdefault(goal, Counter())[stage] += 1
        elif isinstance(event, ContextUpdated) and event.producer == self.name:
            kind, _, rest = event.data.key.partition(".")
            if kind == "breaker":
                self.open.setdefault(goal, set()).add(rest)
            elif kind in ("dlq", "held", "loaded"):
                self.settled.setdefault(goal, {})[rest] = kind

    def _feed(self, ctx: HandlerContext, item: str, stage: str, payload: Any) -> None:
        if stage in self.open.get(ctx.event.goal_id, set()):
            self._settle(ctx, "held", item, {"stage": stage, "why": "breaker open"})
            return
        task = _task(item, stage)
        ctx.emit(TaskPlanned, TaskPlannedData(title=f"{stage} {item}", role=stage), task_id=task)
        ctx.emit(
            TaskAssigned,
            TaskAssignedData(
                role=stage, instructions=item, inputs={"value": payload}, max_attempts=1
            ),
            task_id=task,
        )

    def _settle(self, ctx: HandlerContext, kind: str, item: str, value: Any) -> None:
        goal = ctx.event.goal_id
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(key=f"{kind}.{item}", kind="note", value=value, author=self.name),
            task_id=None,
        )
        settled = {**self.settled.get(goal, {}), item: kind}
        if set(settled) >= set(self.items.get(goal, [])):
            every = set(settled.values()) == {"loaded"}
            data = GoalCompletedData(outcome="succeeded" if every else "partial")
            ctx.emit(GoalCompleted, data, task_id=None)

    @on()
    async def start(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        """Feed every item to the first stage."""
        for item in self.items.get(event.goal_id, []):
            self._feed(ctx, item, STAGES[0], item)

    @on(where=lambda e: e.task_id is not None)
    async def advance(self, event: TaskResult, ctx: HandlerContext) -> None:
        """Feed the item to the next stage, or count it loaded."""
        item, _, stage = (event.task_id or "").rpartition(".")
        if stage == STAGES[-1]:
            self._settle(ctx, "loaded", item, event.data.output)
            return
        self._feed(ctx, item, STAGES[STAGES.index(stage) + 1], event.data.output)

    @on(where=lambda e: e.task_id is not None)
    async def dead_letter(self, event: TaskFailed, ctx: HandlerContext) -> None:
        """Dead-letter the item; open the stage's breaker at the threshold."""
        item, _, stage = (event.task_id or "").rpartition(".")
        goal = event.goal_id
        failures = self.failures[goal][stage]
        if failures >= self.breaker_after and stage not in self.open.get(goal, ()):
            ctx.emit(
                ContextUpdated,
                ContextUpdatedData(
                    key=f"breaker.{stage}",
                    kind="decision",
                    value="open",
                    rationale=f"{failures} failures in {stage}",
                    author=self.name,
                ),
                task_id=None,
            )
            self.open.setdefault(goal, set()).add(stage)  # folded again when it comes back
        reason = event.data.error or event.data.reason
        self._settle(ctx, "dlq", item, {"stage": stage, "reason": reason})


class Stage(Agent):
    """A worker of one stage: ``transform`` refuses items containing 'bad'.

    Extracting a ``late*`` item takes longer, so it reaches ``transform`` after
    the bad ones have failed.
    """

    kind = "worker"
    lease_seconds = 5.0

    @work()
    async def process(self, event: TaskAssigned, ctx: WorkContext) -> Any:
        """Do the stage's work on the item's value."""
        value = event.data.inputs.get("value")
        slow = self.role == "extract" and str(value).startswith("late")
        await ctx.sleep(0.6 if slow else 0.02)  # the work itself
        if self.role == "transform" and "bad" in str(value):
            raise ValueError(f"cannot transform {value!r}")
        return f"{value}|{self.role}"


def stage_worker(stage: str, name: str) -> Stage:
    """A worker for one stage."""
    cls: type[Stage] = type(f"{stage.capitalize()}Stage", (Stage,), {"role": stage})
    return cls(name)


@dataclass(frozen=True)
class PipelineSummary:
    """What a run showed: items loaded, dead-lettered and held, and the breaker's moment."""

    outcome: str
    loaded: list[str]
    dead: list[str]
    held: list[str]
    breaker_seq: int | None
    transform_assigned_after_breaker: int


def summarize(events: list[StoredEvent]) -> PipelineSummary:
    """Read the outcome back from the log."""
    keys = [(s.seq, s.event.data.key) for s in events if isinstance(s.event, ContextUpdated)]

    def items(kind: str) -> list[str]:
        return sorted(k.split(".", 1)[1] for _, k in keys if k.startswith(kind + "."))

    breaker = next((seq for seq, k in keys if k == "breaker.transform"), None)
    late = [
        s
        for s in events
        if isinstance(s.event, TaskAssigned)
        and s.event.data.role == "transform"
        and breaker is not None
        and s.seq > breaker
    ]
    end = next(s.event for s in events if isinstance(s.event, GoalCompleted))
    return PipelineSummary(
        end.data.outcome, items("loaded"), items("dlq"), items("held"), breaker, len(late)
    )


async def run(store: EventStore, goal_id: str = "pipe", items: str = "") -> PipelineSummary:
    """Run the pipeline over ``items`` (comma-separated; by default 2 good, 2 bad, 2 late)."""
    items = items or "a,b,bad1,bad2,late1,late2"
    agents: list[Agent] = [Coordinator("pipeline")]
    for stage in STAGES:
        agents += [stage_worker(stage, f"{stage}-1"), stage_worker(stage, f"{stage}-2")]
    start = GoalSubmitted.new(
        data=GoalSubmittedData(title="process items", description=items),
        goal_id=goal_id,
        producer="example",
    )
    return summarize(await run_goal(store, agents, goal_id, [start]))


def _show(s: PipelineSummary) -> None:
    print(f"outcome: {s.outcome}")
    print(f"loaded: {s.loaded}\ndead-lettered: {s.dead}\nheld by the open breaker: {s.held}")
    late = s.transform_assigned_after_breaker
    print(f"breaker opened at seq {s.breaker_seq}; transform tasks assigned after it: {late}")


if __name__ == "__main__":
    run_main(run, _show)
