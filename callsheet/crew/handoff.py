"""What a task receives from the tasks it depends on: their results, bounded.

When the supervisor assigns a task whose ``depends_on`` are done, the
assignment's ``inputs["dependencies"]`` carries, for each dependency in
``depends_on`` order, what its ``task.result`` said::

    {"analyze": {"status": "done", "result_event_id": "01J…", "worker": "analyst-1",
                 "summary": "12 files reviewed: 3 findings", "artifact_ids": [],
                 "output": {"files": 12, "findings": 3}, "output_bytes": 28}}

The bound: a summary is cut to ``MAX_SUMMARY`` characters (marked
``"summary_truncated": true``); an output is copied when its JSON is at most
``MAX_OUTPUT_BYTES`` bytes and the outputs copied so far for the assignment
total at most ``MAX_TOTAL_BYTES``. A larger one is not copied (``"output"`` is
absent): ``result_event_id`` references it, and ``read_output`` fetches it from
the log. A dependency a replan replaced is represented by the tasks that replaced
it (each with ``"replaces"``: the task it stands for); one dropped with no
replacement is ``{"status": "dropped"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from callsheet.events.catalog import TaskResult
from callsheet.events.envelope import Json
from callsheet.events.store import EventStore

__all__ = [
    "DEPENDENCIES",
    "MAX_OUTPUT_BYTES",
    "MAX_SUMMARY",
    "MAX_TOTAL_BYTES",
    "dependency_inputs",
    "read_output",
]

DEPENDENCIES = "dependencies"
"""The input that carries the dependencies' results."""
MAX_SUMMARY = 4000
"""Characters of a dependency's summary copied into the assignment."""
MAX_OUTPUT_BYTES = 8 * 1024
"""Largest JSON output of one dependency copied into the assignment."""
MAX_TOTAL_BYTES = 64 * 1024
"""Most bytes of JSON output copied into one assignment, all dependencies together."""


def _entry(result: TaskResult, room: int) -> tuple[dict[str, Json], int]:
    """One dependency's input, and the output bytes it copied."""
    data = result.data
    size = len(msgspec.json.encode(data.output))
    entry: dict[str, Json] = {
        "status": "done",
        "result_event_id": result.id,
        "worker": data.worker,
        "summary": data.summary[:MAX_SUMMARY],
        "artifact_ids": list(data.artifact_ids),
        "output_bytes": size,
    }
    if len(data.summary) > MAX_SUMMARY:
        entry["summary_truncated"] = True
    if size <= min(MAX_OUTPUT_BYTES, room):
        entry["output"] = data.output
        return entry, size
    return entry, 0


def dependency_inputs(
    depends_on: Sequence[str],
    results: Mapping[str, TaskResult],
    replaced: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Json]:
    """The ``dependencies`` input of a task (see the module docstring); pure.

    Args:
        depends_on: The task's dependencies, in plan order.
        results: The goal's latest ``task.result`` of each task, by task id.
        replaced: Tasks a replan replaced, with the tasks that replaced them.

    Returns:
        One entry per dependency (or per replacing task), by task id; a dependency
        with no result (yet) and no replacement is left out.
    """
    swaps = replaced or {}
    found: dict[str, Json] = {}
    room = MAX_TOTAL_BYTES

    def visit(task_id: str, stands_for: str | None, seen: frozenset[str]) -> None:
        nonlocal room
        if task_id in found or task_id in seen:
            return
        result = results.get(task_id)
        swap = swaps.get(task_id)
        if result is None and swap is not None:
            if not swap:
                found[task_id] = {"status": "dropped"}
            for other in swap:
                visit(other, stands_for or task_id, seen | {task_id})
            return
        if result is None:
            return
        entry, used = _entry(result, room)
        room -= used
        if stands_for is not None:
            entry["replaces"] = stands_for
        found[task_id] = entry

    for dependency in depends_on:
        visit(dependency, None, frozenset())
    return found


async def read_output(
    store: EventStore, goal_id: str, task_id: str, entry: Mapping[str, Any]
) -> Json:
    """A dependency's full output: copied in the entry, or else read from its result event.

    Args:
        store: The log (a worker's ``ctx.store``; a re-drive's recorded log works too).
        goal_id: The goal.
        task_id: The dependency (the key of ``entry`` in ``inputs["dependencies"]``).
        entry: Its entry in ``inputs["dependencies"]``.

    Raises:
        LookupError: The entry names no result, or the log holds no such result.
    """
    if "output" in entry:
        return entry["output"]
    wanted = entry.get("result_event_id")
    if not wanted:
        raise LookupError(f"dependency {task_id} has no result ({entry.get('status')})")
    async for stored in store.read(goal_id=goal_id, task_id=task_id, types=["task.result"]):
        if stored.event.id == wanted and isinstance(stored.event, TaskResult):
            return stored.event.data.output
    raise LookupError(f"no task.result {wanted} of task {task_id} in goal {goal_id}")
