"""Hypothesis strategies derived from msgspec types, and catalog events built with them.

``from_type`` turns any type msgspec understands (``msgspec.inspect.type_info``)
into a strategy that respects its constraints: string lengths and patterns,
numeric bounds, tz-aware datetimes, literals, optional values, lists, dicts,
free-form JSON and nested Structs. ``events()`` draws an event of any catalog
type, ``event_of(cls)`` one of a given type.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from callsheet.events.catalog import EVENT_TYPES, TASK_LEVEL_TYPES
from callsheet.events.envelope import Event

__all__ = [
    "TIMEZONES",
    "event_of",
    "events",
    "from_struct",
    "from_type",
    "from_type_info",
    "ids",
    "json_values",
]

S = TypeVar("S", bound=msgspec.Struct)
E = TypeVar("E", bound=Event)

SMALL = 12
"""Extra length allowed above a minimum, so that drawn values stay small."""

TIMEZONES: st.SearchStrategy[timezone] = st.one_of(
    st.sampled_from(
        [
            UTC,
            timezone(timedelta(hours=5, minutes=30)),
            timezone(timedelta(hours=-8)),
            timezone(timedelta(hours=14)),
            timezone(timedelta(hours=-12)),
        ]
    ),
    # Any whole-minute offset: RFC 3339 has no seconds in offsets.
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m))),
)
"""UTC and other fixed offsets."""

_FINITE = st.floats(allow_nan=False, allow_infinity=False)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | _FINITE | st.text(max_size=SMALL),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
"""Any JSON value (finite numbers only), small and at most a few levels deep."""


def _text(t: mi.StrType) -> st.SearchStrategy[str]:
    low = t.min_length or 0
    high = t.max_length if t.max_length is not None else low + SMALL
    if t.pattern is not None:
        strategy = st.from_regex(t.pattern, fullmatch=True)
        if t.min_length is not None or t.max_length is not None:
            strategy = strategy.filter(lambda s: low <= len(s) <= high)
        return strategy
    return st.text(min_size=low, max_size=min(high, low + SMALL))


def _integers(t: mi.IntType) -> st.SearchStrategy[int]:
    low = t.ge if t.ge is not None else (None if t.gt is None else t.gt + 1)
    high = t.le if t.le is not None else (None if t.lt is None else t.lt - 1)
    strategy = st.integers(min_value=low, max_value=high)
    if t.multiple_of is not None:
        step = t.multiple_of
        strategy = strategy.map(lambda n: n - n % step).filter(
            lambda n: (low is None or n >= low) and (high is None or n <= high)
        )
    return strategy


def _floats(t: mi.FloatType) -> st.SearchStrategy[float]:
    if t.multiple_of is not None:
        raise TypeError("float multiple_of constraints are not supported")
    return st.floats(
        min_value=t.ge if t.ge is not None else t.gt,
        max_value=t.le if t.le is not None else t.lt,
        exclude_min=t.ge is None and t.gt is not None,
        exclude_max=t.le is None and t.lt is not None,
        allow_nan=False,
        allow_infinity=False,
    )


def _datetimes(t: mi.DateTimeType) -> st.SearchStrategy[datetime]:
    if t.tz is True:
        return st.datetimes(timezones=TIMEZONES)
    if t.tz is False:
        return st.datetimes()
    return st.datetimes(timezones=st.none() | TIMEZONES)


def _sized(low: int | None, high: int | None) -> tuple[int, int]:
    lo = low or 0
    return lo, min(high if high is not None else lo + 4, lo + 4)


_SIMPLE: dict[type[mi.Type], Callable[[Any], st.SearchStrategy[Any]]] = {
    mi.AnyType: lambda _: json_values,
    mi.NoneType: lambda _: st.none(),
    mi.BoolType: lambda _: st.booleans(),
    mi.IntType: _integers,
    mi.FloatType: _floats,
    mi.StrType: _text,
    mi.DateTimeType: _datetimes,
    mi.DateType: lambda _: st.dates(),
    mi.TimeDeltaType: lambda _: st.timedeltas(),
    mi.UUIDType: lambda _: st.uuids(),
    mi.BytesType: lambda t: st.binary(
        min_size=t.min_length or 0, max_size=_sized(t.min_length, t.max_length)[1]
    ),
    mi.LiteralType: lambda t: st.sampled_from(t.values),
    mi.EnumType: lambda t: st.sampled_from(list(t.cls)),
}


def from_type_info(t: mi.Type) -> st.SearchStrategy[Any]:
    """Return a strategy for values of the msgspec type description ``t``."""
    if isinstance(t, mi.Metadata):
        return from_type_info(t.type)
    simple = _SIMPLE.get(type(t))
    if simple is not None:
        return simple(t)
    if isinstance(t, mi.UnionType):
        return st.one_of([from_type_info(member) for member in t.types])
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        low, high = _sized(t.min_length, t.max_length)
        items = st.lists(from_type_info(t.item_type), min_size=low, max_size=high)
        if isinstance(t, mi.ListType):
            return items
        if isinstance(t, mi.VarTupleType):
            return items.map(tuple)
        factory = set if isinstance(t, mi.SetType) else frozenset
        return st.sets(from_type_info(t.item_type), min_size=low, max_size=high).map(factory)
    if isinstance(t, mi.TupleType):
        return st.tuples(*(from_type_info(item) for item in t.item_types))
    if isinstance(t, mi.DictType):
        low, high = _sized(t.min_length, t.max_length)
        return st.dictionaries(
            from_type_info(t.key_type), from_type_info(t.value_type), min_size=low, max_size=high
        )
    if isinstance(t, mi.StructType):
        return st.deferred(lambda: _struct(t.cls))
    raise TypeError(f"no strategy for msgspec type {t!r}")


def from_type(tp: Any) -> st.SearchStrategy[Any]:
    """Return a strategy for values of the Python type ``tp``, as msgspec sees it."""
    return from_type_info(mi.type_info(tp))


@cache
def _struct(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    return from_struct(cls)


def from_struct(cls: type[S], **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[S]:
    """Return a strategy for instances of the Struct ``cls``.

    Every field gets a value drawn from its type; ``overrides`` replaces the
    strategy of the fields it names.
    """
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    names = {f.name for f in info.fields}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    fields = {
        f.name: overrides[f.name] if f.name in overrides else from_type_info(f.type)
        for f in info.fields
    }
    return st.fixed_dictionaries(fields).map(lambda kwargs: cls(**kwargs))


def _field_type(cls: type[msgspec.Struct], name: str) -> mi.Type:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    (field,) = (f for f in info.fields if f.name == name)
    return field.type


ids: st.SearchStrategy[str] = from_type_info(_field_type(Event, "goal_id"))
"""A producer-chosen id (the ``Id`` type of the envelope)."""


@cache
def event_of(cls: type[E]) -> st.SearchStrategy[E]:
    """Return a strategy for events of the catalog class ``cls``.

    Task-level types always get a ``task_id``; other types may or may not have one.
    """
    tag = str(cls.__struct_config__.tag)
    if EVENT_TYPES.get(tag) is not cls:
        raise TypeError(f"{cls.__name__} is not a catalog event class")
    if tag in TASK_LEVEL_TYPES:
        return from_struct(cls, task_id=ids)
    return from_struct(cls)


def events() -> st.SearchStrategy[Event]:
    """Return a strategy for an event of any catalog type."""
    return st.one_of([event_of(cls) for cls in EVENT_TYPES.values()])
