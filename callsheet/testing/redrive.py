"""Re-drive as an assertion: an agent does exactly what the log recorded it doing."""

from __future__ import annotations

from collections.abc import Sequence

from callsheet.agents.agent import Agent
from callsheet.events.store import EventStore, StoredEvent
from callsheet.replay.redrive import RedriveReport, nothing_redriven, redrive

__all__ = ["assert_redrives_identically"]


async def assert_redrives_identically(
    agent: Agent, log: EventStore | Sequence[StoredEvent], goal: str | None = None
) -> RedriveReport:
    """Re-drive ``agent`` on a goal's events and fail on any divergence, or on nothing compared.

    Args:
        agent: A fresh instance, named as in the log (its name is the producer of its events).
        log: The store (then ``goal`` is required) or the goal's stored events.
        goal: The goal to read from the store.

    Returns:
        The report, for further checks.

    Raises:
        AssertionError: A divergence (each one listed), or no handler ran at all.
    """
    if isinstance(log, EventStore):
        if goal is None:
            raise ValueError("give the goal to re-drive")
        events = [s async for s in log.read(goal_id=goal)]
    else:
        events = list(log)
    if not events:
        raise AssertionError(f"goal {goal!r} has no events to re-drive")
    report = await redrive(agent, events)
    reason = nothing_redriven(agent, events, report)
    if reason is not None:
        raise AssertionError(reason)
    if report.divergences:
        lines = [f"{agent.name} diverged {len(report.divergences)} times:"]
        for d in report.divergences[:20]:
            lines.append(f"  at seq {d.cause_seq} ({d.cause_type}): {d.kind}")
            lines.extend(f"      {change}" for change in d.changes[:10])
            if d.kind != "changed":
                shown = d.recorded if d.kind == "missing" else d.redriven
                lines.append(
                    f"      {(shown or {}).get('type')} task={(shown or {}).get('task_id')}"
                )
        raise AssertionError("\n".join(lines))
    return report
