"""``callsheet events``: read or follow the log."""

from __future__ import annotations

import contextlib
from datetime import datetime

import click
import msgspec

from callsheet.cli.common import open_store, run, time_value
from callsheet.cli.corrupt import warn_corrupt
from callsheet.events.catalog import AggregateRecorded
from callsheet.events.codec import to_dict
from callsheet.events.store import StoredEvent
from callsheet.events.times import TIME_HELP

__all__ = ["events", "format_line"]

_encoder = msgspec.json.Encoder()


def format_line(stored: StoredEvent) -> str:
    """One human-readable line per event: position, time, type, entity, producer, gist."""
    event = stored.event
    entity = event.goal_id if event.task_id is None else f"{event.goal_id}/{event.task_id}"
    if isinstance(event, AggregateRecorded):
        data = _aggregate_gist(event)
    else:
        data = msgspec.json.encode(getattr(event, "data")).decode()  # noqa: B009 - all have data
    if len(data) > 120:
        data = data[:117] + "..."
    when = stored.stored_at.astimezone().strftime("%H:%M:%S.%f")[:-3]
    return f"{stored.seq:>6} {when} {event.event_type:<20} {entity:<28} {event.producer:<14} {data}"


def _aggregate_gist(event: AggregateRecorded) -> str:
    """Version, topic and state of a library event: the state as text when it is UTF-8."""
    data = event.data
    try:
        state = data.state.decode()
    except UnicodeDecodeError:
        state = f"<{len(data.state)} bytes>"  # compressed or encrypted by the application
    return f"v{data.originator_version} {data.topic} {state}"


@click.command()
@click.option("--goal", "goal_id", default=None, help="Only this goal's events.")
@click.option("--task", "task_id", default=None, help="Only this task's events.")
@click.option(
    "--type",
    "types",
    multiple=True,
    help="Only this type (task.assigned) or category (task.*); repeatable.",
)
@click.option("--from-seq", type=click.IntRange(min=1), default=None, help="First sequence.")
@click.option("--until-seq", type=click.IntRange(min=1), default=None, help="Last sequence.")
@click.option(
    "--since", callback=time_value, metavar="TIME", help=f"Stored at or after this {TIME_HELP}."
)
@click.option(
    "--until", callback=time_value, metavar="TIME", help=f"Stored at or before this {TIME_HELP}."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events(
    goal_id: str | None,
    task_id: str | None,
    types: tuple[str, ...],
    from_seq: int | None,
    until_seq: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Print the log's events, oldest first, with filters; --follow to keep going."""
    for name, value in (("--type", t) for t in types):
        category, dot, action = value.partition(".")
        if not dot or not category or not action:
            raise click.BadParameter(f"{value!r} must be 'category.action'", param_hint=name)
    if follow and (until_seq is not None or until is not None):
        raise click.UsageError("--follow cannot be combined with --until or --until-seq")

    def show(stored: StoredEvent) -> None:
        if as_json:
            record = {"seq": stored.seq, "subject": stored.subject, "event": to_dict(stored.event)}
            click.echo(_encoder.encode(record))
        else:
            click.echo(format_line(stored))

    async def main() -> None:
        count = 0
        async with open_store() as store:
            if follow:
                async with store.subscribe(
                    goal_id=goal_id,
                    task_id=task_id,
                    types=types,
                    from_seq=from_seq,
                    since=since,
                    on_corrupt=warn_corrupt,
                ) as sub:
                    async for stored in sub:
                        show(stored)
                        count += 1
                        if limit is not None and count >= limit:
                            return
            reading = store.read(
                goal_id=goal_id,
                task_id=task_id,
                types=types,
                from_seq=from_seq,
                until_seq=until_seq,
                since=since,
                until=until,
                on_corrupt=warn_corrupt,
            )
            async with contextlib.aclosing(reading):  # stopped early: its consumer goes now
                async for stored in reading:
                    show(stored)
                    count += 1
                    if limit is not None and count >= limit:
                        return

    run(main)
