"""``AgentRuntime``: runs agents (one or many per process) against the log until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence

from callsheet.agents.agent import Agent
from callsheet.agents.dispatch import WorkLoop
from callsheet.agents.observer import ObserverLoop
from callsheet.events.store import EventStore

__all__ = ["AgentRuntime"]

log = logging.getLogger("callsheet.agents")


class AgentRuntime:
    """Runs agents: an in-order loop per agent for ``@on``, a work loop per worker.

    Use ``await runtime.start()`` then ``await runtime.stop()``, or ``async with``,
    or ``await runtime.run_until_signalled()`` in a process of its own.

    Graceful shutdown: no new event or task is taken; running tasks get
    ``grace`` seconds to finish, then are stopped and handed back to the queue;
    an event being handled is finished (or, if cut short, delivered again).

    Standby: with ``leader_ttl``, each observing agent first takes its leader
    lease (see ``leader``); an instance that finds it held stands by, and takes
    over when the leader stops or dies (``ttl`` seconds after its last renewal).
    Workers need no lease: they share their role's queue.
    """

    def __init__(
        self,
        store: EventStore,
        agents: Sequence[Agent],
        *,
        grace: float = 10.0,
        leader_ttl: float | None = None,
    ) -> None:
        if not agents:
            raise ValueError("the runtime needs at least one agent")
        names = [a.name for a in agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agent names must be unique: {names}")
        self.store = store
        self.agents = list(agents)
        self.stopping = asyncio.Event()
        self.observers: list[ObserverLoop] = []
        self.workers: list[WorkLoop] = []
        for agent in self.agents:
            if agent.event_handlers():
                self.observers.append(
                    ObserverLoop(store, agent, self.stopping, leader_ttl=leader_ttl)
                )
            if agent.work_handler() is not None:
                self.workers.append(WorkLoop(store, agent, self.stopping, grace=grace))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every loop and wait until each has its consumer (so nothing is missed)."""
        loops: list[ObserverLoop | WorkLoop] = [*self.observers, *self.workers]
        for loop in loops:
            self._tasks.append(asyncio.create_task(self._guard(loop), name=loop.agent.name))
        while not all(loop.ready.is_set() for loop in loops):
            failed = [t for t in self._tasks if t.done()]
            if failed:
                self.stopping.set()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                failed[0].result()  # raises the loop's error
                raise RuntimeError(f"agent {failed[0].get_name()} stopped while starting")
            await asyncio.wait(self._tasks, timeout=0.05)

    async def _guard(self, loop: ObserverLoop | WorkLoop) -> None:
        try:
            await loop.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            if self.stopping.is_set():
                # Cut short while stopping (e.g. the server is away): what was not
                # acked is delivered again to the next instance.
                log.info("agent %s stopped during shutdown", loop.agent.name, exc_info=True)
                return
            log.exception("agent %s stopped on an error", loop.agent.name)
            raise

    async def stop(self) -> None:
        """Stop gracefully (see the class docstring)."""
        self.stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def wait(self) -> None:
        """Wait until the runtime stops, or until a loop fails (the error is raised)."""
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def __aenter__(self) -> AgentRuntime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run_until_signalled(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start, run until SIGINT or SIGTERM, then stop gracefully.

        Args:
            on_ready: Called once every agent has its consumer.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stopping.set)
        await self.start()
        if on_ready is not None:
            on_ready()
        stopper: asyncio.Task[object] = asyncio.create_task(self.stopping.wait())
        await asyncio.wait([stopper, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in self._tasks if t.done() and not t.cancelled() and t.exception()]
        await self.stop()
        stopper.cancel()
        if failed:
            failed[0].result()
