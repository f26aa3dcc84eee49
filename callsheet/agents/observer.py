"""The loop of an agent's ``@on`` handlers: the log, in order, fetched and acked in bulk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from callsheet.agents.agent import Agent
from callsheet.agents.consumers import ensure_observer
from callsheet.agents.context import HandlerContext
from callsheet.agents.leader import LeaderLease, LeadershipLost
from callsheet.agents.memory import AgentSnapshots
from callsheet.agents.reactions import Reactor, describe, error_event
from callsheet.agents.retry import fetch_batch, is_transient, pause
from callsheet.agents.start import first_position
from callsheet.agents.topology import TopologyViolation
from callsheet.events.envelope import Event
from callsheet.events.errors import EventError, StoreError
from callsheet.events.store import CorruptEventError, EventStore, StoredEvent
from callsheet.events.subjects import stream_filter
from callsheet.observability import live
from callsheet.projections import PROJECTIONS, feed_log

__all__ = ["ObserverLoop"]

log = logging.getLogger("callsheet.agents")

FETCH_BATCH = 256
"""Most events taken by one fetch (and acked by one cumulative ack)."""

HANDLER_RETRIES = 15
"""Times a handler that met a passing outage is run again (some 20 s) before it counts as failed."""


class ObserverLoop:
    """Feeds the log to an agent's ``@on`` handlers, in order, from where it stopped.

    - Events are fetched in bulk; each is folded into the agent's views, then
      given to every matching handler; what a handler emits is appended
      atomically; once the fetch's events are handled, one cumulative ack
      (``AckPolicy.ALL``) acknowledges them all. A crash in between makes the
      unacked events come again, and the same derived ids keep one copy of each
      reaction.
    - The consumer delivers only the types the agent reads (see ``Agent.observes``).
    - The agent's own reactions are folded into its views as soon as they are
      stored (so the next event's handlers see them even before the log delivers
      them), and not folded again when they arrive.
    - A handler that raises is recorded as an ``agent.error`` naming the event;
      the loop goes on with the next event. A passing outage (server restart) is
      waited out and the same event is tried again.
    - On start, the views (and memory) are rebuilt up to the agent's position:
      from its last snapshot when there is a usable one (see ``memory``), else
      from the start of the log. On its first start the position is given by
      its start policy (``callsheet.agents.start``): 0, or the end of the log.
    """

    def __init__(
        self,
        store: EventStore,
        agent: Agent,
        stopping: asyncio.Event,
        *,
        snapshot_every: int = 1000,
        snapshot_share: float = 0.05,
        leader_ttl: float | None = None,
    ) -> None:
        self.store = store
        self.agent = agent
        self.stopping = stopping
        self.views: dict[str, Any] = {name: PROJECTIONS[name].initial() for name in agent.views}
        self.position = 0
        self.handled = 0
        self.rebuilt_from = 0
        """The snapshot's position the last start began from (0: the start of the log)."""
        self.rebuilt = 0
        """Events read by the last start to rebuild the views and memory."""
        self.snapshots: AgentSnapshots | None = None
        self._clean = True
        self.lease: LeaderLease | None = None
        """With a ``leader_ttl``: the lease this instance must hold to handle events."""
        if leader_ttl is not None:
            self.lease = LeaderLease(
                store.nc,
                store.config.stream,
                agent.durable_name(),
                agent.name,
                ttl=leader_ttl,
                replicas=store.config.replicas,
            )
        self.leading = asyncio.Event()
        """Set while this instance leads (at once without a lease)."""
        if self.folds and agent.snapshots:
            self.snapshots = AgentSnapshots(
                store, agent, every=snapshot_every, share=snapshot_share
            )
        self._ahead: set[int] = set()
        self._reactor = Reactor(store, agent, stopping)
        self._handlers = agent.event_handlers()
        self._acking: asyncio.Future[Any] | None = None
        """The cumulative ack of the last batch, while the server has not confirmed it."""
        self._js: JetStreamContext = store.nc.jetstream()
        self.ready = asyncio.Event()

    @property
    def folds(self) -> bool:
        """Whether the agent keeps state from the whole log (views, or its own ``observe``)."""
        return bool(self.agent.views) or type(self.agent).observe is not Agent.observe

    def _types(self) -> list[str] | None:
        """The event types this agent reads (its handlers' and its ``observes``); None: all."""
        if self.agent.views:
            return None
        names = {n for spec in self.agent.event_handlers() for n in spec.type_names}
        if type(self.agent).observe is not Agent.observe:
            if self.agent.observes is None:
                return None
            names.update(self.agent.observes)
        return sorted(names) or None

    def _filters(self) -> list[str]:
        types = self._types()
        if types is None:
            return [stream_filter(self.store.config.root)]
        return self.store.filters(types=types)

    def _fold(self, stored: StoredEvent) -> None:
        if stored.seq in self._ahead:
            self._ahead.discard(stored.seq)
            return
        self._apply(stored.event)

    def _apply(self, event: Event) -> None:
        for name in self.views:
            self.views[name] = PROJECTIONS[name].fold(self.views[name], event)
        self.agent.observe(event)

    async def start(self) -> str:
        """Create the consumer at the agent's position and rebuild its views up to it."""
        config = self.store.config
        consumer, floor = await ensure_observer(
            self._js,
            config.stream,
            self.agent.durable_name(),
            self._filters(),
            first=lambda: first_position(self.store, self.agent),
        )
        if self.folds and floor:
            restored = None
            if self.snapshots is not None:
                restored = await self.snapshots.restore(floor)
            if restored is not None:
                self.views = restored.views
                self._ahead = restored.ahead
                self.rebuilt_from = restored.seq
            await self._rebuild(floor, after=self.rebuilt_from)
        self.position = floor
        return consumer

    async def _rebuild(self, floor: int, *, after: int = 0) -> None:
        """Fold the log after ``after`` up to ``floor`` into the views (in bulk) and memory."""
        bulks = {name: PROJECTIONS[name].start(state) for name, state in self.views.items()}
        observe = self.agent.observe if self.agent.keeps_memory else None

        def keep(stored: StoredEvent) -> bool:
            if stored.seq in self._ahead:  # an own reaction, folded already
                self._ahead.discard(stored.seq)
                return False
            if observe is not None:
                observe(stored.event)
            return True

        def skip(exc: CorruptEventError) -> None:
            log.error("%s: skipping a corrupt message: %s", self.agent.name, exc)

        reading = self.store.read(
            from_seq=after + 1, until_seq=floor, types=self._types(), on_corrupt=skip
        )
        self.rebuilt = await feed_log(bulks.values(), reading, keep=keep)
        self.views = {name: bulk.result() for name, bulk in bulks.items()}

    async def run(self) -> None:
        """Handle events until the runtime stops (with a lease: while leading).

        Raises:
            LeadershipLost: Another instance took the lease over; this one stopped
                before handling anything more (restart it to stand by again).
        """
        lease = self.lease
        if lease is None:
            self.leading.set()
            await self._run()
            return
        standing_by = asyncio.Event()
        waiting = asyncio.ensure_future(lease.acquire(self.stopping, standing_by))
        stood_by = asyncio.ensure_future(standing_by.wait())
        await asyncio.wait({waiting, stood_by}, return_when=asyncio.FIRST_COMPLETED)
        stood_by.cancel()
        if not waiting.done():
            self.ready.set()  # standing by: the runtime is up
        if not await waiting:
            return  # stopped while standing by
        self.leading.set()
        keeper = asyncio.ensure_future(lease.keep(self.stopping))
        work = asyncio.ensure_future(self._run())
        try:
            await asyncio.wait({keeper, work}, return_when=asyncio.FIRST_COMPLETED)
            if keeper.done() and keeper.exception() is not None:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, LeadershipLost):
                    await work
                keeper.result()  # raises LeadershipLost
            await work
            if self.stopping.is_set():
                await lease.release()  # a clean stop: a standby takes over at once
        finally:
            self.leading.clear()
            keeper.cancel()
            work.cancel()

    async def _run(self) -> None:
        consumer = await self._retrying(self.start)
        psub = await self._js.pull_subscribe_bind(consumer, stream=self.store.config.stream)
        self.ready.set()
        attempt = 0
        try:
            while not self.stopping.is_set():
                msgs, attempt = await fetch_batch(psub, FETCH_BATCH, self.stopping, attempt)
                await self._acked()  # the last batch's ack, confirmed while this fetch ran
                await self._batch(msgs)
                if self.snapshots is not None and self.snapshots.pacer.due:
                    await self._acked()  # never a snapshot past the ack floor
                    await self.snapshots.save(self.position, self.views, self._ahead)
        finally:
            try:
                await self._acked()
            finally:
                await psub.unsubscribe()
                if self.snapshots is not None and self.stopping.is_set() and self._clean:
                    # A clean stop, between events: the state is exactly as of ``position``.
                    await self.snapshots.save(self.position, self.views, self._ahead)

    async def _batch(self, msgs: list[Msg]) -> None:
        """Handle the events of one fetch in order, then ack them all with one cumulative ack.

        The consumer acks ``ALL``: acking the last handled message acks every one
        before it, so a fetch costs one round trip, not one per event. That round
        trip overlaps the next fetch: its confirmation is awaited (``_acked``) once
        the next fetch returns, before a snapshot, and on stopping. Stopping (or a
        failure) part way acks what was handled; the rest is delivered again.
        """
        last: Msg | None = None
        try:
            for msg in msgs:
                if self.stopping.is_set():
                    break  # the rest is not acked: delivered again to the next instance
                await self._one(msg)
                last = msg
        finally:
            if last is not None:
                await self._acked()
                self._acking = asyncio.ensure_future(self._retrying(last.ack_sync))
        self._clean = True

    async def _acked(self) -> None:
        """Wait for the ack under way, if any (its failure is raised here)."""
        acking, self._acking = self._acking, None
        if acking is not None:
            await acking

    async def _retrying(self, step: Any) -> Any:
        attempt = 0
        while True:
            try:
                return await step()
            except Exception as exc:
                if not is_transient(exc) or not await pause(attempt, self.stopping):
                    raise
                attempt += 1

    async def _one(self, msg: Msg) -> None:
        if self.lease is not None and not self.lease.held:
            raise LeadershipLost(f"{self.agent.name}: the lease may have run out; not handling")
        if msg.metadata.sequence.stream <= self.position:
            return  # delivered again (its ack was lost or late): handled already, in order
        try:
            stored = await self.store.decode_message(msg)
        except CorruptEventError as exc:
            log.error("%s: skipping a corrupt message: %s", self.agent.name, exc)
            return  # acked with the batch
        self._clean = False  # folded, not yet acked: no snapshot until it is
        self._fold(stored)
        event = stored.event
        for spec in self._handlers:
            # Most events are for none of the handlers: skip those by type before any
            # span or context is made (``matches`` checks the rest, as before).
            if not spec.types or isinstance(event, spec.types):
                await self.dispatch(spec.name, stored, msg.subject)
        self.position = stored.seq
        self.handled += 1
        if self.snapshots is not None:
            self.snapshots.pacer.count()

    async def dispatch(self, handler: str, stored: StoredEvent, subject: str | None) -> None:
        """Run one handler on one event and append what it emits (or the error)."""
        with live.handling(self.agent, handler, stored.event) as span:
            await self._dispatch(handler, stored, subject, span)

    async def _dispatch(
        self, handler: str, stored: StoredEvent, subject: str | None, span: live.Handling
    ) -> None:
        spec = self.agent.handlers[handler]
        if not spec.matches(stored.event, subject):
            return
        attempt = 0
        while True:
            try:
                await self._react(handler, stored, span, last_try=attempt >= HANDLER_RETRIES)
                return
            except Exception as exc:
                # A passing outage (a lookup timing out in a failover) is no failure of
                # the handler: recorded and acked, its reaction would be lost for good;
                # raised, it would stop the agent. The same event is handled again.
                if not is_transient(exc) or not await pause(attempt, self.stopping):
                    raise  # stopping: not acked, so handled again after a restart
                log.info("%s.%s: outage on %s, again: %r", self.agent.name, handler,
                         stored.event.id, exc)  # fmt: skip
                attempt += 1

    async def _react(
        self, handler: str, stored: StoredEvent, span: live.Handling, *, last_try: bool
    ) -> None:
        """Run the handler once and append its reaction; transient errors are raised.

        A handler that raised a transient error on its ``last_try`` is recorded as
        failed instead (it may time out by design): only the reaction's append is
        tried for as long as the runtime runs.
        """
        ctx = HandlerContext(self.agent, handler, stored, self.views)
        try:
            span.begin()
            await getattr(self.agent, handler)(stored.event, ctx)
            await self._reactor.check(ctx.emitted)
        except TopologyViolation as exc:
            span.failed(str(exc))
            await self._reactor.refuse(stored, handler, exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_transient(exc) and not last_try:
                raise
            log.warning("%s.%s failed on %s: %r", self.agent.name, handler, stored.event.id, exc)
            await self._failed(stored, handler, exc, span)
            return
        try:
            appended = await self._reactor.append_reaction(stored, ctx.emitted)
        except (StoreError, EventError) as exc:
            if is_transient(exc):
                raise
            # The reaction itself is invalid (e.g. breaks the catalog): record why.
            await self._failed(stored, handler, exc, span)
            return
        span.reacted(ctx.emitted)
        for own in appended:
            if own.seq > stored.seq and own.seq not in self._ahead:
                self._ahead.add(own.seq)
                self._apply(own.event)

    async def _failed(
        self, stored: StoredEvent, handler: str, exc: Exception, span: live.Handling
    ) -> None:
        error = error_event(self.agent, stored.event, "handler_error", describe(exc), key=handler)
        span.failed(error.data.error)
        await self._reactor.record_error(stored, error)
        span.reacted([error])
