"""What the crew's agents remember between restarts: their memory, as snapshot types.

Each is what an agent's ``observe`` folded from the log, in a form msgspec
encodes and decodes exactly (sets as lists; maps keep their order, which the
supervisor's summaries follow).
"""

from __future__ import annotations

import msgspec

from callsheet.events.catalog import GoalSubmittedData, TaskResult

__all__ = ["ControllerMemory", "SupervisorMemory"]


class SupervisorMemory(msgspec.Struct, frozen=True, kw_only=True):
    """A supervisor's memory (see ``Supervisor.observe`` for each field's meaning)."""

    supervised: list[str]
    """In the order the goals were accepted (the order ready tasks compete in)."""
    finished: list[str]
    requests: dict[str, GoalSubmittedData]
    current: dict[tuple[str, str], str]
    role_attempts: dict[tuple[str, str], dict[str, int]]
    results: dict[str, dict[str, TaskResult]]
    replaced: dict[str, dict[str, list[str]]]
    early_changes: dict[str, list[str]]
    charges: dict[str, dict[str, tuple[int, float]]]
    planned: dict[str, list[str]]


class ControllerMemory(msgspec.Struct, frozen=True, kw_only=True):
    """A controller's memory: the goals it decided."""

    decided: list[str]
