"""The dashboard's live state: the log folded into a ``GoalsView``, and news for the open pages.

One subscription to the whole log feeds the view; each page's stream waits on
``Hub.changed`` for the goal it shows. Everything the API answers is computed
from the view here, as plain JSON-able values.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from callsheet.events.codec import to_dict
from callsheet.events.store import EventStore, StoredEvent
from callsheet.observability.tree import mark
from callsheet.replay.chain import causal_chain
from callsheet.views.feed import feed
from callsheet.views.goals import GoalsView, summary
from callsheet.views.panels import PANELS, Panel, panel_needs

__all__ = ["EventFilter", "Hub", "UnknownError"]


class UnknownError(LookupError):
    """No such goal or event (the API answers 404 with the message)."""


@dataclasses.dataclass(frozen=True, slots=True)
class EventFilter:
    """Which of a goal's events the log shows, and which page of them.

    Attributes:
        task: Only this task's events.
        type: Only this type, or a category (``task.*``), or a prefix (``task.``).
        since: Only events that happened at or after this time.
        until: Only events that happened at or before this time.
        offset: First event of the page (0: the first).
        limit: Events on the page.
    """

    task: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    offset: int = 0
    limit: int = 100

    def keeps(self, stored: StoredEvent) -> bool:
        """Whether the event passes the filter (paging aside)."""
        event = stored.event
        if self.task is not None and event.task_id != self.task:
            return False
        if self.type is not None:
            wanted = self.type.rstrip("*")
            if wanted.endswith("."):
                if not event.event_type.startswith(wanted):
                    return False
            elif event.event_type != wanted:
                return False
        if self.since is not None and event.occurred_at < self.since:
            return False
        return not (self.until is not None and event.occurred_at > self.until)


def _row(stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    return {
        "seq": stored.seq,
        "id": event.id,
        "type": event.event_type,
        "task": event.task_id,
        "producer": event.producer,
        "cause": event.causation_id,
        "at": event.occurred_at.isoformat(),
        "mark": mark(stored),
    }


class Hub:
    """The log, folded, for the dashboard; ``run`` keeps it current.

    Args:
        store: The log.
        panels: The panels of a goal's page.
    """

    def __init__(self, store: EventStore, panels: Sequence[Panel] = PANELS) -> None:
        self.store = store
        self.panels = tuple(panels)
        self.view = GoalsView(panel_needs(self.panels))
        self.versions: dict[str, int] = {}
        self.version = 0
        self.ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._notices: set[asyncio.Task[None]] = set()  # held until done (not collected)

    async def run(self) -> None:
        """Follow the log forever (catch-up first: ``ready`` is set once caught up)."""
        if await self.store.stream_last_seq() == 0:
            self.ready.set()

        def changed(goal: str, stored: StoredEvent) -> None:
            self.versions[goal] = self.versions.get(goal, 0) + 1
            self.version += 1
            if stored.pending == 0:
                self.ready.set()
                notice = asyncio.get_running_loop().create_task(self._notify())
                self._notices.add(notice)
                notice.add_done_callback(self._notices.discard)

        await feed(self.store, self.view, changed)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, seen: int, timeout: float) -> int:
        """Wait until the log moved past version ``seen`` (or ``timeout``); the version now."""
        if self.version != seen:
            return self.version
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return self.version

    # -- answers --------------------------------------------------------------------

    def _goal(self, goal_id: str) -> None:
        if goal_id not in self.view.headlines:
            raise UnknownError(f"no goal {goal_id!r} in the log")

    def goals(self) -> list[dict[str, Any]]:
        """Every goal, most recently active first."""
        now = datetime.now(UTC)
        out = []
        for goal_id in self.view.goals():
            got = summary(self.view, goal_id, now)
            out.append(
                {
                    "goal_id": goal_id,
                    "title": got.title,
                    "outcome": got.outcome,
                    "line": got.line,
                    "events": got.events,
                    "last_at": got.last_at.isoformat() if got.last_at else None,
                }
            )
        return out

    def goal(self, goal_id: str) -> dict[str, Any]:
        """A goal's header and panels.

        Raises:
            UnknownError: No such goal.
        """
        self._goal(goal_id)
        got = summary(self.view, goal_id, datetime.now(UTC))
        panels = []
        for panel in self.panels:
            table = panel.table(self.view, got)
            panels.append({"name": panel.name, "title": panel.title, **dataclasses.asdict(table)})
        return {
            "goal_id": goal_id,
            "title": got.title,
            "outcome": got.outcome,
            "line": got.line,
            "events": got.events,
            "version": self.versions.get(goal_id, 0),
            "panels": panels,
        }

    def tree(self, goal_id: str) -> dict[str, Any]:
        """The goal's events as tree nodes (each with its cause), in log order."""
        self._goal(goal_id)
        return {"nodes": [_row(s) for s in self.view.events.get(goal_id, ())]}

    def events(self, goal_id: str, where: EventFilter) -> dict[str, Any]:
        """One page of the goal's events that pass the filter, and how many pass."""
        self._goal(goal_id)
        kept = [s for s in self.view.events.get(goal_id, ()) if where.keeps(s)]
        page = kept[where.offset : where.offset + where.limit]
        return {
            "total": len(kept),
            "offset": where.offset,
            "limit": where.limit,
            "events": [_row(s) for s in page],
        }

    def event(self, event_id: str) -> dict[str, Any]:
        """An event in full and its ``why``: the chain of causes, root first.

        Raises:
            UnknownError: No such event.
        """
        found = self.view.index.get(event_id)
        if found is None:
            raise UnknownError(f"no event {event_id!r} in the log")
        goal_events = self.view.events.get(found.event.goal_id, [])
        chain, missing = causal_chain([*goal_events, *self._causes(found)], event_id)
        return {
            "seq": found.seq,
            "stored_at": found.stored_at.isoformat(),
            "event": to_dict(found.event),
            "why": [_row(s) for s in chain],
            "missing": missing,
        }

    def _causes(self, stored: StoredEvent) -> list[StoredEvent]:
        """Causes in other goals (a sub-goal's chain reaches into its parent's)."""
        out = []
        cause = stored.event.causation_id
        seen = set()
        while cause is not None and cause not in seen:
            seen.add(cause)
            found = self.view.index.get(cause)
            if found is None:
                break
            out.append(found)
            cause = found.event.causation_id
        return out
