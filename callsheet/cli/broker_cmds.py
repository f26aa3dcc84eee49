"""``callsheet up``, ``down``, ``status``: the embedded nats-server of a project."""

from __future__ import annotations

from pathlib import Path

import click

from callsheet.broker import daemon
from callsheet.broker.config import ENV_SYNC, SYNC_MODES, ServerSettings, is_loopback, sync_mode
from callsheet.broker.connect import ENV_CA, ENV_URL
from callsheet.broker.errors import BrokerError, InsecureListenError, PortInUseError
from callsheet.cli.common import EXIT_INVALID, fail

__all__ = ["down", "status", "up"]

_PEM = click.Path(exists=True, dir_okay=False, path_type=Path)


def _settings(
    sync: str | None,
    user: str | None,
    password: str | None,
    token: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> ServerSettings:
    """The server settings the options ask for; a contradiction exits 2."""
    try:
        mode = sync_mode(sync)
    except ValueError as exc:
        fail(f"{ENV_SYNC}: {exc}", EXIT_INVALID)
    if token and (user or password):
        fail("give either --token or --user/--password, not both", EXIT_INVALID)
    if bool(user) != bool(password):
        fail("--user and --password go together", EXIT_INVALID)
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together", EXIT_INVALID)
    return ServerSettings(
        sync=mode, user=user, password=password, token=token, tls_cert=tls_cert, tls_key=tls_key
    )


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Client port.")
@click.option(
    "--listen",
    default="127.0.0.1",
    show_default=True,
    help="Address clients connect to; anything but loopback needs --user/--password or --token.",
)
@click.option(
    "--sync",
    type=click.Choice(SYNC_MODES),
    default=None,
    help=f"always (default, or ${ENV_SYNC}): fsync before every ack; lazy: the server's "
    "periodic flush, faster, but an OS crash may lose acknowledged events.",
)
@click.option("--user", envvar="CALLSHEET_BROKER_USER", help="Client user name.")
@click.option(
    "--password", envvar="CALLSHEET_BROKER_PASSWORD", help="Its password (better: the env var)."
)
@click.option("--token", envvar="CALLSHEET_BROKER_TOKEN", help="A client token instead.")
@click.option("--tls-cert", type=_PEM, default=None, help="Server certificate (PEM): TLS on.")
@click.option("--tls-key", type=_PEM, default=None, help="The certificate's private key (PEM).")
def up(
    port: int | None,
    listen: str,
    sync: str | None,
    user: str | None,
    password: str | None,
    token: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Start the project's embedded nats-server (JetStream, data in .callsheet/)."""
    settings = _settings(sync, user, password, token, tls_cert, tls_key)
    try:
        state = daemon.up(port=port, listen=listen, settings=settings)
    except (PortInUseError, InsecureListenError) as exc:
        fail(str(exc), EXIT_INVALID)
    except BrokerError as exc:
        fail(str(exc))
    where = daemon.redact(state.url)
    click.echo(
        f"nats-server running at {where} (pid {state.pid}, sync {state.sync}, "
        f"data in {state.store_dir})"
    )
    if not is_loopback(listen) and not settings.tls:
        click.echo(
            "callsheet: warning: no TLS: credentials and events cross the network in clear "
            "(give --tls-cert and --tls-key)",
            err=True,
        )
    click.echo(f"use it from other tools with: export {ENV_URL}={where}")
    if settings.tls:
        click.echo(f"and {ENV_CA}=<the CA file that signed {tls_cert}>")


@click.command()
def down() -> None:
    """Stop the project's embedded nats-server; the data stays."""
    try:
        stopped = daemon.down()
    except BrokerError as exc:
        fail(str(exc))
    click.echo("nats-server stopped" if stopped else "no embedded nats-server was running")


@click.command()
def status() -> None:
    """Tell whether the project's embedded nats-server runs, and where."""
    state = daemon.status()
    if state is None:
        click.echo("no embedded nats-server is running (start one with: callsheet up)")
        raise SystemExit(1)
    click.echo(
        f"nats-server running at {daemon.redact(state.url)} (pid {state.pid}, sync "
        f"{state.sync}, data in {state.store_dir})"
    )
