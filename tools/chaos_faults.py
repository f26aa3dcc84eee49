"""Cheap faults for the chaos run: connections cut by a TCP proxy, processes paused.

A SIGKILL and the restart after it cost about a second of CPU on a small
machine; these cost almost nothing, so a run can inject thousands:

- ``cut``: the agents reach the cluster through ``CuttingProxy`` (one listening
  port per node), which closes a live client connection at random, both ways at
  once, as a network fault or a NAT timeout would. The client reconnects (through
  the proxy again: the nodes are told not to advertise their own addresses).
- ``pause``: a process (an agent or a broker node) is stopped with SIGSTOP and
  continued with SIGCONT a moment later, shorter than any lease, as a long
  garbage collection or a starved VM would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CuttingProxy", "advertise_no_addresses", "pause"]


def advertise_no_addresses(folder: Path) -> None:
    """Make the cluster's nodes in ``folder`` not advertise their client URLs.

    Otherwise a client learns the nodes' own ports from the server's INFO and
    reconnects there after a cut, past the proxy. To call before the nodes start.
    """
    for conf in sorted(folder.glob("n*/node.conf")):
        text = conf.read_text()
        if "no_advertise" not in text:
            conf.write_text(text.replace("cluster {\n", "cluster {\n  no_advertise: true\n", 1))


@dataclass
class _Link:
    """One proxied connection: the client's side and the node's side."""

    client: asyncio.StreamWriter
    node: asyncio.StreamWriter

    def cut(self) -> None:
        for writer in (self.client, self.node):
            with contextlib.suppress(Exception):
                writer.transport.abort()  # a reset, not a polite close


@dataclass
class CuttingProxy:
    """Forwards a local port to each node; ``cut`` drops one live connection."""

    targets: list[tuple[str, int]]
    ports: list[int] = field(default_factory=list)
    links: list[_Link] = field(default_factory=list)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The proxy's client URLs, comma-separated (what ``CALLSHEET_NATS_URL`` takes)."""
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.ports)

    async def start(self) -> None:
        """Listen on a free local port per node."""
        for host, port in self.targets:
            server = await asyncio.start_server(self._handler(host, port), "127.0.0.1", 0)
            self._servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])

    def _handler(
        self, host: str, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._handlers.add(task)
                task.add_done_callback(self._handlers.discard)
            try:
                node_reader, node_writer = await asyncio.open_connection(host, port)
            except OSError:  # the node is down: the client tries another
                writer.transport.abort()
                return
            link = _Link(writer, node_writer)
            self.links.append(link)
            try:
                await asyncio.gather(
                    _pump(reader, node_writer), _pump(node_reader, writer), return_exceptions=True
                )
            finally:
                link.cut()
                with contextlib.suppress(ValueError):
                    self.links.remove(link)

        return handle

    def cut(self, rng: random.Random) -> bool:
        """Cut one live connection at random; False if there is none."""
        live = [link for link in self.links if not link.client.is_closing()]
        if not live:
            return False
        rng.choice(live).cut()
        return True

    async def close(self) -> None:
        """Stop listening and cut every connection."""
        for server in self._servers:
            server.close()
        for link in list(self.links):
            link.cut()
        if self._handlers:  # each ends once its two sides are cut
            await asyncio.wait(set(self._handlers), timeout=5)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until either side closes; then close the other."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


def pause(pid: int) -> bool:
    """Stop a process (SIGSTOP); False if it is gone. ``resume`` continues it."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    return True


def resume(pid: int) -> None:
    """Continue a paused process (SIGCONT); nothing if it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
