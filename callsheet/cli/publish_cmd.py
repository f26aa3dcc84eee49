"""``callsheet publish``: validate one event against the catalog and append it."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run, time_value
from callsheet.events.catalog import EVENT_TYPES
from callsheet.events.codec import decode
from callsheet.events.errors import EventDecodeError
from callsheet.events.ids import new_event_id
from callsheet.events.times import TIME_HELP

__all__ = ["publish"]

MAX_SEQ = 2**64 - 1
"""Largest stream sequence (JetStream's are unsigned 64-bit)."""


def _load_json(value: str, what: str) -> Any:
    """Parse JSON given inline, as ``@file`` or as ``-`` (stdin)."""
    if value == "-":
        raw = sys.stdin.buffer.read()
    elif value.startswith("@"):
        try:
            raw = Path(value[1:]).read_bytes()
        except OSError as exc:
            fail(f"{what}: cannot read {value[1:]}: {exc.strerror}", EXIT_INVALID)
    else:
        raw = _text(value, what).encode()
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        fail(f"{what} is not valid JSON: {exc}", EXIT_INVALID)
    except RecursionError:
        fail(f"{what} is nested too deeply", EXIT_INVALID)


def _text(value: str, what: str) -> str:
    """An argument as text; bytes that were not UTF-8 arrive as lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        fail(f"{what} is not valid UTF-8 (bad byte at position {exc.start})", EXIT_INVALID)
    return value


def _printable(text: str) -> str:
    """One line: a field name from --data may hold newlines or other control characters."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _optional_text(value: str | None, what: str) -> str | None:
    return None if value is None else _text(value, what)


@click.command()
@click.argument("event_type", metavar="TYPE")
@click.option("--data", "data", required=True, help="The event's data: JSON, @FILE or - for stdin.")
@click.option("--goal", "goal_id", required=True, help="Goal id (also the correlation id).")
@click.option("--task", "task_id", default=None, help="Task id, for task-level events.")
@click.option("--producer", default="cli", show_default=True, help="Who emits the event.")
@click.option("--causation", "causation_id", default=None, help="Id of the event this reacts to.")
@click.option("--correlation", "correlation_id", default=None, help="Defaults to the goal id.")
@click.option("--id", "event_id", default=None, help="Event id (ULID); fresh by default.")
@click.option(
    "--occurred-at",
    callback=time_value,
    metavar="TIME",
    default=None,
    help=f"When it happened, an {TIME_HELP}; now by default. With --id, makes a retry idempotent.",
)
@click.option(
    "--expect-seq",
    type=int,
    default=None,
    help="Expected last sequence of the entity (0: must be new); conflicts exit 1.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def publish(
    event_type: str,
    data: str,
    goal_id: str,
    task_id: str | None,
    producer: str,
    causation_id: str | None,
    correlation_id: str | None,
    event_id: str | None,
    occurred_at: datetime | None,
    expect_seq: int | None,
    as_json: bool,
) -> None:
    """Validate an event of TYPE against the catalog and append it to the log.

    Prints the event id and its stream sequence. Invalid input exits with code 2
    and a one-line error naming the field.
    """
    if event_type not in EVENT_TYPES:
        fail(f"unknown event type {event_type!r} (see `callsheet schema --types`)", EXIT_INVALID)
    if expect_seq is not None and not 0 <= expect_seq <= MAX_SEQ:
        fail(f"--expect-seq must be a sequence from 0 to {MAX_SEQ}, not {expect_seq}", EXIT_INVALID)
    goal_id = _text(goal_id, "--goal")
    envelope = {
        "type": event_type,
        # Entity keys first: msgspec reports the first bad field in input order, and a
        # bad goal id should be named as such, not as the correlation id derived from it.
        "goal_id": goal_id,
        "task_id": _optional_text(task_id, "--task"),
        # An empty --id is refused as an id, never silently replaced by a fresh one.
        "id": new_event_id() if event_id is None else _text(event_id, "--id"),
        "occurred_at": occurred_at if occurred_at is not None else datetime.now(UTC),
        "producer": _text(producer, "--producer"),
        "correlation_id": _text(correlation_id, "--correlation") if correlation_id else goal_id,
        "causation_id": _optional_text(causation_id, "--causation"),
        "data": _load_json(data, "--data"),
    }
    try:
        event = decode(msgspec.json.encode(envelope))
    except EventDecodeError as exc:
        fail(_printable(str(exc)), EXIT_INVALID)
    except RecursionError:
        fail("--data is nested too deeply", EXIT_INVALID)

    async def main() -> None:
        async with open_store() as store:
            appended = await store.append(event, expected_last_seq=expect_seq)
        if as_json:
            click.echo(
                msgspec.json.encode(
                    {"id": appended.event_id, "seq": appended.seq, "duplicate": appended.duplicate}
                )
            )
        else:
            note = " (already stored)" if appended.duplicate else ""
            click.echo(f"{appended.event_id} seq={appended.seq}{note}")

    run(main)
