"""``callsheet serve``: the web dashboard (starlette on uvicorn) and the HTTP ingress (``/v1``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket

import click

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.cli.ingress_cmds import load_policy

__all__ = ["serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or a one-line error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"cannot resolve --host {host!r}: {exc.strerror}", EXIT_INVALID)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is taken (another server?); pick another with --port")
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.listen(128)
    sock.setblocking(False)
    return sock


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--token",
    envvar="CALLSHEET_TOKEN",
    default=None,
    help="Secret every request must carry (needed to listen beyond this machine); "
    "open the page once as /?token=T. Default: CALLSHEET_TOKEN.",
)
@click.option(
    "--rate",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Requests each producer may make to /v1 per --rate-window (429 beyond).",
)
@click.option(
    "--rate-window",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Seconds over which --rate is counted.",
)
@click.option(
    "--head-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds a client has to send a request's headers (and a /v1 body) before it is cut off.",
)
def serve(
    host: str, port: int, token: str | None, rate: int, rate_window: float, head_timeout: float
) -> None:
    """Serve the dashboard and the HTTP ingress (/v1: publish and read events over HTTP).

    The dashboard shows goals, live boards, causal trees, the event log and costs.
    /v1 takes the bearer tokens of `callsheet token create PRODUCER`; its OpenAPI
    document is /v1/openapi.json.
    """
    if not is_loopback(host) and not token:
        fail(f"--host {host} is reachable from other machines: give a --token", EXIT_INVALID)
    if token is not None and len(token) < 16:
        fail("--token must have at least 16 characters", EXIT_INVALID)
    policy = load_policy()
    sock = bind(host, port)

    async def main() -> None:
        from callsheet.ingress.tokens import Tokens
        from callsheet.web.app import create_app
        from callsheet.web.hub import Hub
        from callsheet.web.ingress import HttpIngress, IngressLimits
        from callsheet.web.server import ServerLimits, make_server

        async with open_store() as store:
            hub = Hub(store)
            tokens = Tokens(store.nc, store.config.stream, replicas=store.config.replicas)
            limits = IngressLimits(rate=rate, window=rate_window, body_seconds=head_timeout)
            ingress = HttpIngress(store, tokens, limits=limits, policy=policy)
            app = create_app(hub, token=token, ingress=ingress.app())
            server = make_server(app, ServerLimits(head_seconds=head_timeout))
            following = asyncio.ensure_future(hub.run())
            bound = sock.getsockname()
            shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
            base = f"http://{shown}:{bound[1]}"
            click.echo(
                f"callsheet: HTTP ingress at {base}/v1/ (its OpenAPI: {base}/v1/openapi.json)",
                err=True,
            )
            click.echo(f"callsheet: dashboard at {base}/ ready", err=True)
            serving = asyncio.ensure_future(server.serve(sockets=[sock]))
            try:
                await asyncio.wait({following, serving}, return_when=asyncio.FIRST_COMPLETED)
                if following.done():  # the log went away: stop serving stale pages
                    server.should_exit = True
                    await serving
                    following.result()
            finally:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following

    run(main)
