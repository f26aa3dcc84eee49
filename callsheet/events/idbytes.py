"""The byte limit of ids, checked on every ``Id`` field of an event, however nested.

msgspec checks ``max_length`` in characters; an id must also fit a subject token
in UTF-8 bytes (``ids.MAX_ID_BYTES``). The fields to check are found once per
event class from msgspec's type information (``Meta(extra={"max_bytes": N})``),
so a new catalog field typed ``Id`` is covered without a list to keep up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec.inspect as mi

from callsheet.events.envelope import Event
from callsheet.events.errors import EventDecodeError

__all__ = ["check_id_bytes", "may_hold_non_ascii"]

_Check = Callable[[Any, str], None]
"""Raises ``EventDecodeError`` for a value (at a JSON path) that breaks a byte limit."""

_PLANS: dict[type, _Check | None] = {}


def _str_check(limit: int) -> _Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str) or len(value) * 4 <= limit:
            return  # four UTF-8 bytes at most per character: cannot be over
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise EventDecodeError(path, "is not valid Unicode (lone surrogate)") from None
        if size > limit:
            raise EventDecodeError(
                path, f"is {size} UTF-8 bytes, over the limit of {limit} bytes for an id"
            )

    return check


def _plan(info: mi.Type) -> _Check | None:
    """A check for values of this type, or None when nothing in it has a byte limit."""
    if isinstance(info, mi.Metadata):
        limit = (info.extra or {}).get("max_bytes")
        if isinstance(limit, int) and isinstance(info.type, mi.StrType):
            return _str_check(limit)
        return _plan(info.type)
    if isinstance(info, mi.StructType):
        return _struct_plan(info.cls)
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        item = _plan(info.item_type)
        if item is None:
            return None

        def each(value: Any, path: str) -> None:
            if isinstance(value, list | tuple | set | frozenset):
                for index, element in enumerate(value):
                    item(element, f"{path}[{index}]")

        return each
    if isinstance(info, mi.DictType):
        key, val = _plan(info.key_type), _plan(info.value_type)
        if key is None and val is None:
            return None

        def items(value: Any, path: str) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    if key is not None:
                        key(k, path)
                    if val is not None:
                        val(v, f"{path}.{k}")

        return items
    if isinstance(info, mi.UnionType):
        members = [p for p in (_plan(t) for t in info.types) if p is not None]
        if not members:
            return None

        def any_of(value: Any, path: str) -> None:
            for member in members:  # each member checks only values of its own type
                member(value, path)

        return any_of
    return None


def _struct_plan(cls: type) -> _Check | None:
    if cls in _PLANS:
        return _PLANS[cls]
    _PLANS[cls] = None  # a self-referencing struct stops here
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = [(f.name, f.encode_name, p) for f in info.fields if (p := _plan(f.type)) is not None]
    if not fields:
        return None

    def check(value: Any, path: str) -> None:
        if isinstance(value, cls):
            for name, wire, field_check in fields:
                field_check(getattr(value, name), f"{path}.{wire}")

    _PLANS[cls] = check
    return check


def check_id_bytes(event: Event) -> None:
    """Refuse an event holding an id over its byte limit (or not valid Unicode).

    Raises:
        EventDecodeError: Naming the field (a JSON path) and its size.
    """
    plan = _struct_plan(type(event))
    if plan is not None:
        plan(event, "$")


def may_hold_non_ascii(raw: bytes) -> bool:
    """Tell whether JSON text may hold a non-ASCII string (the only way past the limit)."""
    return not raw.isascii() or b"\\u" in raw
