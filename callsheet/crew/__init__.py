"""The crew: controller, supervisor, specialist workers and reviewer, built on ``callsheet.agents``.

``build_crew`` returns the agents of a whole crew for one process; each can
also run alone in its own process (``callsheet agent run``).
"""

from __future__ import annotations

from ulid import ULID

from callsheet.agents import Agent
from callsheet.crew.controller import Controller
from callsheet.crew.policy import FailurePolicy
from callsheet.crew.reviewer import Reviewer
from callsheet.crew.supervisor import Supervisor
from callsheet.crew.workers import SpecialistWorker, worker_class
from callsheet.models import Model

__all__ = [
    "Controller",
    "FailurePolicy",
    "Reviewer",
    "SpecialistWorker",
    "Supervisor",
    "build_crew",
    "worker_class",
]


def build_crew(
    roles: tuple[str, ...] = ("database", "backend", "frontend"),
    *,
    workers_per_role: int = 1,
    model: Model | None = None,
    lease_seconds: float = 30.0,
    step_seconds: float | None = None,
    review: bool = False,
    policy: FailurePolicy | None = None,
    tag: str | None = None,
) -> list[Agent]:
    """The agents of a crew: a controller, a supervisor, workers for each role, a reviewer.

    Workers are named ``{role}-{n}-{tag}``: ``tag`` (fresh by default) tells them from
    the workers of another crew on the same log, such as a standby's, which work at the
    same time. The controller and supervisor keep their names: one instance leads.
    """
    tag = tag or str(ULID())[-4:].lower()
    agents: list[Agent] = [
        Controller("controller"),
        Supervisor(
            "supervisor",
            roles=roles,
            model=model,
            review=review,
            lease_seconds=lease_seconds,
            policy=policy,
        ),
    ]
    if review:
        agents.append(Reviewer("reviewer", model=model))
    for role in roles:
        cls = worker_class(role, lease_seconds=lease_seconds, step_seconds=step_seconds)
        agents.extend(cls(f"{role}-{i + 1}-{tag}", model=model) for i in range(workers_per_role))
    return agents
