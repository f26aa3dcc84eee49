"""Liveness: per worker, its last signs of life, the tasks it holds, and missed leases.

A worker takes a task's lease with ``task.started`` and renews it with every
heartbeat, progress, checkpoint, blocked or question event it emits for the
task: the lease then runs until ``occurred_at + lease_seconds`` (the task's last
assignment's ``lease_seconds``, 30 s by default), or the heartbeat's
``lease_until``. A result, a cancellation, the task's removal by a replan or the
goal's end gives it back.

A lease is *missed* when the log shows the task taken away after the lease had
run out: assigned again, reassigned, failed, or started by another worker at an
``occurred_at`` past the expiry. Those are recorded by the fold; leases that
have run out by now but that nobody acted on yet are found by the pure query
``missed_leases(state, as_of)``. "Last" means last in log order, which a clock
skewed producer cannot reorder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from callsheet.events.catalog import (
    GoalCancelled,
    GoalCompleted,
    Replanned,
    TaskAssigned,
    TaskBlocked,
    TaskCancelled,
    TaskCheckpoint,
    TaskFailed,
    TaskHeartbeat,
    TaskProgress,
    TaskQuestion,
    TaskReassigned,
    TaskResult,
    TaskStarted,
)
from callsheet.events.envelope import Event
from callsheet.projections._common import assoc, expiry
from callsheet.projections.board import DEFAULT_LEASE_SECONDS

__all__ = [
    "VERSION",
    "AgentLiveness",
    "Lease",
    "Liveness",
    "MissedLease",
    "TaskKey",
    "fold",
    "initial",
    "missed_leases",
]

VERSION = 2
"""Bumped whenever the fold's output changes, to invalidate snapshots."""

TaskKey = tuple[str, str]
"""A task, as ``(goal_id, task_id)``."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A task held by a worker.

    Attributes:
        goal_id: The task's goal.
        task_id: The task.
        worker: The worker holding it.
        expires_at: When it runs out; ``None`` for never (a lease too long to date).
    """

    goal_id: str
    task_id: str
    worker: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class MissedLease:
    """A lease that ran out before the worker finished.

    Attributes:
        goal_id: The task's goal.
        task_id: The task.
        worker: The worker that held it.
        expired_at: When the lease ran out.
        noticed_by: The event type that showed it (``task.failed``...), or
            ``clock`` when found by ``missed_leases``.
        event_id: That event, if any.
    """

    goal_id: str
    task_id: str
    worker: str
    expired_at: datetime
    noticed_by: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentLiveness:
    """One worker's liveness.

    Attributes:
        agent: The worker.
        last_seen_at: ``occurred_at`` of its last task event.
        last_heartbeat_at: ``occurred_at`` of its last ``task.heartbeat``.
        tasks_held: Tasks it holds a lease on, in order taken.
        missed: Leases it missed, as recorded by the fold.
    """

    agent: str
    last_seen_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    tasks_held: tuple[TaskKey, ...] = ()
    missed: int = 0


@dataclass(frozen=True, slots=True)
class Liveness:
    """Liveness of every worker.

    Attributes:
        agents: Per worker.
        leases: Leases held now, by task.
        terms: Lease length of each task's last assignment.
        missed: Missed leases the log has shown, in log order.
    """

    agents: Mapping[str, AgentLiveness] = field(default_factory=dict)
    leases: Mapping[TaskKey, Lease] = field(default_factory=dict)
    terms: Mapping[TaskKey, float] = field(default_factory=dict)
    missed: tuple[MissedLease, ...] = ()


def initial() -> Liveness:
    """Return the state with no worker."""
    return Liveness()


def _agent(state: Liveness, agent: str) -> AgentLiveness:
    return state.agents.get(agent) or AgentLiveness(agent=agent)


def _release(state: Liveness, key: TaskKey, event: Event, taken_away: bool) -> Liveness:
    """End the lease on ``key``; if ``taken_away`` after it ran out, record it as missed."""
    lease = state.leases.get(key)
    if lease is None:
        return state
    agent = _agent(state, lease.worker)
    agent = replace(agent, tasks_held=tuple(k for k in agent.tasks_held if k != key))
    missed = state.missed
    if taken_away and lease.expires_at is not None and event.occurred_at > lease.expires_at:
        miss = MissedLease(
            goal_id=key[0],
            task_id=key[1],
            worker=lease.worker,
            expired_at=lease.expires_at,
            noticed_by=event.event_type,
            event_id=event.id,
        )
        missed = (*missed, miss)
        agent = replace(agent, missed=agent.missed + 1)
    leases = {k: v for k, v in state.leases.items() if k != key}
    return replace(
        state, agents=assoc(state.agents, agent.agent, agent), leases=leases, missed=missed
    )


def _renew(
    state: Liveness, key: TaskKey, event: Event, worker: str, until: datetime | None = None
) -> Liveness:
    """``worker`` shows signs of life on ``key``: it holds the lease for another term."""
    held = state.leases.get(key)
    if held is not None and held.worker != worker:
        state = _release(state, key, event, taken_away=True)
    seconds = state.terms.get(key, DEFAULT_LEASE_SECONDS)
    expires = until if until is not None else expiry(event.occurred_at, seconds)
    agent = _agent(state, worker)
    if key not in agent.tasks_held:
        agent = replace(agent, tasks_held=(*agent.tasks_held, key))
    agent = replace(agent, last_seen_at=event.occurred_at)
    if isinstance(event, TaskHeartbeat):
        agent = replace(agent, last_heartbeat_at=event.occurred_at)
    lease = Lease(goal_id=key[0], task_id=key[1], worker=worker, expires_at=expires)
    return replace(
        state,
        agents=assoc(state.agents, worker, agent),
        leases=assoc(state.leases, key, lease),
    )


def _goal_event(state: Liveness, event: Event) -> Liveness | None:
    if isinstance(event, GoalCompleted | GoalCancelled):
        for key in [k for k in state.leases if k[0] == event.goal_id]:
            state = _release(state, key, event, taken_away=False)
        return state
    if isinstance(event, Replanned):
        for task_id in event.data.removed:
            state = _release(state, (event.goal_id, task_id), event, taken_away=False)
        return state
    return None


def fold(state: Liveness, event: Event) -> Liveness:
    """Return the liveness after ``event``; never mutates ``state``."""
    changed = _goal_event(state, event)
    if changed is not None:
        return changed
    if event.task_id is None:
        return state
    key = (event.goal_id, event.task_id)
    if isinstance(event, TaskAssigned):
        state = _release(state, key, event, taken_away=True)
        return replace(state, terms=assoc(state.terms, key, event.data.lease_seconds))
    if isinstance(event, TaskReassigned | TaskFailed):
        return _release(state, key, event, taken_away=True)
    if isinstance(event, TaskResult):
        state = _release(state, key, event, taken_away=False)
        agent = replace(_agent(state, event.data.worker), last_seen_at=event.occurred_at)
        return replace(state, agents=assoc(state.agents, agent.agent, agent))
    if isinstance(event, TaskCancelled):
        return _release(state, key, event, taken_away=False)
    if isinstance(event, TaskHeartbeat):
        return _renew(state, key, event, event.data.worker, event.data.lease_until)
    if isinstance(event, TaskQuestion):
        held = state.leases.get(key)
        # Only the worker holding the task renews its lease by asking (not the supervisor).
        if held is None or held.worker != event.data.worker:
            return state
        return _renew(state, key, event, event.data.worker)
    if isinstance(event, TaskStarted | TaskProgress | TaskCheckpoint | TaskBlocked):
        return _renew(state, key, event, event.data.worker)
    return state


def missed_leases(state: Liveness, as_of: datetime) -> list[MissedLease]:
    """Return every missed lease: those the log showed, then those run out by ``as_of``.

    Args:
        state: The liveness state.
        as_of: The time to judge held leases by (aware datetime).

    Returns:
        The recorded misses in log order, then the held leases whose expiry is
        before ``as_of`` (``noticed_by="clock"``).
    """
    overdue = [
        MissedLease(
            goal_id=lease.goal_id,
            task_id=lease.task_id,
            worker=lease.worker,
            expired_at=lease.expires_at,
            noticed_by="clock",
        )
        for lease in state.leases.values()
        if lease.expires_at is not None and lease.expires_at < as_of
    ]
    return [*state.missed, *overdue]
