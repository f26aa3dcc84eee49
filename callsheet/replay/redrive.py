"""Deterministic re-drive: run an agent's handlers again on a goal's recorded events.

The agent's ``@on`` handlers get the goal's events in log order, with its views
and memory folded exactly as the live runtime folds them (its own reactions
folded as soon as they are made). Model calls are answered from the
``model.called`` events recorded for the same cause (by request digest), and
tool calls from its ``tool.called`` events, so nothing is called, run or spent.
What each handler emits is compared with what the agent recorded for that
cause; every difference is reported.

Only the agent's own reactions are replaced: other agents' events come from the
log as they were, so a changed handler shows where its decisions part from the
recorded ones (and what it would have done next with the same inputs).

A worker's ``@work`` handler is re-driven delivery by delivery (see
``redrive_work``): each task it started runs again with the checkpoint, model
replies and answers it had, and its reports are compared with the recorded ones.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from callsheet.agents.agent import Agent
from callsheet.agents.context import HandlerContext
from callsheet.agents.reactions import describe, error_event
from callsheet.agents.tools import recorded_calls
from callsheet.agents.topology import TopologyViolation, check_emission
from callsheet.events.catalog import ModelCalled, TaskAssigned, TaskHeartbeat
from callsheet.events.codec import decode_trusted, encode, to_dict
from callsheet.events.envelope import Event
from callsheet.events.store import StoredEvent
from callsheet.projections import PROJECTIONS
from callsheet.replay.diff import diff_states
from callsheet.replay.redrive_work import deliveries, redrive_delivery

__all__ = ["Divergence", "RedriveReport", "redrive"]

_IGNORED = ("occurred_at",)
"""Envelope fields a re-run always changes (the time of the reaction)."""


@dataclass(frozen=True, slots=True)
class Divergence:
    """One point where the re-driven agent's reaction differs from the recorded one.

    Attributes:
        cause_seq: Sequence of the event handled.
        cause_id: Id of the event handled.
        cause_type: Its type.
        kind: ``missing`` (recorded, not emitted now), ``extra`` (emitted now, not
            recorded) or ``changed`` (same position, other content).
        recorded: The recorded event, as JSON data (None for ``extra``).
        redriven: The re-driven event, as JSON data (None for ``missing``).
        changes: For ``changed``: ``path: recorded -> re-driven`` lines.
        delivery: For a ``@work`` handler, which delivery of the task (the cause).
    """

    cause_seq: int
    cause_id: str
    cause_type: str
    kind: Literal["missing", "extra", "changed"]
    recorded: dict[str, Any] | None
    redriven: dict[str, Any] | None
    changes: tuple[str, ...] = ()
    delivery: int | None = None


@dataclass
class RedriveReport:
    """What a re-drive did.

    Attributes:
        agent: The agent's name.
        goal_id: The goal.
        events: Events of the goal given to the agent.
        handled: Handler runs.
        emitted: Events the re-driven handlers emitted.
        recorded: Events the agent had recorded for the goal.
        divergences: Every difference, in log order.
    """

    agent: str
    goal_id: str
    events: int = 0
    handled: int = 0
    emitted: int = 0
    recorded: int = 0
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Whether the re-driven agent did exactly what was recorded."""
        return not self.divergences


def _comparable(event: Event) -> dict[str, Any]:
    # Through the wire format and back, as the log would hold it (9 -> 9.0 for a float field).
    data = to_dict(decode_trusted(encode(event)))
    for name in _IGNORED:
        data.pop(name, None)
    if data.get("type") in ("agent.error", "task.failed"):
        # A traceback names files and lines: compare what failed, not how it printed.
        data["data"] = {k: v for k, v in data["data"].items() if k != "error"}
    return data


def _compare(
    cause: StoredEvent, recorded: Sequence[Event], now: Sequence[Event]
) -> list[Divergence]:
    found: list[Divergence] = []
    head = (cause.seq, cause.event.id, cause.event.event_type)
    for index in range(max(len(recorded), len(now))):
        old = recorded[index] if index < len(recorded) else None
        new = now[index] if index < len(now) else None
        if old is None and new is not None:
            found.append(Divergence(*head, "extra", None, to_dict(new)))
        elif new is None and old is not None:
            found.append(Divergence(*head, "missing", to_dict(old), None))
        elif old is not None and new is not None:
            a, b = _comparable(old), _comparable(new)
            if a != b:
                lines = tuple(f"{c.path}: {c.old!r} -> {c.new!r}" for c in diff_states(a, b))
                error = getattr(getattr(new, "data", None), "error", None)
                if isinstance(error, str) and error:
                    lines += (f"error now: {error.splitlines()[0]}",)
                found.append(Divergence(*head, "changed", to_dict(old), to_dict(new), lines))
    return found


async def redrive(agent: Agent, events: Sequence[StoredEvent]) -> RedriveReport:
    """Re-drive ``agent``'s handlers (``@on``, and ``@work``) over one goal's recorded ``events``.

    Args:
        agent: A fresh instance, with the name it had when the events were
            recorded (the name is the ``producer`` of its reactions).
        events: The goal's events in log order (``store.read(goal_id=...)``).

    Returns:
        The report; ``identical`` tells whether nothing differs.
    """
    goal = events[0].event.goal_id if events else ""
    report = RedriveReport(agent=agent.name, goal_id=goal)
    views: dict[str, Any] = {name: PROJECTIONS[name].initial() for name in agent.views}
    mine = [
        s
        for s in events
        if s.event.producer == agent.name and not isinstance(s.event, TaskHeartbeat)
    ]
    work = agent.work_handler()
    # Reports on tasks of the agent's role belong to its @work deliveries, compared there.
    work_causes = {
        s.event.id
        for s in events
        if work is not None
        and isinstance(s.event, TaskAssigned)
        and s.event.data.role == agent.role
    }
    by_cause: dict[str, list[Event]] = defaultdict(list)
    for stored in mine:
        cause = stored.event.causation_id
        if cause is not None and cause not in work_causes:
            by_cause[cause].append(stored.event)
    report.recorded = len(mine)

    def fold(event: Event) -> None:
        for name in views:
            views[name] = PROJECTIONS[name].fold(views[name], event)
        agent.observe(event)

    for stored in events:
        event = stored.event
        if event.producer == agent.name:
            continue  # replaced by what the re-driven handlers emit, folded below
        report.events += 1
        fold(event)
        recorded = by_cause.get(event.id, [])
        calls = {e.data.request_digest: e for e in recorded if isinstance(e, ModelCalled)}
        emitted: list[Event] = []
        for spec in agent.event_handlers():
            ctx = HandlerContext(agent, spec.name, stored, views)
            ctx.recorded = calls
            ctx.recorded_tools = recorded_calls(recorded)
            try:
                if not spec.matches(event, stored.subject or None):
                    continue
                report.handled += 1
                await getattr(agent, spec.name)(event, ctx)
                for made in ctx.emitted:
                    check_emission(agent.kind, made.event_type)
                emitted.extend(ctx.emitted)
            except TopologyViolation as exc:
                emitted.append(
                    error_event(agent, event, "topology_violation", str(exc), key=spec.name)
                )
            except Exception as exc:
                emitted.append(
                    error_event(agent, event, "handler_error", describe(exc), key=spec.name)
                )
        for made in emitted:
            fold(made)
        report.emitted += len(emitted)
        report.divergences.extend(_compare(stored, recorded, emitted))
    if work is not None:
        for delivery in deliveries(agent, events):
            redriven = await redrive_delivery(agent, work.name, delivery, events)
            report.handled += 1
            report.emitted += len(redriven)
            recorded_events = [s.event for s in delivery.recorded]
            report.divergences.extend(
                dataclasses.replace(d, delivery=delivery.number)
                for d in _compare(delivery.assignment, recorded_events, redriven)
            )
        report.divergences.sort(key=lambda d: d.cause_seq)
    return report
