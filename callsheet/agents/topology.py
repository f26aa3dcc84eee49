"""The bounded topology, enforced on every event an agent emits.

Controllers start supervisors (``goal.accepted`` names one); supervisors plan
and start work (``plan.*``, ``task.planned``, ``task.assigned``,
``task.reassigned``); workers, reviewers and observers start nothing. Sub-tasks
(``task.planned`` with a ``parent_task_id``) nest supervisors; the nesting is
capped at ``MAX_SUPERVISOR_LEVELS``: the top supervisor is level 1, a supervisor
working on one of its tasks is level 2, and so on.

An emission that breaks a rule is not appended: the runtime records an
``agent.error`` of kind ``topology_violation`` instead.
"""

from __future__ import annotations

from typing import Final

from callsheet.agents.agent import AgentKind

__all__ = [
    "MAX_SUPERVISOR_LEVELS",
    "SPAWN_TYPES",
    "TopologyViolation",
    "check_emission",
    "check_nesting",
]

MAX_SUPERVISOR_LEVELS: Final = 3

SPAWN_TYPES: Final = frozenset(
    {
        "goal.accepted",
        "plan.proposed",
        "plan.replanned",
        "task.planned",
        "task.assigned",
        "task.reassigned",
    }
)
"""Event types that start an agent or hand work to one."""

_ALLOWED_SPAWNS: Final[dict[AgentKind, frozenset[str]]] = {
    "controller": frozenset({"goal.accepted"}),
    "supervisor": SPAWN_TYPES - {"goal.accepted"},
    "worker": frozenset(),
    "reviewer": frozenset(),
    "observer": frozenset(),
}


class TopologyViolation(Exception):
    """An agent tried to emit an event its place in the topology does not allow."""


def check_emission(kind: AgentKind, event_type: str) -> None:
    """Refuse a spawning event from an agent kind that may not spawn it.

    Raises:
        TopologyViolation: The rule broken, in words.
    """
    if event_type in SPAWN_TYPES and event_type not in _ALLOWED_SPAWNS[kind]:
        if kind == "controller":
            raise TopologyViolation(
                f"a controller may only start supervisors (goal.accepted), not emit {event_type}"
            )
        if kind == "supervisor":
            raise TopologyViolation(
                "a supervisor may not accept goals: that is the controller's job"
            )
        raise TopologyViolation(f"a {kind} cannot start agents or hand out work ({event_type})")


def check_nesting(parent_chain_length: int) -> None:
    """Refuse a sub-task that would nest supervisors deeper than the cap.

    Args:
        parent_chain_length: Ancestors of the new task (1 for a sub-task of a
            top-level task). Planning it makes a supervisor of level
            ``parent_chain_length + 1``.

    Raises:
        TopologyViolation: The new task would need a supervisor below level 3.
    """
    level = parent_chain_length + 1
    if level > MAX_SUPERVISOR_LEVELS:
        raise TopologyViolation(
            f"sub-task would be planned by a level-{level} supervisor; "
            f"nesting is capped at {MAX_SUPERVISOR_LEVELS} levels"
        )
