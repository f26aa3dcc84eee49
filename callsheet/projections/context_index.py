"""A full-text index of the shared context store: SQLite FTS5, rebuilt from the log.

The index is a projection, never a second source of truth: it is built in
memory from a ``ContextStore`` (the fold of ``context.updated`` events, see
``projections.context``) each time it is needed, so it can never be stale.
It holds the current entry of each key; ``ContextEntry.history`` keeps the
values it replaced.

An entry is indexed in five columns, each searchable on its own with FTS5's
column filters (``key:contract``): ``key``, ``kind``, ``body`` (the value's
text: every object key and every string, number and boolean leaf, see
``value_text``), ``rationale`` and ``author``. Matches are ranked with bm25, a
match in the key weighing most; queries take FTS5's syntax: words (all must
match), ``"a phrase"``, ``prefix*``, ``OR``, ``NOT``, ``NEAR(a b)``. The
tokenizer is ``unicode61`` with Porter stemming, so ``line_length`` matches the
words ``line`` and ``length``, and ``conventions`` matches ``convention``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callsheet.projections.context import ContextEntry, ContextStore

__all__ = [
    "MAX_TEXT",
    "ContextIndex",
    "QueryError",
    "SearchHit",
    "SearchUnavailable",
    "check_query",
    "value_text",
]

MAX_TEXT = 1_000_000
"""Characters of a value's text that are indexed; the rest of a larger value is not."""

OPEN, CLOSE = "\x02", "\x03"
"""Marks around matched words in a snippet (``SearchHit.marked`` swaps them)."""

_COLUMNS = ("key", "kind", "body", "rationale", "author")
_WEIGHTS = (8.0, 2.0, 1.0, 1.0, 0.5)  # bm25 weight of each column, in order
_SNIPPET_TOKENS = 16
_SCHEMA = (
    "CREATE VIRTUAL TABLE entries USING {module}("
    + ", ".join(_COLUMNS)
    + ", goal_id UNINDEXED, position UNINDEXED,"
    " tokenize = 'porter unicode61 remove_diacritics 2')"
)


class SearchUnavailable(RuntimeError):
    """This Python's SQLite has no FTS5 (the index needs it)."""


class QueryError(ValueError):
    """A query FTS5 cannot parse, or an empty one."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One entry that matches a query.

    Attributes:
        entry: The entry, as the context store holds it (current value and history).
        score: bm25 relevance, higher is better (FTS5's rank, negated).
        snippet: Matched text of the value or rationale, matched words between
            ``OPEN`` and ``CLOSE``; empty when only the key, kind or author matched.
        column: Where the snippet comes from: ``body`` or ``rationale`` (empty with
            no snippet).
    """

    entry: ContextEntry
    score: float
    snippet: str
    column: str

    def marked(self, open_: str = "«", close: str = "»") -> str:
        """The snippet with the matched words between ``open_`` and ``close``."""
        return self.snippet.replace(OPEN, open_).replace(CLOSE, close)


def value_text(value: Any, limit: int = MAX_TEXT) -> str:
    """The text of a JSON value to index: object keys and leaves, in order; pure.

    ``{"line_length": 100, "source": "pyproject.toml"}`` gives
    ``line_length: 100; source: pyproject.toml``; a list's items are separated by
    ``, ``; nulls give nothing. At most ``limit`` characters.
    """
    parts: list[str] = []
    size = 0

    def add(text: str) -> bool:
        nonlocal size
        parts.append(text)
        size += len(text)
        return size < limit

    def walk(item: Any) -> bool:
        if isinstance(item, Mapping):
            for index, (key, child) in enumerate(item.items()):
                if (index and not add("; ")) or not add(f"{key}:"):
                    return False
                if child is not None and (not add(" ") or not walk(child)):
                    return False
            return True
        if isinstance(item, list | tuple):
            for index, child in enumerate(item):
                if (index and not add(", ")) or not walk(child):
                    return False
            return True
        if item is None:
            return True
        if isinstance(item, bool):
            return add("true" if item else "false")
        return add(str(item))

    walk(value)
    return "".join(parts)[:limit]


def _connect(module: str = "fts5") -> sqlite3.Connection:
    """An in-memory database holding the empty index table.

    Raises:
        SearchUnavailable: SQLite has no such module (built without FTS5).
    """
    db = sqlite3.connect(":memory:")
    try:
        db.execute(_SCHEMA.format(module=module))
    except sqlite3.OperationalError as exc:
        db.close()
        if "no such module" not in str(exc):
            raise
        raise SearchUnavailable(
            f"this Python's SQLite {sqlite3.sqlite_version} has no {module.upper()} "
            "full-text module, which context search needs (use a Python built with "
            "SQLite's FTS5, or list entries with `callsheet replay context --goal G`)"
        ) from exc
    return db


def _query_error(query: str, exc: sqlite3.Error) -> QueryError:
    hint = ""
    if any(c in query for c in ".-/:@"):
        hint = ' (put words with . - / : @ in double quotes: "convention.line_length")'
    return QueryError(f"cannot search for {query!r}: {exc}{hint}")


def check_query(query: str) -> str:
    """Return ``query`` stripped if FTS5 can parse it; pure (an empty in-memory index).

    Raises:
        QueryError: It is empty or blank, or FTS5 refuses it (the message says why).
        SearchUnavailable: SQLite has no FTS5.
    """
    text = query.strip()
    if not text:
        raise QueryError("the query is empty: give words to search for")
    db = _connect()
    try:
        db.execute("SELECT rowid FROM entries WHERE entries MATCH ?", (text,)).fetchall()
    except sqlite3.Error as exc:
        raise _query_error(text, exc) from None
    finally:
        db.close()
    return text


class ContextIndex:
    """The FTS5 index of a context store's current entries (all goals), in memory.

    Use as a context manager, or ``close()`` it.
    """

    def __init__(self, entries: Iterable[ContextEntry] = ()) -> None:
        """Index ``entries`` (e.g. ``ContextStore.entries.values()``).

        Raises:
            SearchUnavailable: SQLite has no FTS5.
        """
        self._db = _connect()
        self._entries: list[ContextEntry] = []
        self.add(entries)

    @classmethod
    def of(cls, store: ContextStore) -> ContextIndex:
        """The index of every entry of ``store``."""
        return cls(store.entries.values())

    def __enter__(self) -> ContextIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the database."""
        self._db.close()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entries: Iterable[ContextEntry]) -> None:
        """Index more entries (the current value of each)."""
        rows = []
        for entry in entries:
            rows.append(
                (
                    entry.key,
                    entry.kind,
                    value_text(entry.value),
                    entry.current.rationale,
                    entry.current.author,
                    entry.goal_id,
                    len(self._entries),
                )
            )
            self._entries.append(entry)
        with self._db:
            self._db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def search(
        self,
        query: str,
        *,
        goal_id: str | None = None,
        kind: str | None = None,
        key_prefix: str | None = None,
        limit: int | None = 20,
    ) -> list[SearchHit]:
        """The entries matching ``query``, best first (bm25; ties by key).

        Args:
            query: FTS5 query text (see the module docstring).
            goal_id: Only this goal's entries.
            kind: Only entries of this kind.
            key_prefix: Only entries whose key starts with this (exactly, case counts).
            limit: Most hits returned; None for all.

        Raises:
            QueryError: The query is empty, or FTS5 cannot parse it.
        """
        text = query.strip()
        if not text:
            raise QueryError("the query is empty: give words to search for")
        weights = ", ".join(str(w) for w in _WEIGHTS)
        body, rationale = _COLUMNS.index("body"), _COLUMNS.index("rationale")
        clauses: list[str] = ["entries MATCH ?"]
        params: list[object] = [text]
        if goal_id is not None:
            clauses.append("goal_id = ?")
            params.append(goal_id)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if key_prefix:
            clauses.append("substr(key, 1, ?) = ?")
            params += [len(key_prefix), key_prefix]
        sql = (
            f"SELECT position, bm25(entries, {weights}) AS score,"
            f" snippet(entries, {body}, ?, ?, '…', {_SNIPPET_TOKENS}),"
            f" snippet(entries, {rationale}, ?, ?, '…', {_SNIPPET_TOKENS})"
            f" FROM entries WHERE {' AND '.join(clauses)} ORDER BY score, key"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        marks = [OPEN, CLOSE, OPEN, CLOSE]
        try:
            rows = self._db.execute(sql, [*marks, *params]).fetchall()
        except sqlite3.Error as exc:
            raise _query_error(text, exc) from None
        hits = []
        for position, score, in_body, in_rationale in rows:
            snippet, column = "", ""
            for candidate, name in ((in_body, "body"), (in_rationale, "rationale")):
                if OPEN in candidate:
                    snippet, column = candidate, name
                    break
            entry = self._entries[int(position)]
            hits.append(SearchHit(entry, -float(score), snippet, column))
        return hits

    def kinds(self, goal_id: str | None = None) -> Sequence[tuple[str, int]]:
        """How many entries of each kind there are (of one goal, or all), by kind."""
        sql = "SELECT kind, count(*) FROM entries"
        params: list[str] = []
        if goal_id is not None:
            sql += " WHERE goal_id = ?"
            params.append(goal_id)
        rows = self._db.execute(sql + " GROUP BY kind ORDER BY kind", params).fetchall()
        return [(str(kind), int(n)) for kind, n in rows]
