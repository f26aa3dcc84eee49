"""``callsheet replay``, ``why``, ``export`` and ``import``: look back at the log, move it."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run, store_config
from callsheet.cli.corrupt import warn_corrupt
from callsheet.cli.events_cmd import format_line
from callsheet.events.ids import is_event_id
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.times import TIME_HELP
from callsheet.projections import PROJECTIONS, Projection
from callsheet.projections._common import GoalMap
from callsheet.projections.board import Board
from callsheet.projections.findings import Findings
from callsheet.replay import (
    ABSENT,
    ArchiveError,
    Change,
    UnknownEventError,
    Until,
    UntilError,
    causal_chain,
    cut,
    diff_states,
    dump_archive,
    load_archive,
    parse_until,
    state_to_json,
    to_jsonable,
)
from callsheet.review.report import summary_lines

__all__ = ["export", "import_", "replay", "why"]

_IMPORT_CHUNK = 256


def _scoped(state: Any, goal_id: str) -> Any:
    """The goal's own state when the projection keeps one per goal."""
    if isinstance(state, GoalMap):
        return state.goals.get(goal_id)
    return state


def _before(old: Any, new: Any) -> Any:
    """The state to diff the first event of a goal against: the goal's empty state."""
    if old is None and dataclasses.is_dataclass(new) and not isinstance(new, type):
        try:
            return type(new)()
        except TypeError:
            return old
    return old


def _value(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = msgspec.json.encode(to_jsonable(value)).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def _change_line(change: Change) -> str:
    path = change.path or "(state)"
    return f"    {path}: {_value(change.old)} -> {_value(change.new)}"


def _board_summary(board: Board) -> list[str]:
    lines = [f"goal {board.goal_id} ({board.title}): {board.events} events"]
    lines.append(f"outcome: {board.outcome or 'running'}; plan version {board.plan_version}")
    for card in board.tasks.values():
        worker = card.worker or "-"
        lines.append(f"  {card.task_id:<16} {card.status:<10} {card.percent:>5.1f}%  {worker}")
    return lines


def _summary(state: Any) -> list[str]:
    if isinstance(state, Board):
        return _board_summary(state)
    if isinstance(state, Findings):
        return summary_lines(state)
    if state is None:
        return ["(no state: the goal has no events up to this point)"]
    return [msgspec.json.format(state_to_json(state).decode(), indent=2)]


async def _goal_events(store: EventStore, goal_id: str) -> list[StoredEvent]:
    return [stored async for stored in store.read(goal_id=goal_id, on_corrupt=warn_corrupt)]


def _parse_until(text: str | None) -> Until | None:
    if text is None:
        return None
    try:
        return parse_until(text)
    except UntilError as exc:
        fail(str(exc), EXIT_INVALID)


def _walk(
    projection: Projection[Any], events: list[StoredEvent], goal_id: str, *, step: bool
) -> Any:
    """Fold event by event, printing each event and what it changed; Enter/q when stepping."""
    state = projection.initial()
    for stored in events:
        after = projection.fold(state, stored.event)
        click.echo(format_line(stored))
        new = _scoped(after, goal_id)
        changes = diff_states(_before(_scoped(state, goal_id), new), new)
        for change in changes:
            click.echo(_change_line(change))
        if not changes:
            click.echo("    (no change)")
        state = after
        if step:
            click.echo("-- Enter: next event, q: quit --", nl=False)
            answer = sys.stdin.readline()
            click.echo("")
            if not answer or answer.strip().lower() == "q":
                break
    return state


@click.command()
@click.argument("projection_name", metavar="PROJECTION")
@click.option("--goal", "goal_id", required=True, help="The goal to replay.")
@click.option(
    "--until",
    "until_text",
    default=None,
    help=f"Stop after this sequence, event id, or {TIME_HELP} (inclusive).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@click.option("--diff", is_flag=True, help="Print each event and the state fields it changed.")
@click.option("--step", is_flag=True, help="Like --diff, one event at a time: Enter, or q to quit.")
def replay(
    projection_name: str,
    goal_id: str,
    until_text: str | None,
    as_json: bool,
    diff: bool,
    step: bool,
) -> None:
    """Rebuild a projection of a goal as of a point of the log, and print it."""
    projection = PROJECTIONS.get(projection_name)
    if projection is None:
        known = ", ".join(sorted(PROJECTIONS))
        fail(f"unknown projection {projection_name!r} (known: {known})", EXIT_INVALID)
    if as_json and (diff or step):
        fail("--json cannot be combined with --diff or --step", EXIT_INVALID)
    until = _parse_until(until_text)

    async def main() -> None:
        async with open_store() as store:
            events = await _goal_events(store, goal_id)
        if not events:
            fail(f"goal {goal_id!r} has no events", EXIT_INVALID)
        try:
            selected = cut(events, until)
        except UnknownEventError as exc:
            fail(f"{exc} of goal {goal_id!r}", EXIT_INVALID)
        if diff or step:
            _walk(projection, selected, goal_id, step=step)
            return
        state = projection.initial()
        for stored in selected:
            state = projection.fold(state, stored.event)
        scoped = _scoped(state, goal_id)
        if as_json:
            click.echo(state_to_json(scoped))
            return
        for line in _summary(scoped):
            click.echo(line)

    run(main)


def _chain_record(stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    return {
        "seq": stored.seq,
        "stored_at": stored.stored_at,
        "id": event.id,
        "type": event.event_type,
        "producer": event.producer,
        "goal_id": event.goal_id,
        "task_id": event.task_id,
        "causation_id": event.causation_id,
    }


@click.command()
@click.argument("event_id")
@click.option("--goal", "goal_id", default=None, help="Look only in this goal (faster).")
@click.option("--json", "as_json", is_flag=True, help="Print the chain as a JSON array.")
def why(event_id: str, goal_id: str | None, as_json: bool) -> None:
    """Print the causal chain that led to an event: root first, one event a line."""
    if not is_event_id(event_id):
        fail(f"{event_id!r} is not an event id (a ULID)", EXIT_INVALID)

    async def main() -> None:
        async with open_store() as store:
            reading = store.read(goal_id=goal_id, on_corrupt=warn_corrupt)
            events = [stored async for stored in reading]
        try:
            chain, missing = causal_chain(events, event_id)
        except UnknownEventError as exc:
            fail(str(exc), EXIT_INVALID)
        if as_json:
            records = [_chain_record(stored) for stored in chain]
            click.echo(msgspec.json.encode({"chain": records, "missing_cause": missing}))
            return
        if missing is not None:
            click.echo(f"  (caused by {missing}, not in the log)")
        for depth, stored in enumerate(chain):
            event = stored.event
            entity = event.goal_id if event.task_id is None else f"{event.goal_id}/{event.task_id}"
            arrow = "   " if depth == 0 else "-> "
            click.echo(
                f"{stored.seq:>6} {arrow}{event.event_type:<20} {event.producer:<14} {entity}"
                f"  {event.id}"
            )

    run(main)


@click.command()
@click.option("--goal", "goal_id", required=True, help="The goal to export.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write (JSON Lines).",
)
def export(goal_id: str, output: Path) -> None:
    """Write a goal's events to a file, with a header and a digest, for `callsheet import`."""

    async def main() -> None:
        async with open_store() as store:
            events = await _goal_events(store, goal_id)
        if not events:
            fail(f"goal {goal_id!r} has no events", EXIT_INVALID)
        content = dump_archive(
            [s.event for s in events], stream=store_config().stream, goal=goal_id
        )
        partial = output.with_name(output.name + ".partial")
        try:
            partial.write_bytes(content)
            partial.replace(output)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror}", EXIT_INVALID)
        click.echo(f"exported {len(events)} events of goal {goal_id} to {output}")

    run(main)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Append the events of an export file to the log; events already there are skipped."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", EXIT_INVALID)
    try:
        header, events = load_archive(content)
    except ArchiveError as exc:
        fail(f"{file}: {exc}; nothing imported", EXIT_INVALID)

    async def main() -> None:
        async with open_store() as store:
            reading = store.read(goal_id=header.goal, on_corrupt=warn_corrupt)
            present = {s.event.id async for s in reading}
            new = [event for event in events if event.id not in present]
            for start in range(0, len(new), _IMPORT_CHUNK):
                await store.append_many(new[start : start + _IMPORT_CHUNK])
        click.echo(
            f"imported goal {header.goal} from {file}: {len(new)} new, "
            f"{len(events) - len(new)} already present"
        )

    run(main)
