"""``callsheet context search`` and ``show``: the shared context store of a goal, searched.

Both fold the goal's ``context.updated`` events (``projections.context``) as the
log holds them now; ``search`` indexes the entries in memory with SQLite FTS5
(``projections.context_index``) for each run, so it is never stale.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

import click
import msgspec

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.events.catalog import ContextUpdatedData
from callsheet.events.store import EventStore
from callsheet.projections import context as context_store
from callsheet.projections.context import ContextEntry, ContextRevision, ContextStore
from callsheet.projections.context_index import (
    ContextIndex,
    QueryError,
    SearchHit,
    SearchUnavailable,
    check_query,
)
from callsheet.replay import to_jsonable

__all__ = ["context"]

_KIND = next(f for f in msgspec.structs.fields(ContextUpdatedData) if f.name == "kind")
KINDS: tuple[str, ...] = typing.get_args(typing.get_args(_KIND.type)[0])
"""The kinds of context entry the catalog knows."""
_PREVIEW = 160


@click.group()
def context() -> None:
    """The shared context store of a goal: conventions, contracts, decisions, notes..."""


async def _store_of(store: EventStore, goal_id: str) -> ContextStore:
    """The goal's context store, folded from its ``context.updated`` events.

    Exits 2 when the goal has no events at all.
    """
    state = context_store.initial()
    async for stored in store.read(goal_id=goal_id, types=["context.updated"]):
        state = context_store.fold(state, stored.event)
    if not state.entries and await store.last(goal_id) is None:
        fail(f"goal {goal_id!r} has no events", EXIT_INVALID)
    return state


def _compact(value: Any, limit: int = _PREVIEW) -> str:
    text = msgspec.json.encode(to_jsonable(value)).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _revision_json(revision: ContextRevision) -> dict[str, Any]:
    return {
        "event_id": revision.event_id,
        "kind": revision.kind,
        "author": revision.author,
        "updated_at": revision.updated_at,
        "rationale": revision.rationale,
        "value": revision.value,
    }


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    entry = hit.entry
    return {
        "key": entry.key,
        "score": round(hit.score, 6),
        "snippet": hit.marked(),
        "matched_in": hit.column or None,
        **_revision_json(entry.current),
        "revisions": len(entry.history) + 1,
        "stale": entry.stale,
    }


def _short(text: str, limit: int = _PREVIEW) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _hit_lines(hit: SearchHit) -> list[str]:
    """Key, kind, author and event; the value; why (for decisions); the matched words."""
    entry, current = hit.entry, hit.entry.current
    earlier = f" ({len(entry.history)} earlier value(s))" if entry.history else ""
    lines = [
        f"{entry.key}  [{entry.kind}]  by {current.author}, event {current.event_id}{earlier}",
        f"    value: {_compact(entry.value)}",
    ]
    if current.rationale and hit.column != "rationale":
        lines.append(f"    why:   {_short(current.rationale)}")
    if hit.snippet:
        where = "why" if hit.column == "rationale" else "match"
        lines.append(f"    {where + ':':<6} {_short(hit.marked(), 2 * _PREVIEW)}")
    return lines


@context.command()
@click.argument("text")
@click.option("--goal", "goal_id", required=True, help="The goal whose context to search.")
@click.option("--kind", default=None, help=f"Only entries of this kind ({', '.join(KINDS)}).")
@click.option("--key", "key_prefix", default=None, help="Only keys that start with this.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Most hits."
)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as one JSON object.")
def search(
    text: str, goal_id: str, kind: str | None, key_prefix: str | None, limit: int, as_json: bool
) -> None:
    """Search a goal's context entries by full text (SQLite FTS5), best first.

    TEXT is an FTS5 query: words (all must match), "a phrase", prefix*, OR, NOT,
    NEAR(a b), and column filters (key:, kind:, body:, rationale:, author:).
    Words with dots or dashes go in double quotes: '"convention.line_length"'.
    Matched words show between « and ».
    """
    if kind is not None and kind not in KINDS:
        fail(f"--kind {kind!r} is not a kind of context entry ({', '.join(KINDS)})", EXIT_INVALID)
    try:
        query = check_query(text)
    except QueryError as exc:
        fail(str(exc), EXIT_INVALID)
    except SearchUnavailable as exc:
        fail(str(exc))

    async def main() -> None:
        async with open_store() as store:
            state = await _store_of(store, goal_id)
        with ContextIndex.of(state) as index:
            hits = index.search(
                query, goal_id=goal_id, kind=kind, key_prefix=key_prefix, limit=None
            )
            kinds = index.kinds(goal_id)
        shown = hits[:limit]
        if as_json:
            document = {
                "goal": goal_id,
                "query": query,
                "total": len(hits),
                "hits": [_hit_json(h) for h in shown],
            }
            click.echo(msgspec.json.encode(to_jsonable(document)))
            return
        entries = sum(n for _, n in kinds)
        where = ", ".join(f"{n} {k}" for k, n in kinds) or "none"
        if not hits:
            click.echo(f"no entry matches {query!r} ({entries} entries in goal {goal_id}: {where})")
            return
        more = f", the first {len(shown)} shown (--limit)" if len(shown) < len(hits) else ""
        click.echo(f"{len(hits)} of {entries} entries of goal {goal_id} match {query!r}{more}")
        for hit in shown:
            for line in _hit_lines(hit):
                click.echo(line)

    run(main)


def _no_key(state: ContextStore, goal_id: str, key: str) -> str:
    keys = [k for g, k in state.entries if g == goal_id]
    if not keys:
        return f"goal {goal_id!r} has no context entries"
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f" ({len(keys)} keys)"
    return f"goal {goal_id!r} has no context entry {key!r}{hint}"


def _revision_lines(revision: ContextRevision, label: str) -> list[str]:
    when = revision.updated_at.isoformat()
    lines = [
        f"{label}: [{revision.kind}] by {revision.author} at {when}, event {revision.event_id}"
    ]
    if revision.rationale:
        lines.append(f"    why: {revision.rationale}")
    pretty = msgspec.json.format(msgspec.json.encode(to_jsonable(revision.value)), indent=2)
    lines += [f"    {line}" for line in pretty.decode().splitlines()]
    return lines


def _entry_json(entry: ContextEntry) -> dict[str, Any]:
    return {
        "goal": entry.goal_id,
        "key": entry.key,
        "stale": entry.stale,
        "current": _revision_json(entry.current),
        "history": [_revision_json(r) for r in entry.history],
    }


@context.command()
@click.argument("key")
@click.option("--goal", "goal_id", required=True, help="The goal whose context entry to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
def show(key: str, goal_id: str, as_json: bool) -> None:
    """Show a context entry of a goal: its value now, and every value it had before."""

    async def main() -> None:
        async with open_store() as store:
            state = await _store_of(store, goal_id)
        entry = context_store.current(state, goal_id, key)
        if entry is None:
            fail(_no_key(state, goal_id, key), EXIT_INVALID)
        if as_json:
            click.echo(msgspec.json.encode(to_jsonable(_entry_json(entry))))
            return
        revisions = len(entry.history) + 1
        click.echo(f"{entry.key} in goal {goal_id}: {revisions} value(s)")
        if entry.stale:
            click.echo(
                "  stale: the last update replaced another value than the current one "
                "(two writers raced)"
            )
        # Newest first; v1 is the first value the key had.
        for line in _revision_lines(entry.current, f"  v{revisions} (current)"):
            click.echo(line)
        for number, revision in reversed(list(enumerate(entry.history, start=1))):
            for line in _revision_lines(revision, f"  v{number}"):
                click.echo(line)

    run(main)
