"""The ASGI server of ``callsheet serve``: uvicorn, with limits against slow and greedy clients.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but gives a
client all the time it wants to send a request's head, and any byte it sends
resets the idle timer, so clients sending a header a byte at a time (slow-loris)
could hold connections forever. ``HeadTimeoutProtocol`` gives each request head
``head_seconds`` from the start of the connection or of the previous response's
end; past that the connection is closed. Slow bodies are the app's to time out
(the ingress answers 408). ``limit_concurrency`` answers 503 beyond a number of
connections at once, so the rest of the server stays responsive.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeadTimeoutProtocol", "ServerLimits", "make_server"]


class ServerLimits:
    """Timeouts and bounds of the server.

    Attributes:
        head_seconds: Time a client has to send a request's line and headers.
        keep_alive_seconds: Idle time after which a kept-alive connection is closed.
        max_connections: Connections served at once (503 beyond).
    """

    def __init__(
        self,
        *,
        head_seconds: float = 10.0,
        keep_alive_seconds: int = 5,
        max_connections: int = 1000,
    ) -> None:
        self.head_seconds = head_seconds
        self.keep_alive_seconds = keep_alive_seconds
        self.max_connections = max_connections


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head comes too slowly."""

    head_seconds: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        # h11 stays IDLE until a whole request head is in: then nothing is under way.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head's clock."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Stop the clock once the head is in."""
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is in: the app times the body

    def on_response_complete(self) -> None:
        """Start the clock for the next request's head."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head gets its own time


def make_server(app: Any, limits: ServerLimits | None = None) -> uvicorn.Server:
    """A uvicorn server for ``app`` with ``limits``; serve it with ``serve(sockets=[...])``."""
    limits = limits or ServerLimits()
    protocol = type("Protocol", (HeadTimeoutProtocol,), {"head_seconds": limits.head_seconds})
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        http=protocol,
        timeout_keep_alive=limits.keep_alive_seconds,
        limit_concurrency=limits.max_connections,
    )
    return uvicorn.Server(config)
