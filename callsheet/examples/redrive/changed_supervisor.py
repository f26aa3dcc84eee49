"""A supervisor changed on purpose: it hands out every task at once, ignoring dependencies.

Re-drive it on a goal the real crew ran, and the report shows where its decisions
part from the recorded ones, without a model call::

    callsheet demo        # its summary prints these commands for its goal (G) and workers
    callsheet redrive callsheet.examples.redrive.changed_supervisor:EagerSupervisor --goal G
"""

from __future__ import annotations

from callsheet.agents import HandlerContext
from callsheet.crew import Supervisor
from callsheet.events.catalog import PlannedTask, TaskPlanned, TaskPlannedData
from callsheet.projections.board import TaskCard

__all__ = ["EagerSupervisor"]


class EagerSupervisor(Supervisor):
    """The bug: tasks that depend on others are started together with them."""

    def _plan_tasks(self, ctx: HandlerContext, tasks: list[PlannedTask]) -> None:
        for t in tasks:
            ctx.emit(
                TaskPlanned,
                TaskPlannedData(title=t.title, role=t.role, depends_on=t.depends_on),
                task_id=t.task_id,
            )
        for t in tasks:  # no dependency check
            self._assign(ctx, TaskCard(task_id=t.task_id, title=t.title, role=t.role))
