"""The ``Agent`` base class: identity, role in the topology, declared handlers and views."""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar, Literal

from ulid import ULID

from callsheet.agents.handlers import HandlerDefinitionError, HandlerSpec, collect
from callsheet.agents.start import START_POLICIES, StartFrom
from callsheet.events.envelope import Event
from callsheet.projections import PROJECTIONS

__all__ = ["Agent", "AgentKind"]

AgentKind = Literal["controller", "supervisor", "worker", "reviewer", "observer"]
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Agent:
    """Base of every agent: subclass it and declare handlers with ``@on`` and ``@work``.

    Class attributes a subclass sets:

    - ``kind``: its place in the bounded topology (what it may emit is enforced).
    - ``role``: the worker role whose work queue ``@work`` takes tasks from.
    - ``durable``: a stable name for the agent's position in the log; an agent
      restarted under the same name continues where it stopped. Defaults to the
      role, or the class name.
    - ``views``: projections (by registry name, e.g. ``board``) the runtime keeps
      up to date for it, folded from every event before its handlers run.
    - ``start_from``: where its ``@on`` handlers begin the first time it runs
      (see ``callsheet.agents.start``): ``history`` (every event of the log) or
      ``now`` (only events appended after it first starts; its views are still
      folded from the whole log). By default an observer starts ``now`` and the
      crew's kinds (controller, supervisor, reviewer, worker) process the history.
    - ``lease_seconds``: the work queue's ack wait (the lease); heartbeats extend it.
    - ``max_in_flight``: most tasks one instance of the agent works on at once.
    - ``observes``: the event types (``task.result``, or a category ``task.*``)
      its own ``observe`` folds; with no ``views`` either, its consumer then
      delivers only those and its handlers' types (the agent reads only what it
      needs). None (the default): ``observe`` sees every event.
    - ``memory_version``: set it (and implement ``memory`` and ``restore``) when
      the agent keeps memory with ``observe``, so that a restart starts from a
      snapshot of its views and memory instead of folding the whole log; bump it
      when the memory's meaning changes (older snapshots are then ignored).

    Handlers must be deterministic given the event, the views and the recorded
    results of model and tool calls: that is what makes re-driving them from the
    log meaningful.
    """

    kind: ClassVar[AgentKind] = "observer"
    role: ClassVar[str | None] = None
    durable: ClassVar[str | None] = None
    views: ClassVar[tuple[str, ...]] = ()
    start_from: ClassVar[StartFrom | None] = None
    lease_seconds: ClassVar[float] = 30.0
    max_in_flight: ClassVar[int] = 4
    memory_version: ClassVar[int | None] = None
    observes: ClassVar[tuple[str, ...] | None] = None
    handlers: ClassVar[dict[str, HandlerSpec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        specs: dict[str, HandlerSpec] = {}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Agent):
                specs.update(base.handlers)
            else:  # a mixin: its handlers are declared but were never collected
                specs.update(collect(dict(vars(base))))
        specs.update(collect(dict(vars(cls))))
        cls.handlers = specs
        for name in cls.views:
            if name not in PROJECTIONS:
                raise HandlerDefinitionError(
                    f"{cls.__name__}.views names {name!r}; known: {', '.join(PROJECTIONS)}"
                )
        if cls.start_from is not None and cls.start_from not in START_POLICIES:
            raise HandlerDefinitionError(
                f"{cls.__name__}.start_from is {cls.start_from!r}; "
                f"known: {', '.join(START_POLICIES)}"
            )
        if cls.lease_seconds <= 0 or cls.max_in_flight < 1:
            raise HandlerDefinitionError(f"{cls.__name__}: lease and max_in_flight must be > 0")

    def __init__(self, name: str | None = None) -> None:
        """Create an instance.

        Args:
            name: The agent id stamped as ``producer`` on what it emits; a fresh
                ``{durable}-{random}`` by default (instances of one role differ).
        """
        if self.work_handler() is not None and not self.role:
            raise HandlerDefinitionError(f"{type(self).__name__} has a @work handler but no role")
        self.name = name or f"{self.durable_name()}-{str(ULID())[-6:].lower()}"
        if not _NAME_RE.match(self.name):
            raise ValueError(f"agent name {self.name!r} must match [A-Za-z0-9_-]{{1,64}}")

    def observe(self, event: Event) -> None:
        """Update the agent's own memory with an event of the log; no-op by default.

        Called for every event the agent's loop folds, in log order (and for
        its own reactions as soon as they are stored), also while the memory is
        rebuilt after a restart; never for events before the agent's first
        position. Keep it deterministic and free of I/O: it is a fold.
        """

    @property
    def keeps_memory(self) -> bool:
        """Whether the agent overrides ``observe`` (it keeps memory of its own)."""
        return type(self).observe is not Agent.observe

    @property
    def snapshots(self) -> bool:
        """Whether its views and memory can be saved and restored (see ``memory_version``)."""
        return not self.keeps_memory or self.memory_version is not None

    def memory(self) -> Any:
        """Return the agent's memory, for a snapshot: msgspec-encodable (structs, dicts...).

        Implement it with ``restore`` and ``memory_type`` when setting ``memory_version``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not save its memory")

    def memory_type(self) -> Any:
        """The type ``memory`` returns, to decode a snapshot's memory with."""
        raise NotImplementedError(f"{type(self).__name__} does not save its memory")

    def restore(self, memory: Any) -> None:
        """Take back the memory of a snapshot (what ``memory`` returned, decoded)."""
        raise NotImplementedError(f"{type(self).__name__} does not save its memory")

    @classmethod
    def durable_name(cls) -> str:
        """The stable name of the agent's log position (its consumer)."""
        name = cls.durable or cls.role or cls.__name__.lower()
        return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:64]

    @classmethod
    def event_handlers(cls) -> list[HandlerSpec]:
        """The ``@on`` handlers, in declaration order."""
        return [s for s in cls.handlers.values() if s.kind == "event"]

    @classmethod
    def work_handler(cls) -> HandlerSpec | None:
        """The ``@work`` handler, if the agent takes tasks."""
        found = [s for s in cls.handlers.values() if s.kind == "work"]
        if len(found) > 1:
            raise HandlerDefinitionError(f"{cls.__name__} declares more than one @work handler")
        return found[0] if found else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} kind={self.kind} pid={os.getpid()}>"
