"""Connecting to NATS: an external server from ``CALLSHEET_NATS_URL``, or the embedded one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import nats.errors
from nats.aio.client import Client

from callsheet.broker import daemon
from callsheet.broker.errors import BrokerError, BrokerNotRunningError

__all__ = ["ENV_CA", "ENV_URL", "connect", "resolve_url"]

ENV_URL = "CALLSHEET_NATS_URL"
"""Environment variable with the server URL (a comma-separated list for a cluster)."""
ENV_CA = "CALLSHEET_NATS_CA"
"""Environment variable naming a CA certificate (PEM) that a TLS server's certificate is
checked against, instead of the system's."""

_log = logging.getLogger(__name__)
_PORTS = {"ws": 80, "wss": 443}
"""Default ports of URL schemes other than nats:// and tls:// (4222)."""


def resolve_url(project_dir: Path | None = None, *, autostart: bool = True) -> tuple[str, bool]:
    """Return ``(url, started)``: the server to use, and whether it was just started.

    ``CALLSHEET_NATS_URL`` wins; otherwise the project's embedded broker, started if it
    is not running and ``autostart`` is true.

    Args:
        project_dir: Project folder; by default ``$CALLSHEET_HOME`` or the one found
            from the current directory up (see ``daemon.default_project_dir``).
        autostart: Start the embedded broker if it is not running.

    Raises:
        BrokerNotRunningError: No URL is set, nothing runs and ``autostart`` is false.
        BrokerError: The embedded broker could not be started.
    """
    url = os.environ.get(ENV_URL, "").strip()
    if url:
        return url, False
    running = daemon.status(project_dir)
    if running is not None:
        return running.url, False
    if not autostart:
        raise BrokerNotRunningError(
            f"no NATS server is running for {daemon.state_dir(project_dir).parent}: start "
            f"the embedded one with `callsheet up`, or set {ENV_URL}"
        )
    return daemon.up(project_dir).url, True


async def _log_error(exc: Exception) -> None:
    # Losing the server (a restart) is expected and followed by reconnects; nats-py's
    # default callback would print every attempt.
    _log.debug("nats: %s", exc or type(exc).__name__)


async def _refuses(server: str) -> bool:
    """Whether every address of ``server`` actively refuses a TCP connection (nothing listens).

    Anything else (it accepts, a timeout, a name that does not resolve) is False: then the
    client's own connect decides, within its timeout.
    """
    parts = urlsplit(server if "://" in server else f"nats://{server}")
    try:
        host, port = parts.hostname or "localhost", parts.port or _PORTS.get(parts.scheme, 4222)
    except ValueError:  # a port that is not a number: the client reports it
        return False
    loop = asyncio.get_running_loop()
    try:
        addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, address), 2.0)
            except ConnectionRefusedError:
                continue
            except (OSError, TimeoutError):
                return False
            return False
    return bool(addresses)


def _split_credentials(servers: list[str]) -> tuple[list[str], dict[str, str]]:
    """Take percent-encoded credentials out of the URLs (nats-py would not decode them)."""
    options: dict[str, str] = {}
    plain = []
    for server in servers:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        if parts.username is None:
            plain.append(server)
            continue
        if parts.password is not None:
            options["user"], options["password"] = unquote(parts.username), unquote(parts.password)
        else:
            options["token"] = unquote(parts.username)
        plain.append(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}")
    return plain, options


def _tls_context() -> ssl.SSLContext | None:
    """A client TLS context trusting ``$CALLSHEET_NATS_CA``, if it is set.

    Raises:
        BrokerError: The file cannot be read as a CA certificate.
    """
    ca = os.environ.get(ENV_CA, "").strip()
    if not ca:
        return None
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerError(f"cannot use {ENV_CA}={ca} as a CA certificate: {exc}") from exc


async def connect(
    url: str, *, name: str = "callsheet", initial_timeout: float = 10.0, **kwargs: Any
) -> Client:
    """Connect, then reconnect forever (with a pause between tries) if the server is lost.

    Args:
        url: One URL, or a comma-separated list for a cluster.
        name: Client name, shown by the server's monitoring.
        initial_timeout: Seconds to keep trying the first connection.
        **kwargs: Further ``nats.aio.client.Client.connect`` options; they win over the
            defaults.

    Returns:
        The connected client; the caller closes or drains it.

    Raises:
        BrokerError: Every server refused the connection (at once), or none could be
            reached within ``initial_timeout``.
    """
    options: dict[str, Any] = {
        "name": name,
        "connect_timeout": 5,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "error_cb": _log_error,
    }
    servers, credentials = _split_credentials(
        [part.strip() for part in url.split(",") if part.strip()]
    )
    options.update(credentials)
    tls = _tls_context()
    if tls is not None:
        options["tls"] = tls
    options.update(kwargs)
    # A refused connection is not worth the wait: nothing listens there (nats-py would
    # retry it until the timeout). A server that accepts but is slow still gets the wait.
    if servers and all(await asyncio.gather(*(_refuses(server) for server in servers))):
        raise BrokerError(f"cannot reach NATS at {daemon.redact(url)}: connection refused")
    client = Client()
    try:
        # With unbounded reconnects nats-py would retry the first connection forever.
        await asyncio.wait_for(client.connect(servers=servers, **options), initial_timeout)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        with contextlib.suppress(Exception):
            await client.close()
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            detail = f"no answer within {initial_timeout}s"
        raise BrokerError(f"cannot reach NATS at {daemon.redact(url)}: {detail}") from exc
    return client
