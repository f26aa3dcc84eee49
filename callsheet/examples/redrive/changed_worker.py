"""A worker changed on purpose: it ignores the checkpoint of a task that comes back.

Re-drive it as the worker that took over a task after another one was killed, and
the report shows that delivery parting from the recorded one: it plans the task
again, asking the model something the log never saw, instead of resuming::

    callsheet demo        # its summary prints these commands for its goal (G) and workers
    callsheet events --goal G --type task.started     # which worker resumed (attempt 2)
    callsheet redrive callsheet.examples.redrive.changed_worker:ForgetfulWorker --role backend
        --name backend-1 --goal G --arg step_seconds=0.5   (one line)
"""

from __future__ import annotations

from callsheet.agents import WorkContext, work
from callsheet.crew import SpecialistWorker
from callsheet.events.catalog import TaskAssigned, TaskResultData

__all__ = ["ForgetfulWorker"]


class ForgetfulWorker(SpecialistWorker):
    """The bug: a redelivered task starts over instead of resuming from its checkpoint."""

    @work()
    async def perform(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Forget the checkpoint, then work as usual."""
        ctx.checkpoint = ctx.checkpoint_id = None
        return await super().perform(event, ctx)
