"""What every CLI command shares: connecting, opening the store, reporting errors."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import NoReturn, ParamSpec, TypeVar

import click
import nats.errors
from nats.aio.client import Client

from callsheet.agents.retry import is_transient
from callsheet.broker import daemon
from callsheet.broker.connect import ENV_URL, connect, resolve_url
from callsheet.broker.errors import BrokerError
from callsheet.events.errors import EventError, StoreError, StoreUnavailable
from callsheet.events.store import EventStore
from callsheet.events.stream import DEFAULT_STREAM, StoreConfig, replicas_from_env
from callsheet.events.subjects import DEFAULT_ROOT
from callsheet.events.times import TimeFormatError, parse_time

__all__ = [
    "EXIT_INVALID",
    "EXIT_RUNTIME",
    "fail",
    "open_store",
    "run",
    "store_config",
    "time_value",
]

EXIT_INVALID = 2
"""Exit code for input the user must fix (also click's usage errors)."""
EXIT_RUNTIME = 1
"""Exit code for failures of the system (server unreachable, refused append...)."""
OPEN_DEADLINE = 30.0
"""Seconds a command waits for the log's stream to answer (a cluster electing a leader)."""

P = ParamSpec("P")
T = TypeVar("T")


def fail(message: str, code: int = EXIT_RUNTIME) -> NoReturn:
    """Print a one-line error to stderr and exit."""
    click.echo(f"callsheet: error: {message}", err=True)
    sys.exit(code)


def time_value(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Option callback of every option that takes a time (``parse_time``): aware, or None."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except TimeFormatError as exc:
        fail(f"{param.opts[0]} {exc}", EXIT_INVALID)


def store_config() -> StoreConfig:
    """Store configuration, from ``CALLSHEET_STREAM``, ``_SUBJECT_ROOT``, ``_REPLICAS``.

    The replica count is that of the log and of every stream and bucket made beside it
    (3 on a 3-node cluster).

    Raises:
        StreamConfigError: ``CALLSHEET_REPLICAS`` is not a replica count.
    """
    return StoreConfig(
        stream=os.environ.get("CALLSHEET_STREAM", DEFAULT_STREAM),
        root=os.environ.get("CALLSHEET_SUBJECT_ROOT", DEFAULT_ROOT),
        replicas=replicas_from_env(),
    )


@asynccontextmanager
async def open_store() -> AsyncIterator[EventStore]:
    """Connect (starting the embedded broker if needed) and open the log.

    A new embedded server is always announced on stderr, with its folder: a command run
    outside the project would otherwise silently get a server (and a log) of its own.
    """
    folder = daemon.state_dir()
    new_project = not folder.is_dir()
    url, started = resolve_url()
    if started:
        why = ""
        if new_project:
            why = f" (a new project: no {daemon.STATE_DIR}/ here or above, no {ENV_URL})"
        click.echo(
            f"callsheet: started the embedded nats-server at {url}, data in {folder}{why}; "
            "stop it with `callsheet down`",
            err=True,
        )
    nc = await connect(url, name="callsheet-cli")
    try:
        yield await _open_within(nc, store_config(), OPEN_DEADLINE)
    finally:
        # Every append was acknowledged by now. Draining would also wait, up to 30 s, for
        # the messages of any subscription that nobody reads any more (a read cut short).
        await nc.close()


async def _open_within(nc: Client, config: StoreConfig, deadline: float) -> EventStore:
    """``EventStore.open``, tried again while the stream has no leader, up to ``deadline`` s.

    Raises:
        StoreUnavailable: The stream did not answer in time.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    attempt = 0
    while True:
        try:
            return await EventStore.open(nc, config)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if loop.time() >= end:
                raise StoreUnavailable(
                    f"the log's stream {config.stream} did not answer within {deadline:g} s: "
                    f"{exc or type(exc).__name__}"
                ) from exc
        await asyncio.sleep(min(0.1 * 2.0**attempt, 2.0))
        attempt += 1


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body, turning known errors into one-line messages."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a tool killed by SIGPIPE does;
        # stdout goes to /dev/null so that the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
    except EventError as exc:
        fail(str(exc), EXIT_INVALID)
    except (BrokerError, StoreError) as exc:
        fail(str(exc))
    except nats.errors.Error as exc:
        # A raw client error (an outage the command did not wait out): one line, no traceback.
        fail(f"NATS: {exc or type(exc).__name__}")
