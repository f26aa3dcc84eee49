"""The work queue of a role: leases, heartbeats, fencing, checkpoints, failures.

One durable pull consumer per role is shared by every worker of the role, in
any number of processes. A worker takes at most ``max_in_flight`` tasks at once
(backpressure: the rest wait in the queue, whose depth ``queue_depth`` shows).
For each delivery of a ``task.assigned``:

1. The task's history is read: a task already finished, cancelled or assigned
   again since is acked and dropped (a task completes once); the last
   checkpoint, if any, is handed to the handler to resume from.
2. A delivery past the task's ``max_attempts`` (earlier workers died or let the
   lease run out) becomes a ``task.failed`` for the supervisor; so does a
   deadline already passed. ``not_before`` (a retry's backoff) is waited out.
3. ``task.started``, then the handler runs, given the context entries the
   assignment names (``agents.scope``); every ``lease/3`` the lease is
   extended (``in_progress``) and a ``task.heartbeat`` recorded.
4. Every report is appended with the task's last sequence as the expectation
   (a fencing token): when another worker has taken the task over, or it was
   cancelled, the report is refused and this worker stops (``LeaseLost``).
5. The handler's return value becomes the ``task.result``; an exception becomes a
   ``task.failed`` with the error. Then the delivery is acked (or terminated).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.msg import Msg

from callsheet.agents.agent import Agent
from callsheet.agents.consumers import ensure_work_queue
from callsheet.agents.context import WorkContext
from callsheet.agents.reactions import Reactor, describe
from callsheet.agents.retry import fetch_work, is_transient, pause
from callsheet.agents.scope import read_scope
from callsheet.agents.topology import TopologyViolation
from callsheet.agents.tracing import traceparent
from callsheet.events.catalog import (
    TaskAssigned,
    TaskCancelled,
    TaskCheckpoint,
    TaskFailed,
    TaskFailedData,
    TaskHeartbeat,
    TaskHeartbeatData,
    TaskReassigned,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.events.errors import ConcurrencyConflict, DuplicateEventIdError
from callsheet.events.ids import derived_event_id
from callsheet.events.store import Appended, CorruptEventError, EventStore, StoredEvent
from callsheet.observability import live

__all__ = [
    "LeaseLost",
    "ResumePoint",
    "WorkLoop",
    "delivery_event",
    "handler_failure",
    "may_resume",
    "result_data",
]

log = logging.getLogger("callsheet.agents")
_FAR = datetime.max.replace(tzinfo=UTC)


class LeaseLost(Exception):
    """The task was taken over by another worker, finished, or cancelled meanwhile."""

    def __init__(self, reason: str, *, cancelled: bool = False) -> None:
        super().__init__(reason)
        self.cancelled = cancelled


def delivery_event(
    agent: Agent,
    assigned: TaskAssigned,
    delivery: int,
    cls: type[Event],
    data: Any,
    key: str,
    index: int = 0,
) -> Any:
    """An event the runtime records for one delivery of a task (started, failed...).

    Its id derives from (assignment, agent, ``key``, delivery, ``index``), so a
    re-run of the delivery makes the same id.
    """
    return cls.new(
        data=data,
        goal_id=assigned.goal_id,
        task_id=assigned.task_id,
        producer=agent.name,
        correlation_id=assigned.correlation_id,
        causation_id=assigned.id,
        event_id=derived_event_id(assigned.id, f"{agent.durable_name()}.{key}#{delivery}", index),
    )


def result_data(agent: Agent, output: Any) -> TaskResultData:
    """The ``task.result`` of what a ``@work`` handler returned."""
    if isinstance(output, TaskResultData):
        return output
    return TaskResultData(worker=agent.name, output=output)


def handler_failure(agent: Agent, delivery: int, exc: BaseException) -> TaskFailedData:
    """The ``task.failed`` of a ``@work`` handler that raised.

    An exception with a ``retryable`` attribute (e.g. ``agents.tools.ToolError``)
    explains itself: its message is the reason and it says whether another
    delivery may do better; any other exception is retryable.
    """
    retryable = getattr(exc, "retryable", None)
    return TaskFailedData(
        reason=f"the handler raised {type(exc).__name__}"
        if retryable is None
        else str(exc)[:65536],
        worker=agent.name,
        attempt=delivery,
        retryable=True if retryable is None else bool(retryable),
        error=describe(exc),
    )


def may_resume(assigned: TaskAssigned, delivery: int) -> bool:
    """Whether a delivery can have a checkpoint to resume from (not a fresh first one)."""
    return delivery > 1 or assigned.data.resume_from is not None


class ResumePoint:
    """Picks the checkpoint a delivery resumes from, out of its task's history.

    That is the checkpoint the assignment names (``resume_from``, set when a task
    is assigned again), or else the last one made under this assignment (by an
    earlier delivery whose worker died); checkpoints of other assignments are not
    taken unless named.
    """

    def __init__(self, assigned: StoredEvent) -> None:
        """Start with the assignment (its event must be a ``task.assigned``)."""
        event = assigned.event
        assert isinstance(event, TaskAssigned)
        self._after = assigned.seq
        self._wanted = event.data.resume_from
        self._named: StoredEvent | None = None
        self._latest: StoredEvent | None = None

    def see(self, past: StoredEvent) -> None:
        """Take the task's next event in log order into account."""
        event = past.event
        if isinstance(event, TaskCheckpoint):
            if event.data.checkpoint_id == self._wanted:
                self._named = past
            if past.seq > self._after:
                self._latest = past

    @property
    def checkpoint(self) -> StoredEvent | None:
        """The checkpoint to resume from, among the events seen; None for none."""
        return self._latest or self._named


def _ends_assignment(event: Event) -> bool:
    return isinstance(
        event, TaskAssigned | TaskResult | TaskCancelled | TaskFailed | TaskReassigned
    )


def _chain(task: asyncio.Task[None], future: asyncio.Future[None]) -> None:
    """Pass a task's outcome on to a future (which the handler's task can await)."""
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(None)


class TaskRun:
    """One delivery of one task to one worker."""

    def __init__(
        self, loop: WorkLoop, msg: Msg, stored: StoredEvent, assigned: TaskAssigned
    ) -> None:
        self.loop = loop
        self.agent = loop.agent
        self.store = loop.store
        self.msg = msg
        self.stored = stored
        self.assigned = assigned
        self.task_id = assigned.task_id or ""
        self.delivery = msg.metadata.num_delivered or 1
        self.last_seq = stored.seq
        self._lock = asyncio.Lock()
        self._beats = 0
        self._lost: LeaseLost | None = None
        self._sent: set[str] = set()  # ids of the events appended by ``append``
        self._reactor = Reactor(loop.store, loop.agent, loop.stopping)
        self.span = live.delivery(loop.agent, loop.handler, assigned, self.delivery)

    # -- fenced appends -----------------------------------------------------------

    async def append(self, event: Event) -> int:
        """Append a report; fenced on the task's sequence when it is about the task.

        Raises:
            TopologyViolation: The agent may not emit this (recorded as an ``agent.error``).
            LeaseLost: The task moved on without this worker.
        """
        try:
            await self._reactor.check([event])
        except TopologyViolation as exc:
            await self._reactor.refuse(self.stored, self.loop.handler, exc)
            raise
        if event.task_id != self.task_id or event.goal_id != self.assigned.goal_id:
            stored: Appended = await self._retry(lambda: self.store.append(event))
            self._sent.add(event.id)
            self.span.reacted([event])
            return stored.seq
        async with self._lock:
            seq = await self._append_fenced(event)
        self._sent.add(event.id)
        return seq

    async def append_batch(self, events: list[Event]) -> None:
        """Append reports of the task atomically, fenced (chunks of the store's ``max_batch``).

        Raises:
            TopologyViolation: The agent may not emit one of them (recorded as an ``agent.error``).
            ValueError: An event is not about this task.
            LeaseLost: The task moved on without this worker.
        """
        try:
            await self._reactor.check(events)
        except TopologyViolation as exc:
            await self._reactor.refuse(self.stored, self.loop.handler, exc)
            raise
        if any(e.task_id != self.task_id or e.goal_id != self.assigned.goal_id for e in events):
            raise ValueError(f"a batch of reports must all be about task {self.task_id}")
        size = self.store.config.max_batch
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            async with self._lock:
                await self._append_chunk(chunk)
            self._sent.update(e.id for e in chunk)
            self.span.reacted(chunk)

    async def _append_chunk(self, chunk: list[Event]) -> None:
        """Append one atomic chunk expecting the task's last known sequence; the lock is held."""
        key = (self.assigned.goal_id, self.task_id)
        while True:
            try:
                done: list[Appended] = await self._retry(
                    lambda: self.store.append_batch(chunk, expected={key: self.last_seq})
                )
            except ConcurrencyConflict:
                await self._catch_up()
                continue
            self.last_seq = max(self.last_seq, *(a.seq for a in done))
            return

    async def _append_fenced(self, event: Event) -> int:
        """Append ``event`` expecting the task's last known sequence; the lock is held."""
        while True:
            try:
                done: Appended = await self._retry(
                    lambda: self.store.append(
                        event,
                        expected_last_seq=self.last_seq,
                        traceparent=traceparent(event.correlation_id, event.id),
                    )
                )
            except ConcurrencyConflict:
                await self._catch_up()
                continue
            except DuplicateEventIdError:
                found = await self.store.find(event, from_seq=self.stored.seq)
                if found is None:
                    raise
                return found.seq
            self.last_seq = max(self.last_seq, done.seq)
            self.span.reacted([event])
            return done.seq

    async def _retry(self, step: Any) -> Any:
        attempt = 0
        while True:
            try:
                return await step()
            except Exception as exc:
                if not is_transient(exc) or not await pause(attempt, self.loop.stopping):
                    raise
                attempt += 1

    async def _catch_up(self) -> None:
        """Read what others appended to the task; give up if the task moved on without us."""
        async for later in self.store.read(
            goal_id=self.assigned.goal_id, task_id=self.task_id, from_seq=self.last_seq + 1
        ):
            event = later.event
            if isinstance(event, TaskStarted) and (
                event.data.worker != self.agent.name or event.data.attempt != self.delivery
            ):
                raise LeaseLost(f"task {self.task_id} was taken over by {event.data.worker}")
            if _ends_assignment(event) and event.producer != self.agent.name:
                raise LeaseLost(
                    f"task {self.task_id} moved on ({event.event_type})",
                    cancelled=isinstance(event, TaskCancelled),
                )
            self.last_seq = later.seq

    # -- the delivery ---------------------------------------------------------------

    def _event(self, cls: type[Event], data: Any, key: str, index: int = 0) -> Any:
        return delivery_event(self.agent, self.assigned, self.delivery, cls, data, key, index)

    async def _fail(self, reason: str, *, retryable: bool, error: str | None = None) -> None:
        data = TaskFailedData(
            reason=reason,
            worker=self.agent.name,
            attempt=self.delivery,
            retryable=retryable,
            error=error,
        )
        await self.append(self._event(TaskFailed, data, "failed"))

    async def run(self) -> None:
        """Work on the delivery; never raises except on cancellation."""
        try:
            with self.span:
                await self._run()
        except LeaseLost as exc:
            log.info("%s: %s", self.agent.name, exc)
            if exc.cancelled:
                await self._settle(self.msg.term)
        except asyncio.CancelledError:
            # Stopped (shutdown): hand the task back now rather than after the lease.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.msg.nak())
            raise
        except Exception:
            log.exception(
                "%s: task %s: delivery %d broke", self.agent.name, self.task_id, self.delivery
            )

    async def _settle(self, how: Any) -> None:
        with contextlib.suppress(Exception):
            await self._retry(how)

    async def _history(self) -> tuple[bool, StoredEvent | None]:
        """Whether the assignment is still open, and the checkpoint to resume from."""
        if not may_resume(self.assigned, self.delivery):
            # A fresh assignment: nothing to resume, and whatever happened to the task
            # since (a cancellation, a new assignment) is caught by the fence at start.
            return True, None
        open_, point = True, ResumePoint(self.stored)
        async for past in self.store.read(goal_id=self.assigned.goal_id, task_id=self.task_id):
            point.see(past)
            if past.seq > self.stored.seq and _ends_assignment(past.event):
                open_ = False
            self.last_seq = max(self.last_seq, past.seq)
        return open_, point.checkpoint

    async def _run(self) -> None:
        open_, checkpoint = await self._retry(self._history)
        if not open_:
            await self._settle(self.msg.ack_sync)  # finished, cancelled or reassigned already
            return
        data = self.assigned.data
        if self.delivery > data.max_attempts:
            await self._fail(
                f"no worker finished it in {data.max_attempts} deliveries "
                f"(lease {self.loop.lease_seconds:g} s)",
                retryable=True,
            )
            await self._settle(self.msg.term)
            return
        if data.deadline is not None and datetime.now(UTC) >= data.deadline:
            await self._fail("its deadline passed before a worker started it", retryable=False)
            await self._settle(self.msg.term)
            return
        if data.not_before is not None:
            await self._wait_until(data.not_before)
        scoped = await self._retry(lambda: read_scope(self.store, self.stored))
        ctx = WorkContext(
            self.agent,
            self.loop.handler,
            self.stored,
            delivery=self.delivery,
            sink=self.append,
            batch_sink=self.append_batch,
            store=self.store,
            checkpoint=checkpoint.event.data.state if checkpoint else None,
            checkpoint_id=checkpoint.event.data.checkpoint_id if checkpoint else None,
            context=scoped,
        )
        started = self._event(
            TaskStarted, TaskStartedData(worker=self.agent.name, attempt=self.delivery), "started"
        )
        # task.started is appended while the handler begins: it holds the lock first,
        # so the handler's reports queue behind it and the log keeps the order.
        await self._lock.acquire()
        starting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        work = asyncio.create_task(self._work(ctx, starting))  # the handler begins first
        append = asyncio.create_task(self._append_then_release(started))
        append.add_done_callback(lambda t: _chain(t, starting))
        starting.add_done_callback(lambda t: self._on_started(t, work))
        beats = asyncio.create_task(self._heartbeats(work))
        try:
            await work
        except asyncio.CancelledError:
            if self._lost is not None:
                raise self._lost from None
            raise
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await beats
            if not append.done():
                append.cancel()

    async def _append_then_release(self, event: Event) -> None:
        try:
            await self._append_fenced(event)
        finally:
            self._lock.release()

    def _on_started(self, starting: asyncio.Future[None], work: asyncio.Task[None]) -> None:
        if starting.cancelled():
            return
        error = starting.exception()
        if error is not None:
            self._lose(error, work)

    def _lose(self, error: BaseException, work: asyncio.Task[None]) -> None:
        """Stop the handler because the task moved on (or the start could not be recorded)."""
        self._lost = (
            error if isinstance(error, LeaseLost) else LeaseLost(f"could not start: {error!r}")
        )
        work.cancel()

    async def _work(self, ctx: WorkContext, starting: asyncio.Future[None]) -> None:
        handler = getattr(self.agent, self.loop.handler)
        deadline = self.assigned.data.deadline
        timeout = None if deadline is None else (deadline - datetime.now(UTC)).total_seconds()
        # A scope rather than ``wait_for``: a TimeoutError the handler raises itself (a
        # ``ctx.ask`` with no answer in time) is its failure, not the task's deadline.
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                output = await handler(self.assigned, ctx)
                # Events queued with ``ctx.emit`` (not sent) are appended now, in order.
                for event in list(ctx.emitted):
                    if event.id not in self._sent:
                        await self.append(event)
        except (LeaseLost, asyncio.CancelledError):
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and scope.expired():
                await self._fail("its deadline passed while it ran", retryable=False)
                await self._settle(self.msg.term)
                return
            log.warning("%s: task %s raised %r", self.agent.name, self.task_id, exc)
            failed = handler_failure(self.agent, self.delivery, exc)
            await self.append(self._event(TaskFailed, failed, "failed"))
            await self._settle(self.msg.term)
            return
        await starting  # its failure (LeaseLost) cancels this task instead
        if not any(isinstance(e, TaskResult) for e in ctx.emitted):
            await ctx.send(TaskResult, result_data(self.agent, output))
        # A lost ack only means a redelivery, which finds the result and drops the task.
        await self._settle(self.msg.ack)

    async def _heartbeats(self, work: asyncio.Task[None]) -> None:
        period = self.loop.lease_seconds / 3
        while not work.done():
            await asyncio.sleep(period)
            with contextlib.suppress(Exception):
                await self.msg.in_progress()
            until = datetime.now(UTC) + timedelta(seconds=self.loop.lease_seconds)
            self._beats += 1
            data = TaskHeartbeatData(
                worker=self.agent.name, attempt=self.delivery, lease_until=until
            )
            try:
                await self.append(self._event(TaskHeartbeat, data, "heartbeat", self._beats))
            except LeaseLost as exc:
                self._lose(exc, work)
                raise

    async def _wait_until(self, when: datetime) -> None:
        """Hold the delivery until ``when``, extending the lease meanwhile."""
        period = self.loop.lease_seconds / 3
        while (left := (when - datetime.now(UTC)).total_seconds()) > 0:
            await asyncio.sleep(min(left, period))
            with contextlib.suppress(Exception):
                await self.msg.in_progress()


class WorkLoop:
    """Takes tasks from a role's queue for one worker agent, a few at a time."""

    def __init__(
        self, store: EventStore, agent: Agent, stopping: asyncio.Event, *, grace: float = 10.0
    ) -> None:
        spec = agent.work_handler()
        if spec is None or agent.role is None:
            raise ValueError(f"{agent!r} has no @work handler")
        self.store = store
        self.agent = agent
        self.role = agent.role
        self.handler = spec.name
        self.stopping = stopping
        self.lease_seconds = agent.lease_seconds
        self.grace = grace
        self.running: set[asyncio.Task[None]] = set()
        self.taken = 0
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Take and work on tasks until the runtime stops, then let running ones finish."""
        config = self.store.config
        js = self.store.nc.jetstream()
        attempt = 0
        while True:
            try:
                name = await ensure_work_queue(
                    js, config.stream, config.root, self.role, lease_seconds=self.lease_seconds
                )
                psub = await js.pull_subscribe_bind(name, stream=config.stream)
                break
            except Exception as exc:
                if not is_transient(exc) or not await pause(attempt, self.stopping):
                    raise
                attempt += 1
        self.ready.set()
        try:
            await self._take(psub)
        finally:
            await self._drain()
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    async def _take(self, psub: Any) -> None:
        attempt = 0
        while not self.stopping.is_set():
            free = self.agent.max_in_flight - len(self.running)
            if free <= 0:
                await asyncio.wait(self.running, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                continue
            msgs, attempt = await fetch_work(psub, free, self.stopping, attempt)
            runs = []
            for msg in msgs:
                run = await self._decode(msg)
                if run is not None:
                    runs.append(run)
            # Most urgent first among what was taken: priority, then deadline.
            runs.sort(key=lambda r: (r.assigned.data.priority, r.assigned.data.deadline or _FAR))
            for run in runs:
                task = asyncio.create_task(run.run(), name=f"{self.agent.name}:{run.task_id}")
                self.running.add(task)
                task.add_done_callback(self.running.discard)
                self.taken += 1

    async def _decode(self, msg: Msg) -> TaskRun | None:
        try:
            stored = await self.store.decode_message(msg)
        except CorruptEventError as exc:
            log.error("%s: dropping a corrupt assignment: %s", self.agent.name, exc)
            await msg.term()
            return None
        event = stored.event
        spec = self.agent.handlers[self.handler]
        if not isinstance(event, TaskAssigned) or not spec.matches(event, msg.subject):
            await msg.term()  # not for this worker: no other worker of the role takes it either
            return None
        return TaskRun(self, msg, stored, event)

    async def _drain(self) -> None:
        """Give running tasks ``grace`` seconds, then stop them; their deliveries come back."""
        if not self.running:
            return
        _, pending = await asyncio.wait(set(self.running), timeout=self.grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
