"""What a scope change of a review says (``callsheet scope GOAL TEXT``): a small grammar.

A review's scope is its perspectives. A change adds some and drops others, in
words a person would use: "also check security", "add bugs and the tests
folder", "skip style", "no complexity, but check the tests". Clauses are read
left to right; a verb ("check", "add", "include"... or "skip", "drop", "no"...)
says whether the perspectives after it are added or dropped (added when no verb
comes first). A word that is neither a verb, a perspective nor a filler word is
not understood: the change is refused as a whole rather than half taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callsheet.events.catalog import PERSPECTIVES, Perspective

__all__ = ["ScopeChange", "ScopeError", "parse_scope", "rescoped"]

_ADD = {"add", "also", "check", "include", "review", "cover", "analyse", "analyze", "look", "with"}
_DROP = {"skip", "drop", "remove", "no", "without", "exclude", "ignore", "omit", "leave", "stop"}
_FILLER = {
    "a", "an", "and", "as", "at", "but", "checking", "folder", "folders", "for", "from", "in",
    "into", "it", "of", "on", "out", "please", "perspective", "perspectives", "the", "then",
    "to", "too", "well", "code", "findings", "issues", "problems", "aspects",
}  # fmt: skip
_WORDS: dict[str, Perspective] = {
    "security": "security", "secure": "security", "vulnerabilities": "security",
    "bandit": "security", "bugs": "bugs", "bug": "bugs", "correctness": "bugs",
    "errors": "bugs", "complexity": "complexity", "performance": "complexity",
    "perf": "complexity", "style": "style", "conventions": "style", "formatting": "style",
    "lint": "style", "tests": "tests", "test": "tests", "testing": "tests", "typing": "tests",
    "types": "tests", "coverage": "tests", "mypy": "tests",
}  # fmt: skip


class ScopeError(ValueError):
    """The change could not be read; the message says what was not understood."""


@dataclass(frozen=True, slots=True)
class ScopeChange:
    """The perspectives a change adds and drops (in ``PERSPECTIVES`` order)."""

    add: tuple[Perspective, ...]
    drop: tuple[Perspective, ...]

    def describe(self) -> str:
        """In words: ``+security, -style``."""
        return ", ".join([*(f"+{p}" for p in self.add), *(f"-{p}" for p in self.drop)])


def _ordered(found: Iterable[Perspective]) -> tuple[Perspective, ...]:
    chosen = set(found)
    return tuple(p for p in PERSPECTIVES if p in chosen)


def parse_scope(text: str) -> ScopeChange:
    """Read a change of a review's scope.

    Raises:
        ScopeError: A word is not understood, a perspective is both added and
            dropped, or the text names no perspective.
    """
    words = re.findall(r"[a-z]+|[^\sa-z,;.!]+", text.lower())
    adding = True
    add: list[Perspective] = []
    drop: list[Perspective] = []
    for word in words:
        if word in _ADD:
            adding = True
        elif word in _DROP:
            adding = False
        elif word in _WORDS:
            (add if adding else drop).append(_WORDS[word])
        elif word not in _FILLER:
            raise ScopeError(
                f"{word!r} is not understood: say which perspectives to add or skip "
                f"({', '.join(PERSPECTIVES)}), e.g. 'also check security' or 'skip style'"
            )
    both = set(add) & set(drop)
    if both:
        raise ScopeError(f"{', '.join(sorted(both))} is both added and skipped")
    if not add and not drop:
        raise ScopeError(
            f"no perspective named: say which to add or skip ({', '.join(PERSPECTIVES)})"
        )
    return ScopeChange(_ordered(add), _ordered(drop))


def rescoped(perspectives: Sequence[Perspective], changes: Iterable[str]) -> list[Perspective]:
    """The perspectives after the changes that can be read (the others change nothing)."""
    current = set(perspectives)
    for text in changes:
        try:
            change = parse_scope(text)
        except ScopeError:
            continue
        current = (current | set(change.add)) - set(change.drop)
    return list(_ordered(current))
