"""A generic structural diff of projection states: dataclasses, mappings, sequences."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ABSENT", "Change", "diff_states", "key_token"]


class _Absent:
    """Marks the side of a change where a key or item did not exist."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Final = _Absent()
"""The ``old`` of an added entry, or the ``new`` of a removed one."""


@dataclass(frozen=True, slots=True)
class Change:
    """One leaf that differs between two states.

    Attributes:
        path: Where, e.g. ``goals.g1.tasks.api.status`` or ``breaches[0]``.
        old: The value before, or ``ABSENT`` if it was added.
        new: The value after, or ``ABSENT`` if it was removed.
    """

    path: str
    old: Any
    new: Any


def key_token(key: object) -> str:
    """Render a mapping key as a path token (tuple keys are joined with ``/``)."""
    if isinstance(key, tuple):
        return "/".join(str(part) for part in key)
    return str(key)


def _join(prefix: str, token: str) -> str:
    return f"{prefix}.{token}" if prefix else token


def _is_record(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _walk(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if old is new:
        return
    if _is_record(old) and type(old) is type(new):
        for f in dataclasses.fields(old):
            _walk(_join(path, f.name), getattr(old, f.name), getattr(new, f.name), out)
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in old:
            sub = _join(path, key_token(key))
            if key in new:
                _walk(sub, old[key], new[key], out)
            else:
                out.append(Change(sub, old[key], ABSENT))
        for key in new:
            if key not in old:
                out.append(Change(_join(path, key_token(key)), ABSENT, new[key]))
        return
    if isinstance(old, tuple | list) and isinstance(new, tuple | list):
        for index in range(max(len(old), len(new))):
            sub = f"{path}[{index}]"
            before = old[index] if index < len(old) else ABSENT
            after = new[index] if index < len(new) else ABSENT
            if before is ABSENT or after is ABSENT:
                out.append(Change(sub, before, after))
            else:
                _walk(sub, before, after, out)
        return
    if type(old) is not type(new) or old != new:
        out.append(Change(path, old, new))


def diff_states(old: Any, new: Any) -> list[Change]:
    """Return the leaves that differ between two states, in field and key order; pure.

    Dataclasses of the same type are compared field by field, mappings key by key
    (added and removed keys are single changes with ``ABSENT`` on one side), tuples
    and lists item by item; anything else is a leaf compared with ``==``.

    Args:
        old: The state before.
        new: The state after.

    Returns:
        The changes; empty when the states are equal.
    """
    out: list[Change] = []
    _walk("", old, new, out)
    return out
