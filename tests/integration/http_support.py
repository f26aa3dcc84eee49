"""The HTTP ingress served by a real uvicorn on a free port, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from callsheet.events.codec import encode
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.ingress.policy import Policy, ProducerRules
from callsheet.ingress.tokens import Tokens
from callsheet.web.app import create_app
from callsheet.web.hub import Hub
from callsheet.web.ingress import HttpIngress, IngressLimits, ProducerPolicy
from callsheet.web.server import ServerLimits, make_server
from tests.support import assert_eventually


@dataclass
class Served:
    """A running server: its base URL, the tokens of its log, and an HTTP client."""

    url: str
    port: int
    tokens: Tokens
    client: httpx.AsyncClient

    async def token(self, producer: str) -> dict[str, str]:
        """Headers carrying a new token of ``producer``."""
        return {"Authorization": f"Bearer {await self.tokens.create(producer)}"}

    async def post(
        self, path: str, body: bytes | Event | dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        if isinstance(body, Event):
            content = encode(body)
        elif isinstance(body, dict):
            content = msgspec.json.encode(body)
        else:
            content = body
        return await self.client.post(
            self.url + path,
            content=content,
            headers={"Content-Type": "application/json", **headers},
        )


TRUSTING = Policy(default=ProducerRules(types=("*",), own_context_only=False))
"""Lets any producer publish any type: these tests are about HTTP, not the policy."""


@contextlib.asynccontextmanager
async def serving(
    store: EventStore,
    *,
    limits: IngressLimits | None = None,
    server_limits: ServerLimits | None = None,
    policy: ProducerPolicy | None = None,
    dashboard_token: str | None = None,
    trusting: bool = True,
) -> AsyncIterator[Served]:
    """Serve the dashboard app with the ingress at /v1 over ``store`` until the block ends."""
    tokens = Tokens(store.nc, store.config.stream)
    ingress = HttpIngress(
        store, tokens, limits=limits, policy=policy or (TRUSTING if trusting else None)
    )
    app = create_app(Hub(store), token=dashboard_token, ingress=ingress.app())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    server = make_server(app, server_limits)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await assert_eventually(
            lambda: server.started or task.done(), message="uvicorn did not start"
        )
        if task.done():
            task.result()  # it failed to start: say why
        async with httpx.AsyncClient(timeout=10) as client:
            yield Served(f"http://127.0.0.1:{port}", port, tokens, client)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
        with contextlib.suppress(Exception):
            await store.nc.jetstream().delete_key_value(tokens.bucket)
