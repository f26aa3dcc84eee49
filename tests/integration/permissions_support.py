"""A nats-server running the shipped infra/permissions.conf, and connections as its users."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from callsheet.broker.process import NatsServerProcess
from tools.permissions import password_variables

PERMISSIONS = Path(__file__).parents[2] / "infra" / "permissions.conf"


def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServerProcess]:
    """Run a server with the shipped permissions; every user's password is ``pw-{user}``."""
    with pytest.MonkeyPatch.context() as patch:
        for user, variable in password_variables().items():
            patch.setenv(variable, f"pw-{user}")
        home = tmp_path_factory.mktemp("secure")
        # The shipped permissions, on a server of the test's own (port, store).
        (home / "permissions.conf").write_text(PERMISSIONS.read_text())
        config = home / "server.conf"
        config.write_text("include ./permissions.conf\n")
        proc = NatsServerProcess(store_dir=home / "store", config_file=config)
        proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.asynccontextmanager
async def connect(server: NatsServerProcess, user: str) -> AsyncIterator[Client]:
    """A connection as ``user``."""
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        server.url, user=user, password=f"pw-{user}", error_cb=on_error, connect_timeout=5
    )
    try:
        yield nc
    finally:
        await nc.close()
