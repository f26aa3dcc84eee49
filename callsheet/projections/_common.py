"""Small helpers shared by the projections: immutable maps, per-goal routing, time.

State is immutable: a fold never changes a map in place. Small maps (a goal's
tasks) are plain ``dict`` objects copied on write with ``assoc``; maps that grow
with the whole log (goals, agents, model calls) are persistent maps
(``pyrsistent.PMap``, set in O(log n)) written with ``passoc``. Both are
read-only ``Mapping`` values that compare equal by content (a ``PMap`` equals the
``dict`` with the same items), so any state can be kept, compared, snapshotted
(``plain`` turns it back into dicts) or shared.

``per_goal`` lifts a one-goal fold to every goal. For full replays a ``Bulk``
folds many events at once: ``GoalsBulk`` (made by ``per_goal_bulk``)
keeps one private scratch dict of goals for the whole run instead of one new map
per event, and freezes it once at the end: the result is the same value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from pyrsistent import PMap, pmap

from callsheet.events.envelope import Event

__all__ = [
    "Bulk",
    "GoalMap",
    "GoalsBulk",
    "OneByOne",
    "assoc",
    "cycles_paused",
    "evolve",
    "evolver",
    "expiry",
    "passoc",
    "pdiscard",
    "per_goal",
    "per_goal_bulk",
]

K = TypeVar("K")
V = TypeVar("V")
S = TypeVar("S")
T = TypeVar("T")
S_co = TypeVar("S_co", covariant=True)


_MISSING: Any = object()
_EVOLVERS: dict[type, Callable[..., Any]] = {}


def evolver(cls: type[T], changing: Sequence[str] | None = None) -> Callable[..., T]:
    """Build a function copying ``cls`` instances with fields changed.

    What ``evolve`` uses; a fold on a hot path can keep one and call it directly.
    Without ``changing``, the function is ``f(obj, **changes)``; with it, it is
    ``f(obj, *values)``, setting exactly those fields (in that order) to the
    values given, for a hot path that always changes the same fields.

    Raises:
        TypeError: A class with ``__post_init__``, or a field in ``changing`` it does not have.
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__: use dataclasses.replace")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = set(changing or ()) - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    scope: dict[str, Any] = {"_M": _MISSING, "_set": object.__setattr__, "_new": object.__new__}
    scope["_cls"] = cls
    setters = []
    for i, n in enumerate(names):
        if changing is None:
            value = f"obj.{n} if {n} is _M else {n}"
        else:
            value = n if n in changing else f"obj.{n}"
        slot = cls.__dict__.get(n)
        if isinstance(slot, types.MemberDescriptorType):
            # A slot: its descriptor's ``__set__`` skips ``object.__setattr__``'s lookup.
            scope[f"_s{i}"] = slot.__set__
            setters.append(f"    _s{i}(new, {value})\n")
        else:
            setters.append(f"    _set(new, {n!r}, {value})\n")
    if changing is None:
        params = "*, " + ", ".join(f"{n}=_M" for n in names)
    else:
        params = ", ".join(changing)
    body = "".join(setters)
    source = f"def evolve(obj, {params}):\n    new = _new(_cls)\n{body}    return new\n"
    exec(compile(source, f"<evolve {cls.__name__}>", "exec"), scope)
    made: Callable[..., T] = scope["evolve"]
    return made


def evolve(obj: T, **changes: Any) -> T:
    """Return a copy of a frozen dataclass with some fields changed; ``obj`` is untouched.

    The same value as ``dataclasses.replace``, several times faster on the hot
    path of a replay: a function generated once per class copies the fields,
    with no ``__init__`` call (the projections' dataclasses have no
    ``__post_init__``; one that has is refused).

    Raises:
        TypeError: A field the class does not have, or a class with ``__post_init__``.
    """
    cls = type(obj)
    fn = _EVOLVERS.get(cls)
    if fn is None:
        fn = _EVOLVERS[cls] = evolver(cls)
    result: T = fn(obj, **changes)
    return result


def assoc(mapping: Mapping[K, V], key: K, value: V) -> dict[K, V]:
    """Return a copy of ``mapping`` with ``key`` set to ``value``; ``mapping`` is untouched."""
    return {**mapping, key: value}


def passoc(mapping: Mapping[K, V], key: K, value: V) -> PMap[K, V]:
    """Return ``mapping`` with ``key`` set to ``value``, as a persistent map; O(log n).

    A plain mapping (e.g. one decoded from a snapshot) is turned into a
    persistent map once; ``mapping`` itself is untouched.
    """
    base = mapping if isinstance(mapping, PMap) else pmap(mapping)
    return base.set(key, value)


def pdiscard(mapping: Mapping[K, V], key: K) -> PMap[K, V]:
    """Return ``mapping`` without ``key`` (if it had it), as a persistent map."""
    base = mapping if isinstance(mapping, PMap) else pmap(mapping)
    return base.discard(key)


def expiry(at: datetime, seconds: float) -> datetime | None:
    """Return ``at + seconds``, or ``None`` (never) when that is past the calendar's end."""
    try:
        return at + timedelta(seconds=seconds)
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True)
class GoalMap(Generic[S]):
    """A per-goal state for every goal seen: ``goals[goal_id]``."""

    goals: Mapping[str, S] = field(default_factory=dict)


@contextlib.contextmanager
def cycles_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a burst of folding.

    Folds make many small objects and no reference cycles (states are trees of
    frozen dataclasses, tuples and maps), so reference counting frees all their
    garbage; the cyclic collector would only keep re-scanning the growing state.
    The collector is restored (if it was on) as soon as the burst ends.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def per_goal(
    initial: Callable[[], S], fold: Callable[[S, Event], S]
) -> Callable[[GoalMap[S], Event], GoalMap[S]]:
    """Lift a one-goal fold to a fold over every goal, routing each event by ``goal_id``."""

    def fold_all(state: GoalMap[S], event: Event) -> GoalMap[S]:
        before = state.goals.get(event.goal_id)
        after = fold(initial() if before is None else before, event)
        if after is before:
            return state
        return GoalMap(goals=passoc(state.goals, event.goal_id, after))

    return fold_all


class Bulk(Protocol[S_co]):
    """A many-event fold under way: ``feed`` it events in order, then take the ``result``.

    It keeps its own scratch state and never changes the state it started from.
    """

    def feed(self, events: Iterable[Event]) -> None:
        """Fold ``events``, in order, after those fed before."""

    def result(self) -> S_co:
        """Return the state after every event fed so far (feeding may go on after)."""


class OneByOne(Generic[S]):
    """The plain ``Bulk``: folds each event with the projection's ``fold``."""

    __slots__ = ("_fold", "_state")

    def __init__(self, state: S, fold: Callable[[S, Event], S]) -> None:
        self._state = state
        self._fold = fold

    def feed(self, events: Iterable[Event]) -> None:
        """Fold ``events`` one by one."""
        fold, state = self._fold, self._state
        with cycles_paused():
            for event in events:
                state = fold(state, event)
        self._state = state

    def result(self) -> S:
        """Return the state so far."""
        return self._state


class GoalsBulk(Generic[S]):
    """A per-goal ``Bulk``: one scratch ``dict`` of goals for the whole run.

    Every event still goes through the one-goal fold (each goal's state stays an
    immutable value); only the map of goals is a private, mutable ``dict`` until
    ``result`` freezes it into a persistent map, once. The starting state is
    untouched.
    """

    __slots__ = ("_changed", "_fold", "_goals", "_initial", "_state")

    def __init__(
        self, state: GoalMap[S], initial: Callable[[], S], fold: Callable[[S, Event], S]
    ) -> None:
        self._state = state
        self._initial = initial
        self._fold = fold
        self._goals: dict[str, S] | None = None
        self._changed = False

    def feed(self, events: Iterable[Event]) -> None:
        """Fold ``events`` into their goals' states in the scratch map."""
        goals = self._goals
        if goals is None:
            goals = self._goals = dict(self._state.goals)
        fold, initial, get = self._fold, self._initial, goals.get
        changed = self._changed
        with cycles_paused():
            for event in events:
                goal_id = event.goal_id
                before = get(goal_id)
                after = fold(initial() if before is None else before, event)
                if after is not before:
                    goals[goal_id] = after
                    changed = True
        self._changed = changed

    def result(self) -> GoalMap[S]:
        """Return every goal's state so far (the starting state itself if none changed)."""
        if not self._changed or self._goals is None:
            return self._state
        # Later feeds may go on: keep them off the value handed out.
        self._state = GoalMap(goals=pmap(self._goals))
        self._changed = False
        return self._state


def per_goal_bulk(
    initial: Callable[[], S], fold: Callable[[S, Event], S]
) -> Callable[[GoalMap[S]], GoalsBulk[S]]:
    """Return a function starting a ``GoalsBulk`` of the one-goal ``fold`` from a state."""

    def start(state: GoalMap[S]) -> GoalsBulk[S]:
        return GoalsBulk(state, initial, fold)

    return start
