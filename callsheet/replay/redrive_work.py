"""Re-drive of ``@work`` handlers: each recorded delivery of a task, run again from the log.

A delivery is found by the ``task.started`` the worker recorded for it. The
handler runs again on the same assignment, with what the live run had:

- the checkpoint it resumed from (the one the assignment names, or the last one
  made under it before the delivery started, as the runtime chooses);
- its scoped context (``ctx.context``: the entries its ``context_keys`` name, as
  of the assignment, folded from the recorded log by ``agents.scope``);
- model calls answered from the ``model.called`` events of that delivery, and
  tool calls from its ``tool.called`` events (no tool runs);
- reads of the log (``ctx.store.read``) seeing the goal's events as they were
  when the delivery started; ``ctx.wait_for`` and ``ctx.ask`` answered by the
  first matching event the log holds after the assignment;
- ``ctx.sleep`` returning at once.

What it reports (``ctx.send``, ``ctx.progress``, checkpoints, artifacts, the
result, or the ``task.failed`` of an exception) is compared with what the
delivery recorded, heartbeats aside (they follow the clock). A delivery that
ended without a result or failure (its worker was killed, or it lost its lease)
is re-driven up to the point where the recorded one stopped.

Not re-driven: deliveries refused before starting (too many deliveries, deadline
passed) and the deadline itself (a handler the deadline cut short re-drives to
its end and shows as a divergence).
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from callsheet.agents.agent import Agent
from callsheet.agents.context import WorkContext
from callsheet.agents.dispatch import (
    ResumePoint,
    delivery_event,
    handler_failure,
    may_resume,
    result_data,
)
from callsheet.agents.scope import scope
from callsheet.agents.tools import recorded_calls
from callsheet.events.blobs import blob_ref
from callsheet.events.catalog import (
    ModelCalled,
    TaskAssigned,
    TaskCheckpoint,
    TaskFailed,
    TaskHeartbeat,
    TaskResult,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.events.errors import StoreError
from callsheet.events.store import EventStore, OnCorrupt, StoredEvent
from callsheet.events.stream import StoreConfig
from callsheet.events.wire import BlobRef

__all__ = ["Delivery", "RedriveError", "WorkRedrive", "deliveries", "redrive_delivery"]

E = TypeVar("E", bound=Event)
_SAME: Any = object()


class Delivery:
    """One recorded delivery of a task to the worker.

    Attributes:
        assignment: The ``task.assigned`` it delivered.
        started: The worker's ``task.started`` for it.
        recorded: What the worker recorded for it, in log order, heartbeats aside.
        finished: Whether it ended with a ``task.result`` or ``task.failed``.
    """

    def __init__(
        self, assignment: StoredEvent, started: StoredEvent, recorded: list[StoredEvent]
    ) -> None:
        self.assignment = assignment
        self.started = started
        self.recorded = recorded
        self.finished = any(isinstance(s.event, TaskResult | TaskFailed) for s in recorded)

    @property
    def number(self) -> int:
        """Which delivery of the assignment it was (1, 2, ...)."""
        event = self.started.event
        assert isinstance(event, TaskStarted)
        return event.data.attempt


def deliveries(agent: Agent, events: Sequence[StoredEvent]) -> list[Delivery]:
    """The deliveries ``agent`` started in a goal's ``events``, in log order."""
    by_id = {s.event.id: s for s in events}
    found: list[Delivery] = []
    for index, stored in enumerate(events):
        event = stored.event
        if not (isinstance(event, TaskStarted) and event.producer == agent.name):
            continue
        assignment = by_id.get(event.causation_id or "")
        if assignment is None or not isinstance(assignment.event, TaskAssigned):
            continue
        recorded = [stored]
        for later in events[index + 1 :]:
            other = later.event
            if other.producer != agent.name or other.causation_id != assignment.event.id:
                continue
            if isinstance(other, TaskStarted):
                break  # the next delivery of the same assignment to this worker
            if not isinstance(other, TaskHeartbeat):
                recorded.append(later)
        found.append(Delivery(assignment, stored, recorded))
    return found


def _resumed_from(delivery: Delivery, events: Sequence[StoredEvent]) -> StoredEvent | None:
    """The checkpoint the runtime gave this delivery, from the events before it started."""
    assigned = delivery.assignment.event
    assert isinstance(assigned, TaskAssigned)
    if not may_resume(assigned, delivery.number):
        return None
    point = ResumePoint(delivery.assignment)
    for stored in events:
        if stored.seq >= delivery.started.seq:
            break
        if stored.event.task_id == assigned.task_id:
            point.see(stored)
    return point.checkpoint


def _matches(event_type: str, types: Sequence[str] | None) -> bool:
    return not types or any(fnmatch.fnmatchcase(event_type, t) for t in types)


class _RecordedLog(EventStore):
    """The goal's recorded events, read as the live handler read the log.

    Reads (``read``, ``get``, ``last``, ``last_seq``, ``stream_last_seq``) answer
    from the events before the delivery started; ``put_blob`` gives the reference
    a blob would have (content-addressed) without writing it; anything else that
    would write to the log or follow it live is refused with ``RedriveError``.
    """

    def __init__(self, events: Sequence[StoredEvent], horizon: int) -> None:  # no connection
        self._events = [s for s in events if s.seq < horizon]
        self._horizon = horizon
        self._config = StoreConfig()

    @property
    def nc(self) -> Any:
        """Refused: a re-drive has no connection."""
        raise RedriveError("a re-driven work handler has no NATS connection")

    def _refuse(self, what: str) -> Any:
        raise RedriveError(
            f"a re-driven work handler cannot {what}: report with ctx.send, ctx.progress, "
            "ctx.save_checkpoint; wait with ctx.wait_for"
        )

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("append to the log")

    async def append_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("append to the log")

    async def append_batch(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("append to the log")

    def subscribe(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("follow the log live")

    async def find(self, event: Event, *, from_seq: int | None = None) -> StoredEvent | None:
        """Look an event up by id among the recorded ones."""
        return next(
            (s for s in self._events if s.event.id == event.id and s.seq >= (from_seq or 0)),
            None,
        )

    async def get(self, seq: int) -> StoredEvent:
        """Return the recorded event at ``seq``.

        Raises:
            StoreError: None is recorded there (before the delivery started).
        """
        found = next((s for s in self._events if s.seq == seq), None)
        if found is None:
            raise StoreError(f"no event at sequence {seq} in the recorded goal")
        return found

    async def last(
        self, goal_id: str, task_id: str | None = None, *, types: Sequence[str] | None = None
    ) -> StoredEvent | None:
        """Return the entity's last recorded event (of the given types)."""
        matching = [
            s
            for s in self._events
            if s.event.goal_id == goal_id
            and s.event.task_id == task_id
            and _matches(s.event.event_type, types)
        ]
        return matching[-1] if matching else None

    async def last_seq(self, goal_id: str, task_id: str | None = None) -> int:
        """Return the entity's last recorded sequence (0 if none)."""
        last = await self.last(goal_id, task_id)
        return 0 if last is None else last.seq

    async def put_blob(self, data: bytes) -> BlobRef:
        """The reference the bytes would have: blobs are content-addressed, nothing is written."""
        return blob_ref(self._config.blob_bucket, data)

    async def get_blob(self, ref: BlobRef) -> bytes:
        """Refused: a re-drive has no connection to the Object Store."""
        return self._refuse("read the Object Store")  # type: ignore[no-any-return]

    async def stream_last_seq(self) -> int:
        """Return the last recorded sequence before the delivery started."""
        return self._events[-1].seq if self._events else 0

    async def read(
        self,
        *,
        goal_id: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        from_seq: int | None = None,
        until_seq: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        on_corrupt: OnCorrupt | None = None,
    ) -> AsyncGenerator[StoredEvent, None]:
        """Yield the recorded events that the same read made live could have seen.

        The recorded events were decoded (and checked) when recorded: none is corrupt.
        """
        for stored in self._events:
            event = stored.event
            if until_seq is not None and stored.seq > until_seq:
                return
            if (
                (from_seq is None or stored.seq >= from_seq)
                and (goal_id is None or event.goal_id == goal_id)
                and (task_id is None or event.task_id == task_id)
                and _matches(event.event_type, types)
                and (since is None or stored.stored_at >= since)
                and (until is None or stored.stored_at <= until)
            ):
                yield stored


class RedriveError(RuntimeError):
    """A re-driven handler asked for something a re-drive cannot give (a write, a live read)."""


class _Stop(Exception):
    """The re-driven delivery reached the point where the recorded one stopped."""


class WorkRedrive(WorkContext):
    """A ``WorkContext`` whose reports are collected, and whose waits read the log."""

    def __init__(
        self,
        agent: Agent,
        handler: str,
        delivery: Delivery,
        events: Sequence[StoredEvent],
        sink: Callable[[Event], Awaitable[int]],
    ) -> None:
        checkpoint = _resumed_from(delivery, events)
        cp = checkpoint.event if checkpoint is not None else None
        super().__init__(
            agent,
            handler,
            delivery.assignment,
            delivery=delivery.number,
            sink=sink,
            store=_RecordedLog(events, delivery.started.seq),
            checkpoint=cp.data.state if isinstance(cp, TaskCheckpoint) else None,
            checkpoint_id=cp.data.checkpoint_id if isinstance(cp, TaskCheckpoint) else None,
            context=scope(events, delivery.assignment),
        )
        self._log = events
        self.recorded = {
            s.event.data.request_digest: s.event
            for s in delivery.recorded
            if isinstance(s.event, ModelCalled)
        }
        self.recorded_tools = recorded_calls(s.event for s in delivery.recorded)

    async def sleep(self, seconds: float) -> None:
        """Return at once: the log already holds what came after."""

    async def wait_for(
        self,
        *types: type[E],
        where: Callable[[E], bool] | None = None,
        task_id: str | None = _SAME,
        timeout: float | None = None,
    ) -> E:
        """Return the first matching event the log holds after the assignment.

        Raises:
            TimeoutError: The log has none (the live wait timed out, or never ended).
        """
        task = self.task_id if task_id is _SAME else task_id
        for stored in self._log:
            event = stored.event
            if (
                stored.seq > self.seq
                and isinstance(event, types)
                and (task is None or event.task_id == task)
                and (where is None or where(event))
            ):
                return event
        raise TimeoutError("the log holds no event this wait would have returned")


async def redrive_delivery(
    agent: Agent, handler: str, delivery: Delivery, events: Sequence[StoredEvent]
) -> list[Event]:
    """Run ``agent``'s ``@work`` handler again for one recorded delivery; return what it reported.

    The list starts with the runtime's ``task.started`` and ends with the result or
    the failure, as the live runtime records them (heartbeats aside); for a
    delivery that was cut short, it stops where the recorded one stopped.
    """
    assigned = delivery.assignment.event
    assert isinstance(assigned, TaskAssigned)
    limit = None if delivery.finished else len(delivery.recorded)
    made: list[Event] = []
    ids: set[str] = set()

    async def sink(event: Event) -> int:
        if isinstance(event, TaskHeartbeat) or event.id in ids:
            return 0
        if limit is not None and len(made) >= limit:
            raise _Stop
        made.append(event)
        ids.add(event.id)
        return 0

    started = TaskStartedData(worker=agent.name, attempt=delivery.number)
    await sink(delivery_event(agent, assigned, delivery.number, TaskStarted, started, "started"))
    ctx = WorkRedrive(agent, handler, delivery, events, sink)
    try:
        try:
            output = await getattr(agent, handler)(assigned, ctx)
            for event in list(ctx.emitted):  # queued with ``ctx.emit``: appended at the end
                await sink(event)
        except _Stop:
            raise
        except Exception as exc:
            failure = handler_failure(agent, delivery.number, exc)
            await sink(
                delivery_event(agent, assigned, delivery.number, TaskFailed, failure, "failed")
            )
            return made
        if not any(isinstance(e, TaskResult) for e in ctx.emitted):
            await ctx.send(TaskResult, result_data(agent, output))
    except _Stop:
        pass
    return made
