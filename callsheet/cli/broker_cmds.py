"""``callsheet up``, ``down``, ``status``: the embedded nats-server of a project."""

from __future__ import annotations

import click

from callsheet.broker import daemon
from callsheet.broker.errors import BrokerError, PortInUseError
from callsheet.cli.common import EXIT_INVALID, fail

__all__ = ["down", "status", "up"]


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Client port.")
def up(port: int | None) -> None:
    """Start the project's embedded nats-server (JetStream, data in .callsheet/)."""
    try:
        state = daemon.up(port=port)
    except PortInUseError as exc:
        fail(str(exc), EXIT_INVALID)
    except BrokerError as exc:
        fail(str(exc))
    click.echo(f"nats-server running at {state.url} (pid {state.pid}, data in {state.store_dir})")
    click.echo(f"use it from other tools with: export CALLSHEET_NATS_URL={state.url}")


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
    click.echo(f"nats-server running at {state.url} (pid {state.pid}, data in {state.store_dir})")
