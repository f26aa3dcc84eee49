"""What the crew's agents remember between restarts: their memory, as snapshot types.

Each is what an agent's ``observe`` folded from the log, in a form msgspec
encodes and decodes exactly (sets as lists; maps keep their order, which the
supervisor's summaries follow).
"""

from __future__ import annotations

import msgspec

from callsheet.events.catalog import Budget, GoalSubmittedData, TaskResult

__all__ = ["BudgetMemory", "ControllerMemory", "SupervisorMemory"]


class BudgetMemory(msgspec.Struct, kw_only=True):
    """What the supervisor knows of its goals' budgets (see ``crew.asking``); per goal id."""

    limits: dict[str, Budget] = {}
    """The budget as raised by answers (the submitted one until a decision changes it)."""
    asked: dict[str, dict[str, str]] = {}
    """Budget questions it asked: question id to the task held."""
    answered: dict[str, dict[str, str]] = {}
    """The first answer to each of them: question id to the ``task.answered`` event id."""
    allowed: dict[str, list[str]] = {}
    """Tasks a person let go on once past their estimate."""

    def paused(self, goal: str) -> bool:
        """Whether a budget question of the goal waits for its answer."""
        answered = self.answered.get(goal, {})
        return any(q not in answered for q in self.asked.get(goal, {}))

    def forget(self, goal: str) -> None:
        """Drop what it knew of a goal that ended."""
        for part in (self.limits, self.asked, self.answered, self.allowed):
            part.pop(goal, None)


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
    planned: dict[str, list[str]]
    budgets: BudgetMemory


class ControllerMemory(msgspec.Struct, frozen=True, kw_only=True):
    """A controller's memory: the goals it decided."""

    decided: list[str]
