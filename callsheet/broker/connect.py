"""Connecting to NATS: an external server from ``CALLSHEET_NATS_URL``, or the embedded one."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from callsheet.broker import daemon
from callsheet.broker.errors import BrokerError, BrokerNotRunningError

__all__ = ["ENV_URL", "connect", "resolve_url"]

ENV_URL = "CALLSHEET_NATS_URL"


def resolve_url(project: Path | None = None, *, autostart: bool = True) -> tuple[str, bool]:
    """Return ``(url, started)``: the server to use, and whether it was just started.

    ``CALLSHEET_NATS_URL`` wins (a comma-separated list for a cluster); otherwise
    the project's embedded broker, started if needed and ``autostart`` is true.

    Raises:
        BrokerNotRunningError: No URL is set, nothing runs and autostart is false.
        BrokerError: The embedded broker could not be started.
    """
    url = os.environ.get(ENV_URL)
    if url:
        return url, False
    running = daemon.status(project)
    if running is not None:
        return running.url, False
    if not autostart:
        raise BrokerNotRunningError(
            f"no NATS server: set {ENV_URL} or start the embedded one with `callsheet up`"
        )
    return daemon.up(project).url, True


async def connect(
    url: str, *, name: str = "callsheet", initial_timeout: float = 10.0, **options: Any
) -> Client:
    """Connect, then reconnect forever after any loss of the server.

    Args:
        url: One URL or a comma-separated list.
        name: Client name shown by the server.
        initial_timeout: Seconds to keep trying the first connection; a server that
            cannot be reached by then raises ``BrokerError``.
        **options: Further ``nats.connect`` options, overriding the defaults.

    Raises:
        BrokerError: No server could be reached within ``initial_timeout``.
    """
    settings: dict[str, Any] = {
        "name": name,
        "connect_timeout": 5,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
    }
    settings.update(options)
    servers = [part.strip() for part in url.split(",") if part.strip()]

    async def quiet(_: Exception) -> None:
        # Reconnects are expected (restarts); nats-py would print every attempt.
        return None

    settings.setdefault("error_cb", quiet)
    try:
        # With reconnects unbounded, nats-py would retry the first connection forever.
        return await asyncio.wait_for(nats.connect(servers=servers, **settings), initial_timeout)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        raise BrokerError(f"cannot reach NATS at {url}: {exc or type(exc).__name__}") from exc
