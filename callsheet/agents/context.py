"""What a handler gets besides its event: emitting, views, recorded calls, task reporting."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from callsheet.agents.agent import Agent
from callsheet.events.catalog import (
    ArtifactPublished,
    ArtifactPublishedData,
    ModelCalled,
    TaskAnswered,
    TaskAssigned,
    TaskBlocked,
    TaskBlockedData,
    TaskCheckpoint,
    TaskCheckpointData,
    TaskHeartbeat,
    TaskHeartbeatData,
    TaskProgress,
    TaskProgressData,
    TaskQuestion,
    TaskQuestionData,
    ToolCalled,
)
from callsheet.events.envelope import Event, Json
from callsheet.events.ids import derived_event_id
from callsheet.events.store import EventStore, StoredEvent
from callsheet.projections._common import GoalMap
from callsheet.projections.board import Board
from callsheet.projections.context import ContextEntry

__all__ = ["HandlerContext", "WorkContext"]

E = TypeVar("E", bound=Event)
_SAME: Any = object()


class HandlerContext:
    """The context of one handler run: the cause, the agent's views, and ``emit``.

    Events emitted by an ``@on`` handler are appended together, atomically, when
    the handler returns (all or none); their ids derive from (cause, agent, handler,
    index), so a redelivered cause produces the same ids and the log keeps one copy.
    """

    def __init__(
        self,
        agent: Agent,
        handler: str,
        stored: StoredEvent,
        views: Mapping[str, Any],
        *,
        id_scope: str = "",
        sink: Callable[[Event], Awaitable[int]] | None = None,
    ) -> None:
        self.agent = agent
        self.handler = handler
        self.stored = stored
        self.emitted: list[Event] = []
        self.recorded: Mapping[str, ModelCalled] | None = None
        """Recorded model calls by request digest, when re-driving from the log."""
        self.recorded_tools: dict[str, list[ToolCalled]] | None = None
        """Recorded tool calls by request digest, in call order, when re-driving."""
        self._views = views
        self._key = f"{agent.durable_name()}.{handler}{id_scope}"
        self._sink = sink

    @property
    def event(self) -> Event:
        """The event being handled (the cause of everything emitted)."""
        return self.stored.event

    @property
    def seq(self) -> int:
        """Stream sequence of the event being handled."""
        return self.stored.seq

    def now(self) -> datetime:
        """The time to reason with: the cause's time, so that a re-drive sees the same."""
        return self.stored.event.occurred_at

    def view(self, name: str) -> Any:
        """The state of one of the agent's ``views``, as of the event being handled."""
        if name not in self._views:
            raise KeyError(f"{type(self.agent).__name__} does not declare the view {name!r}")
        return self._views[name]

    @property
    def board(self) -> Board:
        """The board of the event's goal (the agent must declare the ``board`` view)."""
        boards: GoalMap[Board] = self.view("board")
        found = boards.goals.get(self.event.goal_id)
        return found if isinstance(found, Board) else Board(goal_id=self.event.goal_id)

    def make(
        self,
        cls: type[E],
        data: Any,
        *,
        task_id: str | None = _SAME,
        goal_id: str | None = None,
    ) -> E:
        """Build the next event of this handler run, without emitting it."""
        cause = self.event
        event_id = derived_event_id(cause.id, self._key, len(self.emitted))
        return cls.new(
            data=data,
            goal_id=goal_id or cause.goal_id,
            task_id=cause.task_id if task_id is _SAME else task_id,
            producer=self.agent.name,
            correlation_id=cause.correlation_id if goal_id in (None, cause.goal_id) else None,
            causation_id=cause.id,
            event_id=event_id,
        )

    def emit(
        self,
        cls: type[E],
        data: Any,
        *,
        task_id: str | None = _SAME,
        goal_id: str | None = None,
    ) -> E:
        """Queue an event caused by the one being handled.

        Args:
            cls: The catalog class, e.g. ``TaskAssigned``.
            data: Its typed payload.
            task_id: The task it is about; the cause's task by default (``None`` for
                a goal-level event).
            goal_id: The goal; the cause's goal by default.

        Returns:
            The event, with its derived id, correlation and causation set.
        """
        event = self.make(cls, data, task_id=task_id, goal_id=goal_id)
        self.emitted.append(event)
        return event


class WorkContext(HandlerContext):
    """The context of a task taken from a role's work queue.

    Reports are appended at once (``await ctx.progress(...)``), fenced by the task's
    sequence: if another worker took the task over (the lease ran out) or it was
    cancelled, the next report raises ``LeaseLost`` and the work stops.

    Attributes:
        delivery: Which delivery of the assignment this is (1, 2, ...).
        checkpoint: The state saved by the last checkpoint of the task, if any: resume from it.
        checkpoint_id: Id of that checkpoint.
        context: The shared-context entries the assignment's ``context_keys`` name, by
            key, as they were when the task was assigned (see ``agents.scope``): the
            task's scoped context, not the whole store.
    """

    def __init__(
        self,
        agent: Agent,
        handler: str,
        stored: StoredEvent,
        *,
        delivery: int,
        sink: Callable[[Event], Awaitable[int]],
        store: EventStore,
        checkpoint: Json = None,
        checkpoint_id: str | None = None,
        batch_sink: Callable[[list[Event]], Awaitable[None]] | None = None,
        context: Mapping[str, ContextEntry] | None = None,
    ) -> None:
        super().__init__(agent, handler, stored, {}, id_scope=f"#{delivery}", sink=sink)
        self.context: Mapping[str, ContextEntry] = dict(context or {})
        self.store = store
        self._questions = itertools.count(1)
        self.delivery = delivery
        self.checkpoint = checkpoint
        self.checkpoint_id = checkpoint_id
        self._send = sink
        self._send_batch = batch_sink
        self._sent: set[str] = set()

    @property
    def assignment(self) -> TaskAssigned:
        """The task's assignment."""
        event = self.event
        assert isinstance(event, TaskAssigned)
        return event

    @property
    def task_id(self) -> str:
        """The task being worked on."""
        return self.assignment.task_id or ""

    async def send(self, cls: type[E], data: Any, *, task_id: str | None = _SAME) -> E:
        """Append an event now (fenced on the task); returns it."""
        event = self.emit(cls, data, task_id=task_id)
        await self._send(event)
        self._sent.add(event.id)
        return event

    async def flush(self) -> int:
        """Append the events queued with ``emit`` since the last send; return how many.

        The queued events about the task are stored atomically, all or none (in
        batches of at most the store's ``max_batch`` events; a larger queue is
        split), fenced on the task like ``send``: one round trip for many reports,
        e.g. a batch of findings and the checkpoint that says they are done. Queued
        events about anything else (a goal-level context entry) follow one by one.
        """
        pending = [e for e in self.emitted if e.id not in self._sent]
        mine = [e for e in pending if e.task_id == self.task_id]
        others = [e for e in pending if e.task_id != self.task_id]
        if mine and self._send_batch is not None:
            await self._send_batch(mine)
        else:
            for event in mine:
                await self._send(event)
        self._sent.update(e.id for e in mine)
        for event in others:
            await self._send(event)
            self._sent.add(event.id)
        return len(pending)

    def checkpoint_event(self, state: Json, note: str = "") -> TaskCheckpoint:
        """Queue a checkpoint (sent by the next ``flush``); a later delivery resumes from it."""
        checkpoint_id = f"{self.task_id}-cp{len(self.emitted) + 1}-d{self.delivery}"
        event = self.emit(
            TaskCheckpoint,
            TaskCheckpointData(
                checkpoint_id=checkpoint_id, worker=self.agent.name, state=state, note=note
            ),
        )
        self.checkpoint, self.checkpoint_id = state, checkpoint_id
        return event

    async def sleep(self, seconds: float) -> None:
        """Wait (the lease is extended meanwhile); a re-drive returns at once.

        Use it rather than ``asyncio.sleep`` for time the work itself takes, so that
        re-driving the handler from the log does not wait for it again.
        """
        await asyncio.sleep(seconds)

    async def progress(self, percent: float, note: str = "") -> None:
        """Report how far along the task is."""
        await self.send(
            TaskProgress, TaskProgressData(worker=self.agent.name, percent=percent, note=note)
        )

    async def heartbeat(self) -> None:
        """Say the worker is alive (the runtime also does this on its own)."""
        lease = self.assignment.data.lease_seconds
        until = datetime.now(UTC) + timedelta(seconds=lease)
        await self.send(
            TaskHeartbeat,
            TaskHeartbeatData(worker=self.agent.name, attempt=self.delivery, lease_until=until),
        )

    async def save_checkpoint(self, state: Json, note: str = "") -> str:
        """Save resumable state; a later delivery of the task starts with it."""
        checkpoint_id = f"{self.task_id}-cp{len(self.emitted) + 1}-d{self.delivery}"
        await self.send(
            TaskCheckpoint,
            TaskCheckpointData(
                checkpoint_id=checkpoint_id, worker=self.agent.name, state=state, note=note
            ),
        )
        self.checkpoint, self.checkpoint_id = state, checkpoint_id
        return checkpoint_id

    async def blocked(self, reason: str, needs: str = "", kind: str = "other") -> None:
        """Say the work cannot go on, and why."""
        await self.send(
            TaskBlocked,
            TaskBlockedData(worker=self.agent.name, reason=reason, needs=needs, kind=kind),  # type: ignore[arg-type]
        )

    async def publish_artifact(
        self, artifact_id: str, name: str, content: str | None = None, **extra: Any
    ) -> None:
        """Publish an output of the task: inline ``content``, or a ``uri`` (and ``digest``) to it.

        The event itself goes to the object store when it is over the server's limit.
        """
        await self.send(
            ArtifactPublished,
            ArtifactPublishedData(artifact_id=artifact_id, name=name, content=content, **extra),
        )

    async def wait_for(
        self,
        *types: type[E],
        where: Callable[[E], bool] | None = None,
        task_id: str | None = _SAME,
        timeout: float | None = None,
    ) -> E:
        """Wait for an event of the goal appended after the assignment, and return it.

        Args:
            *types: Catalog classes to wait for.
            where: Only an event for which this returns True.
            task_id: Only events of this task (``None``: any of the goal); this task by default.
            timeout: Seconds to wait at most (the lease is extended meanwhile).

        Raises:
            TimeoutError: Nothing matching came in time.
        """
        names = [str(t.__struct_config__.tag) for t in types]
        task = self.task_id if task_id is _SAME else task_id

        async def first() -> E:
            async with self.store.subscribe(
                goal_id=self.assignment.goal_id, task_id=task, types=names, from_seq=self.seq + 1
            ) as sub:
                async for stored in sub:
                    event = stored.event
                    if isinstance(event, types) and (where is None or where(event)):
                        return event
            raise TimeoutError("the subscription ended")  # pragma: no cover

        return await asyncio.wait_for(first(), timeout)

    async def ask(
        self,
        question: str,
        *,
        timeout: float | None = None,
        addressed_to: Literal["agent", "human"] = "agent",
    ) -> str:
        """Ask a question about the task and wait for its answer (``task.answered``).

        ``addressed_to="human"``: a person answers (``callsheet answer``), not the
        supervisor's model.
        """
        question_id = f"{self.task_id}-q{next(self._questions)}-d{self.delivery}"
        await self.send(
            TaskQuestion,
            TaskQuestionData(
                question_id=question_id,
                worker=self.agent.name,
                question=question,
                addressed_to=addressed_to,
            ),
        )
        answer = await self.wait_for(
            TaskAnswered, where=lambda e: e.data.question_id == question_id, timeout=timeout
        )
        return answer.data.answer
