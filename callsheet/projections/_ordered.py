"""A persistent map that keeps insertion order: a goal's task cards, in order of appearance.

``pyrsistent.PMap`` sets a key in O(log n) but iterates in hash order; a board's
cards must iterate in the order they appeared (the supervisor's tie-break, every
listing). ``OrderedPMap`` pairs a ``PMap`` (key to value) with a ``PVector`` of the
keys in insertion order: setting a key costs O(log n) whatever the size, instead
of the O(n) copy of a ``dict``. It is a read-only ``Mapping`` and compares equal,
by content, to any mapping with the same items (as a ``dict`` does); snapshots
write it as a plain map (``dict(value)``, in order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pyrsistent import PMap, PVector, pmap, pvector

__all__ = ["OrderedPMap"]

K = TypeVar("K")
V = TypeVar("V")


class OrderedPMap(Mapping[K, V]):
    """An immutable mapping in insertion order, with O(log n) ``set``.

    Keys are never removed (a board's tasks stay on it): there is no ``discard``.
    """

    __slots__ = ("_items", "_order")

    _items: PMap[K, V]
    _order: PVector[K]

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        """Copy ``items`` (in their order); O(n), once."""
        source: Mapping[K, V] = items if items is not None else {}
        self._items = source._items if isinstance(source, OrderedPMap) else pmap(source)
        self._order = source._order if isinstance(source, OrderedPMap) else pvector(source)

    @classmethod
    def of(cls, items: Mapping[K, V]) -> OrderedPMap[K, V]:
        """``items`` itself when it is an ``OrderedPMap``, else a copy of it."""
        return items if isinstance(items, OrderedPMap) else cls(items)

    @classmethod
    def _make(cls, items: PMap[K, V], order: PVector[K]) -> OrderedPMap[K, V]:
        new: OrderedPMap[K, V] = object.__new__(cls)
        new._items, new._order = items, order
        return new

    def set(self, key: K, value: V) -> OrderedPMap[K, V]:
        """Return the map with ``key`` set to ``value`` (a new key goes last); O(log n)."""
        items = self._items
        order = self._order if key in items else self._order.append(key)
        return self._make(items.set(key, value), order)

    def update(self, pairs: Iterable[tuple[K, V]]) -> OrderedPMap[K, V]:
        """Return the map with every ``(key, value)`` of ``pairs`` set, in order."""
        known, added = self._items, set[K]()
        items = known.evolver()
        order = self._order.evolver()
        for key, value in pairs:
            if key not in known and key not in added:
                added.add(key)
                order.append(key)
            items.set(key, value)
        return self._make(items.persistent(), order.persistent())

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def get(self, key: K, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._items.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OrderedPMap):
            return self is other or self._items == other._items
        if isinstance(other, Mapping):
            return self._items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a dict: compared by content, not hashed

    def __repr__(self) -> str:
        return f"OrderedPMap({dict(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (OrderedPMap, (dict(self),))
