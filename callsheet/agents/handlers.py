"""Handler declarations: which events an agent reacts to, and how they are routed.

An agent declares handlers with two decorators:

- ``@on(TaskResult, TaskFailed, where=..., subject=...)``: react to events of the
  log (routed by type; the types may be left out and are then read from the
  annotation of the handler's event parameter, unions included). The agent sees
  events in log order, one at a time.
- ``@work()``: take the tasks assigned to the agent's role from the role's work
  queue (a durable pull consumer shared by every worker of the role).

The decorators only attach a ``HandlerSpec`` to the function; ``Agent`` collects
them when the class is defined (``__init_subclass__``), with no metaclass.
"""

from __future__ import annotations

import inspect
import re
import types as pytypes
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from callsheet.events.catalog import EVENT_TYPES
from callsheet.events.envelope import Event

__all__ = ["HandlerDefinitionError", "HandlerSpec", "on", "subject_matches", "work"]

F = TypeVar("F", bound=Callable[..., Any])
_SPEC_ATTR = "__callsheet_handler__"
_TOKEN_RE = re.compile(r"^(?:\*|>|[^\s.*>]+)$")


class HandlerDefinitionError(TypeError):
    """A handler is declared wrongly (no event type, unknown type, bad subject filter)."""


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """How one handler is routed.

    Attributes:
        name: The method's name; also part of the ids of the events it emits.
        kind: ``event`` for log events, ``work`` for the role's work queue.
        types: Catalog classes it handles (empty until resolved from annotations).
        where: Predicate on the event; the handler runs only when it returns True.
        subject: NATS wildcard filter on the event's subject (``*`` and ``>``).
    """

    name: str
    kind: Literal["event", "work"]
    types: tuple[type[Event], ...] = ()
    where: Callable[[Any], bool] | None = None
    subject: str | None = None

    def matches(self, event: Event, subject: str | None) -> bool:
        """Tell whether this handler should run for ``event`` stored on ``subject``."""
        if self.types and not isinstance(event, self.types):
            return False
        if self.subject is not None and (
            subject is None or not subject_matches(self.subject, subject)
        ):
            return False
        return self.where is None or bool(self.where(event))

    @property
    def type_names(self) -> tuple[str, ...]:
        """The catalog type names handled (``task.result``...)."""
        return tuple(str(t.__struct_config__.tag) for t in self.types)


def _check_subject(pattern: str) -> str:
    tokens = pattern.split(".")
    if not all(_TOKEN_RE.match(t) for t in tokens) or ">" in tokens[:-1]:
        raise HandlerDefinitionError(f"subject filter {pattern!r} is not a valid NATS filter")
    return pattern


def subject_matches(pattern: str, subject: str) -> bool:
    """Tell whether ``subject`` matches the NATS filter ``pattern`` (``*``, ``>``)."""
    want = pattern.split(".")
    have = subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or (token != "*" and token != have[index]):
            return False
    return len(have) == len(want)


def _check_types(types: tuple[type[Event], ...]) -> tuple[type[Event], ...]:
    known = set(EVENT_TYPES.values())
    for t in types:
        if t not in known:
            raise HandlerDefinitionError(f"{t!r} is not an event type of the catalog")
    return types


def on(
    *types: type[Event],
    where: Callable[[Any], bool] | None = None,
    subject: str | None = None,
) -> Callable[[F], F]:
    """Declare a handler for events of the log.

    Args:
        *types: Catalog classes to handle; by default, the annotation of the
            handler's first parameter after ``self`` (a class or a union of them).
        where: Only events for which this returns True.
        subject: Only events stored on subjects matching this NATS filter.
    """
    checked = _check_types(types)
    pattern = None if subject is None else _check_subject(subject)

    def mark(fn: F) -> F:
        setattr(fn, _SPEC_ATTR, HandlerSpec(fn.__name__, "event", checked, where, pattern))
        return fn

    return mark


def work(*, where: Callable[[Any], bool] | None = None) -> Callable[[F], F]:
    """Declare the handler of the agent's role work queue (``task.assigned`` to its role).

    The handler receives the ``TaskAssigned`` event and a ``WorkContext``; what it
    returns is the task's output (a ``task.result`` is emitted for it), unless it
    reported the result itself.
    """

    def mark(fn: F) -> F:
        from callsheet.events.catalog import TaskAssigned

        setattr(fn, _SPEC_ATTR, HandlerSpec(fn.__name__, "work", (TaskAssigned,), where, None))
        return fn

    return mark


def _annotation_types(fn: Callable[..., Any]) -> tuple[type[Event], ...]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # an unresolvable forward reference
        raise HandlerDefinitionError(
            f"cannot read the annotations of {fn.__name__}: {exc}"
        ) from exc
    # The event is the first parameter after ``self``: not merely the first annotated one.
    params = list(inspect.signature(fn).parameters)[1:2]
    if not params or params[0] not in hints:
        raise HandlerDefinitionError(
            f"handler {fn.__name__} names no event type: pass types to @on or annotate its event"
        )
    hint = hints[params[0]]
    found = get_args(hint) if get_origin(hint) in (Union, pytypes.UnionType) else (hint,)
    result: list[type[Event]] = []
    for t in found:
        if not (isinstance(t, type) and issubclass(t, Event)) or t is Event:
            raise HandlerDefinitionError(
                f"handler {fn.__name__}: {t!r} is not a catalog event type; pass types to @on"
            )
        result.append(t)
    return _check_types(tuple(result))


def collect(namespace: dict[str, Any]) -> dict[str, HandlerSpec]:
    """Return the handler specs declared in a class body, with types resolved."""
    specs: dict[str, HandlerSpec] = {}
    for name, value in namespace.items():
        spec = getattr(value, _SPEC_ATTR, None)
        if not isinstance(spec, HandlerSpec):
            continue
        # Named after the attribute, which is how the runtime calls it (the function's
        # own ``__name__`` differs under a decorator without ``functools.wraps``).
        types = spec.types or _annotation_types(value)
        specs[name] = HandlerSpec(name, spec.kind, types, spec.where, spec.subject)
    return specs
