"""Specialist workers: one role each.

A worker plans the task with the model, does it step by step with a checkpoint
after every step, publishes the artifact and reports the result.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from callsheet.agents import Agent, WorkContext, work
from callsheet.agents.recording import call_model
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    TaskAssigned,
    TaskResultData,
)
from callsheet.models import Model, ModelRequest, default_model

__all__ = ["WORK_SCHEMA", "SpecialistWorker", "worker_class"]

WORK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "step_seconds": {"type": "number", "minimum": 0},
        "summary": {"type": "string"},
    },
    "required": ["steps", "summary"],
}


class SpecialistWorker(Agent):
    """A worker of one role (set ``role`` in a subclass, or use ``worker_class``).

    Resumes from the task's last checkpoint when a task comes back after a
    crash: the steps already done are not done again.
    """

    kind = "worker"
    role: ClassVar[str | None] = None
    step_seconds: ClassVar[float | None] = None

    def __init__(
        self,
        name: str | None = None,
        *,
        model: Model | None = None,
        step_seconds: float | None = None,
    ) -> None:
        """Create it.

        Args:
            name: Agent id; ``{role}-{random}`` by default.
            model: The model that plans the work; the default model by default.
            step_seconds: Time each step takes; the class's ``step_seconds``, or
                the model's plan, by default.
        """
        super().__init__(name)
        self.model = model or default_model()
        self.pace = type(self).step_seconds if step_seconds is None else step_seconds

    @staticmethod
    def _context(ctx: WorkContext) -> dict[str, Any]:
        """The value of each context-store entry the assignment names (its scoped context)."""
        return {key: entry.value for key, entry in ctx.context.items()}

    @work()
    async def perform(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Do the task: plan (or resume), then each step with a checkpoint and progress."""
        state: dict[str, Any]
        resumed_from = ctx.checkpoint_id
        if isinstance(ctx.checkpoint, dict) and "steps" in ctx.checkpoint:
            state = dict(ctx.checkpoint)
        else:
            reply = await call_model(
                ctx,
                self.model,
                ModelRequest(
                    task="work",
                    prompt=f"As the {self.role} specialist, plan and do this task.",
                    inputs={
                        "title": event.data.instructions,
                        "inputs": event.data.inputs,
                        "context": self._context(ctx),
                    },
                    schema=WORK_SCHEMA,
                ),
            )
            output = reply.output if isinstance(reply.output, dict) else {}
            steps = [str(s) for s in output.get("steps", [])] or ["do it"]
            seconds = self.pace
            if seconds is None:
                seconds = float(output.get("step_seconds", 0.2))
            state = {
                "steps": steps,
                "done": 0,
                "step_seconds": seconds,
                "summary": str(output.get("summary", "")),
            }
        steps = state["steps"]
        for index in range(int(state["done"]), len(steps)):
            await ctx.sleep(float(state["step_seconds"]))  # the work itself
            state = {**state, "done": index + 1}
            # The checkpoint, then its progress report: two fenced appends. Not one atomic
            # batch: the server stages every atomic batch in files of its own, synced
            # (several fsyncs, holding up the stream's other appends), which costs far
            # more than a second plain append.
            await ctx.save_checkpoint(state, note=steps[index])
            await ctx.progress(100.0 * (index + 1) / len(steps), note=steps[index])
        content = "\n".join(f"- {s}" for s in steps)
        artifact_id = f"{ctx.task_id}-output"
        await ctx.publish_artifact(
            artifact_id,
            f"{ctx.task_id}.md",
            content,
            media_type="text/markdown",
            digest="sha256:" + hashlib.sha256(content.encode()).hexdigest(),
            size=len(content.encode()),
        )
        await ctx.send(
            ContextUpdated,
            ContextUpdatedData(
                key=f"progress.{ctx.task_id}",
                kind="progress_state",
                value={"done": True, "by": self.name},
                author=self.name,
            ),
            task_id=None,
        )
        summary = state.get("summary") or f"{event.data.instructions}: done"
        return TaskResultData(
            worker=self.name,
            output={"steps": len(steps), "resumed_from": resumed_from},
            summary=str(summary)[:60000],
            artifact_ids=[artifact_id],
        )


def worker_class(
    role: str, *, lease_seconds: float = 30.0, step_seconds: float | None = None
) -> type[SpecialistWorker]:
    """A ``SpecialistWorker`` subclass for ``role``."""
    attrs: dict[str, Any] = {
        "role": role,
        "lease_seconds": lease_seconds,
        "step_seconds": step_seconds,
    }
    name = "".join(p.capitalize() for p in role.replace("_", "-").split("-")) + "Worker"
    return type(name, (SpecialistWorker,), attrs)
