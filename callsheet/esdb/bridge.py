"""A synchronous front for nats-py: one event loop on its own thread.

The ``eventsourcing`` library calls recorders synchronously, from any thread;
nats-py is asynchronous. ``LoopBridge`` owns a private event loop running on a
dedicated daemon thread, and the NATS connection lives on that loop. A call from
another thread submits a coroutine with ``asyncio.run_coroutine_threadsafe`` and
waits for its result, so the caller blocks but no other event loop does.

Two calls are refused with ``BridgeCallError`` instead of hanging:

- from the bridge loop's own thread (it would wait for itself forever);
- from a thread that is running another event loop (an agent's loop would be
  blocked for the duration of the call): use ``await asyncio.to_thread(...)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from nats.aio.client import Client

__all__ = ["BridgeCallError", "LoopBridge"]

T = TypeVar("T")
_log = logging.getLogger(__name__)


async def _log_error(exc: Exception) -> None:
    _log.warning("NATS connection error: %s", exc)


class BridgeCallError(ProgrammingError):
    """A blocking recorder call was made from a thread running an event loop."""


class LoopBridge:
    """An event loop on a dedicated thread, owning one NATS connection."""

    def __init__(
        self, servers: list[str], *, name: str = "callsheet-esdb", connect_wait: float = 15.0
    ) -> None:
        """Start the loop thread and connect to NATS.

        Once connected, the client reconnects for ever after a disconnection.

        Args:
            servers: NATS server URLs.
            name: Connection name shown by the server.
            connect_wait: Seconds to keep trying the first connection.

        Raises:
            OperationalError: The connection could not be made.
        """
        self._loop = asyncio.new_event_loop()
        self._closed = False
        self._close_lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._thread = threading.Thread(target=self._run_loop, name=f"{name}-loop", daemon=True)
        self._thread.start()
        self._nc: Client | None = None
        try:
            self._nc = self.run(
                lambda: nats.connect(
                    servers=servers,
                    name=name,
                    connect_timeout=min(5, max(1, int(connect_wait))),
                    max_reconnect_attempts=-1,
                    error_cb=_log_error,
                ),
                timeout=connect_wait,
            )
        except BridgeCallError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise OperationalError(f"cannot connect to NATS at {servers}: {exc}") from exc

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def nc(self) -> Client:
        """The NATS connection (use it only from coroutines run on the bridge)."""
        if self._nc is None:
            raise InterfaceError("bridge is not connected")
        return self._nc

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The bridge's event loop."""
        return self._loop

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed

    def run(self, factory: Callable[[], Awaitable[T]], *, timeout: float | None = 60.0) -> T:
        """Run a coroutine on the bridge loop and wait for its result.

        Args:
            factory: Called on the bridge loop to make the awaitable to run.
            timeout: Seconds to wait for the result (None: no limit).

        Returns:
            The awaitable's result.

        Raises:
            BridgeCallError: Called from the bridge loop's thread or from a running loop.
            InterfaceError: The bridge is closed.
            OperationalError: The call timed out.
        """
        if threading.get_ident() == self._thread.ident:
            raise BridgeCallError(
                "a blocking recorder call was made from the bridge's own event loop thread; "
                "it would wait for itself forever"
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise BridgeCallError(
                "a blocking recorder call was made from a thread running an event loop; "
                "call it with `await asyncio.to_thread(...)` so the loop is not blocked"
            )
        if self._closed:
            raise InterfaceError("the JetStream recorder is closed")

        async def call() -> T:
            return await factory()

        future = asyncio.run_coroutine_threadsafe(call(), self._loop)
        with self._close_lock:
            self._pending.add(future)
        if self._closed:  # closed meanwhile: close() may not have seen this call
            future.cancel()
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise OperationalError(f"JetStream call timed out after {timeout} s") from None
        except concurrent.futures.CancelledError:
            raise InterfaceError("the JetStream recorder was closed during the call") from None
        finally:
            with self._close_lock:
                self._pending.discard(future)

    def close(self) -> None:
        """Close the connection and stop the loop; calling it again does nothing."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if threading.get_ident() == self._thread.ident:
            raise BridgeCallError("close() cannot be called from the bridge's own loop")
        if self._nc is not None and self._loop.is_running():
            nc = self._nc

            async def shutdown() -> None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 5.0)
                # Calls still in flight (other threads) end with InterfaceError, and
                # no task of nats-py is left pending when the loop closes.
                current = asyncio.current_task()
                tasks = [t for t in asyncio.all_tasks() if t is not current]
                for task in tasks:
                    task.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5.0)

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        with self._close_lock:
            pending = list(self._pending)
        for future in pending:  # callers waiting on the stopped loop get InterfaceError
            future.cancel()
        if not self._thread.is_alive():
            self._loop.close()
