"""``callsheet gatekeeper`` and ``callsheet dead-letters``."""

from __future__ import annotations

import asyncio
import os
import signal

import click
import msgspec
from nats.js.errors import NotFoundError

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.events.consume import ordered_messages
from callsheet.ingress.gatekeeper import Gatekeeper, dead_letter_stream
from callsheet.ingress.policy import Policy, PolicyError
from callsheet.ingress.records import DeadLetter

__all__ = ["dead_letters", "gatekeeper", "load_policy"]


def load_policy() -> Policy:
    """The producers' policy: the file named by CALLSHEET_POLICY, or the default."""
    try:
        return Policy.from_env(os.environ)
    except PolicyError as exc:
        fail(str(exc), EXIT_INVALID)


@click.command()
def gatekeeper() -> None:
    """Validate what services publish to the ingress; append or dead-letter it.

    Each producer publishes on cs.in.<producer>.> (or requests cs.api.publish.<producer>);
    what it may publish is the policy of CALLSHEET_POLICY (a TOML file), by default
    only goals, scope changes, aggregate events and its own context entries.
    """
    policy = load_policy()

    async def main() -> None:
        async with open_store() as store:
            keeper = Gatekeeper(store.nc, store, policy=policy)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, keeper.stop)
            ready = asyncio.Event()
            runner = asyncio.create_task(keeper.run(ready=ready))
            await ready.wait()
            click.echo(
                f"gatekeeper ready: publish envelopes to {keeper.ingress_subject}.<producer>.>, "
                f"or request {keeper.api_subject}.<producer> for an answer",
                err=True,
            )
            await runner
            stats = keeper.stats
            click.echo(
                f"gatekeeper stopped: {stats.accepted} accepted, {stats.duplicates} duplicates, "
                f"{stats.dead_lettered} dead-lettered",
                err=True,
            )

    run(main)


@click.command("dead-letters")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
def dead_letters(as_json: bool) -> None:
    """List what the gatekeeper refused, with the reason."""
    decoder = msgspec.json.Decoder(DeadLetter)

    async def main() -> None:
        async with open_store() as store:
            js = store.nc.jetstream()
            config = dead_letter_stream(store.config.root)
            assert config.name is not None
            try:
                await js.stream_info(config.name)
            except NotFoundError:
                click.echo("no dead letters (the gatekeeper has not run yet)")
                return
            async for msg in ordered_messages(js, config.name, config.subjects or []):
                if as_json:
                    click.echo(msg.data)
                    continue
                record = decoder.decode(msg.data)
                click.echo(
                    f"{msg.metadata.sequence.stream:>5} {record.received_at:%Y-%m-%d %H:%M:%S} "
                    f"{record.reason:<16} {record.error}"
                )

    run(main)
