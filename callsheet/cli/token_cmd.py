"""``callsheet token``: the bearer tokens of the HTTP ingress, one or more per producer."""

from __future__ import annotations

import click

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.events.store import EventStore
from callsheet.ingress.tokens import TokenError, Tokens, check_producer

__all__ = ["token"]


def _tokens(store: EventStore) -> Tokens:
    return Tokens(store.nc, store.config.stream, replicas=store.config.replicas)


@click.group()
def token() -> None:
    """Bearer tokens for `callsheet serve`'s HTTP ingress (/v1), one or more per producer."""


@token.command("create")
@click.argument("producer")
def create(producer: str) -> None:
    """Make a token for PRODUCER and print it (last word); only its hash is kept."""
    try:
        check_producer(producer)
    except TokenError as exc:
        fail(str(exc), EXIT_INVALID)

    async def main() -> str:
        async with open_store() as store:
            return await _tokens(store).create(producer)

    made = run(main)
    click.echo(f"token for producer {producer} (shown once; keep it secret): {made}")


@token.command("list")
def list_() -> None:
    """List the tokens (producer, when made, first characters); never the tokens."""

    async def main() -> None:
        async with open_store() as store:
            records = await _tokens(store).records()
        if not records:
            click.echo("no tokens")
        for _, record in records:
            when = record.created_at.astimezone().isoformat(timespec="seconds")
            click.echo(f"{record.producer}\t{when}\t{record.hint}…")

    run(main)


@token.command("revoke")
@click.argument("producer")
def revoke(producer: str) -> None:
    """Revoke every token of PRODUCER (effective on the next request)."""

    async def main() -> int:
        async with open_store() as store:
            return await _tokens(store).revoke(producer)

    count = run(main)
    if count == 0:
        fail(f"producer {producer!r} has no token", EXIT_INVALID)
    click.echo(f"revoked {count} token{'s' if count != 1 else ''} of {producer}")
