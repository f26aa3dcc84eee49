"""Appending a handler's reaction: topology checks, trace context, idempotent retries."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from callsheet.agents.agent import Agent
from callsheet.agents.retry import is_transient, pause
from callsheet.agents.topology import TopologyViolation, check_emission, check_nesting
from callsheet.agents.tracing import traceparent
from callsheet.events.catalog import AgentError, AgentErrorData, TaskPlanned
from callsheet.events.envelope import Event
from callsheet.events.errors import DuplicateEventIdError
from callsheet.events.ids import derived_event_id
from callsheet.events.store import EventStore, StoredEvent

__all__ = ["Reactor", "error_event"]

log = logging.getLogger("callsheet.agents")


def error_event(
    agent: Agent, cause: Event, kind: str, error: str, *, key: str, details: object = None
) -> AgentError:
    """The ``agent.error`` recording that ``agent`` failed on ``cause``."""
    return AgentError.new(
        data=AgentErrorData(
            agent=agent.name,
            kind=kind,  # type: ignore[arg-type]
            error=error[:65536],
            event_id=cause.id,
            details=details,
        ),
        goal_id=cause.goal_id,
        producer=agent.name,
        causation_id=cause.id,
        event_id=derived_event_id(cause.id, f"{agent.durable_name()}.{key}!error", 0),
    )


def describe(exc: BaseException) -> str:
    """``Type: message`` and the innermost frames, for an error event."""
    frames = traceback.format_exception(exc)
    return f"{type(exc).__name__}: {exc}\n" + "".join(frames[-3:])[-4000:]


class Reactor:
    """Appends what an agent emits, after checking it against the topology."""

    def __init__(self, store: EventStore, agent: Agent, stopping: asyncio.Event) -> None:
        self.store = store
        self.agent = agent
        self.stopping = stopping

    async def check(self, events: Sequence[Event]) -> None:
        """Refuse events the agent's place in the topology does not allow.

        Raises:
            TopologyViolation: The first rule broken.
        """
        for event in events:
            check_emission(self.agent.kind, event.event_type)
            if isinstance(event, TaskPlanned) and event.data.parent_task_id is not None:
                check_nesting(
                    await self._chain_length(event.goal_id, event.data.parent_task_id, events)
                )

    async def _chain_length(self, goal_id: str, parent: str, batch: Sequence[Event]) -> int:
        """How many ancestors a task with this parent has (the parent and its own)."""
        length, seen = 0, set[str]()
        current: str | None = parent
        while current is not None and current not in seen and length <= 8:
            seen.add(current)
            length += 1
            current = await self._parent_of(goal_id, current, batch)
        return length

    async def _parent_of(self, goal_id: str, task_id: str, batch: Sequence[Event]) -> str | None:
        for event in batch:
            if isinstance(event, TaskPlanned) and event.task_id == task_id:
                return event.data.parent_task_id
        async for stored in self.store.read(
            goal_id=goal_id, task_id=task_id, types=["task.planned"]
        ):
            if isinstance(stored.event, TaskPlanned):
                return stored.event.data.parent_task_id
        return None

    async def append_reaction(
        self, cause: StoredEvent, events: Sequence[Event]
    ) -> list[StoredEvent]:
        """Append a handler's events atomically; return them as stored.

        A redelivered cause makes the same ids: events already stored are found
        (by id, from the cause's position, so even beyond the duplicate window)
        and returned instead of being stored again.

        A reaction over the server's batch limit (a plan of thousands of tasks)
        is appended as several atomic batches, in order: a restart part way makes
        the same ids, so the batches stored already are found and the rest follow.
        """
        if not events:
            return []
        limit = self.store.config.max_batch
        if len(events) > limit:
            stored: list[StoredEvent] = []
            for i in range(0, len(events), limit):
                stored += await self.append_reaction(cause, events[i : i + limit])
            return stored
        window = self.store.config.duplicate_window
        old = cause.stored_at < datetime.now(UTC) - timedelta(seconds=window * 0.9)
        attempt = 0
        while True:
            try:
                if old:
                    found = await self._already_stored(cause, events)
                    if found is not None:
                        return found
                try:
                    if len(events) == 1:
                        event = events[0]
                        done = [await self.store.append(event, traceparent=self._trace(event))]
                    else:
                        done = await self.store.append_batch(events)
                except DuplicateEventIdError:
                    # Same ids, other bodies (a re-run stamps a new time): the reaction
                    # was recorded by an earlier delivery of the cause; keep that one.
                    found = await self._already_stored(cause, events)
                    if found is not None:
                        return found
                    raise
                return [
                    StoredEvent(d.seq, "", datetime.now(UTC), e)  # type: ignore[arg-type]
                    for d, e in zip(done, events, strict=True)
                ]
            except DuplicateEventIdError:
                raise
            except Exception as exc:
                # A lost ack (``AppendTimeout``, a ``StoreError``) is a passing outage too,
                # and so is the lookup of a recorded reaction timing out: try again, the
                # ids keep one copy; give up only when the runtime stops.
                if not is_transient(exc) or not await pause(attempt, self.stopping):
                    raise
                attempt += 1

    async def _already_stored(
        self, cause: StoredEvent, events: Sequence[Event]
    ) -> list[StoredEvent] | None:
        first = await self.store.find(events[0], from_seq=cause.seq + 1)
        if first is None:
            return None
        result = [first]
        for event in events[1:]:
            found = await self.store.find(event, from_seq=first.seq)
            if found is not None:
                result.append(found)
        return result

    @staticmethod
    def _trace(event: Event) -> str:
        return traceparent(event.correlation_id, event.id)

    async def record_error(self, cause: StoredEvent, error: AgentError) -> None:
        """Append an ``agent.error``; failing that, log it (never raises for the event)."""
        try:
            await self.append_reaction(cause, [error])
        except Exception:
            log.exception("could not record %s for event %s", error.data.kind, cause.event.id)

    async def refuse(self, cause: StoredEvent, key: str, exc: TopologyViolation) -> None:
        """Record a topology violation instead of the events that broke it."""
        log.warning("%s: topology violation on %s: %s", self.agent.name, cause.event.id, exc)
        await self.record_error(
            cause, error_event(self.agent, cause.event, "topology_violation", str(exc), key=key)
        )
