"""Declaring agents: @on type inference, routing filters, @work, views (no server)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Union

import pytest

from callsheet.agents import Agent, HandlerContext, HandlerDefinitionError, WorkContext, on, work
from callsheet.agents.handlers import HandlerSpec, subject_matches
from callsheet.events.catalog import (
    GoalAccepted,
    GoalAcceptedData,
    GoalSubmitted,
    TaskAssigned,
    TaskAssignedData,
    TaskFailed,
    TaskFailedData,
    TaskResult,
    TaskResultData,
)
from callsheet.events.envelope import Event
from callsheet.events.subjects import event_subject


def result(task: str = "t", goal: str = "g") -> TaskResult:
    return TaskResult.new(
        data=TaskResultData(worker="w", output=1), goal_id=goal, task_id=task, producer="w"
    )


def failed(task: str = "t") -> TaskFailed:
    return TaskFailed.new(
        data=TaskFailedData(reason="r", worker="w"), goal_id="g", task_id=task, producer="w"
    )


def accepted(supervisor: str, goal: str = "g") -> GoalAccepted:
    return GoalAccepted.new(
        data=GoalAcceptedData(supervisor=supervisor), goal_id=goal, producer="c"
    )


def subject_of(event: Event) -> str:
    return event_subject(event.goal_id, event.task_id, event.event_type, event.route_role)


# -- type inference --------------------------------------------------------------------


class Inferred(Agent):
    @on()
    async def single(self, event: TaskResult, ctx: HandlerContext) -> None: ...

    @on()
    async def pipe_union(self, event: TaskResult | TaskFailed, ctx: HandlerContext) -> None: ...

    @on()
    async def typing_union(
        self,
        event: Union[GoalAccepted, TaskAssigned],  # noqa: UP007 - the old spelling on purpose
        ctx: HandlerContext,
    ) -> None: ...

    @on(GoalSubmitted)
    async def explicit(self, event: Any, ctx: HandlerContext) -> None: ...

    @on(TaskResult, TaskFailed)
    async def explicit_many(self, event: Any, ctx: Any) -> None: ...

    @on(TaskResult)
    async def unannotated(self, event, ctx):  # type: ignore[no-untyped-def]
        """Explicit types need no annotation at all."""


def test_types_are_read_from_a_single_annotation() -> None:
    spec = Inferred.handlers["single"]
    assert spec.types == (TaskResult,)
    assert spec.type_names == ("task.result",)
    assert spec.kind == "event" and spec.name == "single"


def test_types_are_read_from_union_annotations_in_both_spellings() -> None:
    assert Inferred.handlers["pipe_union"].types == (TaskResult, TaskFailed)
    assert Inferred.handlers["typing_union"].types == (GoalAccepted, TaskAssigned)
    assert Inferred.handlers["typing_union"].type_names == ("goal.accepted", "task.assigned")


def test_explicit_types_win_over_annotations() -> None:
    assert Inferred.handlers["explicit"].types == (GoalSubmitted,)
    assert Inferred.handlers["explicit_many"].types == (TaskResult, TaskFailed)
    assert Inferred.handlers["unannotated"].types == (TaskResult,)


def test_a_handler_is_routed_by_its_types() -> None:
    spec = Inferred.handlers["pipe_union"]
    assert spec.matches(result(), subject_of(result()))
    assert spec.matches(failed(), subject_of(failed()))
    assert not spec.matches(accepted("s"), subject_of(accepted("s")))


class NotInCatalog(Event, tag="x.unknown", frozen=True, kw_only=True):
    """An event class the catalog does not know."""

    data: int


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(HandlerDefinitionError, match="not an event type of the catalog"):
        on(NotInCatalog)
    with pytest.raises(HandlerDefinitionError, match="not an event type of the catalog"):
        on(TaskResult, dict)  # type: ignore[arg-type]
    with pytest.raises(HandlerDefinitionError, match="not an event type of the catalog"):

        class Annotated(Agent):
            @on()
            async def h(self, event: NotInCatalog, ctx: HandlerContext) -> None: ...


@pytest.mark.parametrize("annotation", [int, Event, "TaskResult | None", "TaskResult | int"])
def test_a_non_event_annotation_is_refused(annotation: Any) -> None:
    async def h(self: Any, event: Any, ctx: HandlerContext) -> None: ...

    h.__annotations__["event"] = annotation
    with pytest.raises(HandlerDefinitionError, match="not a catalog event type"):
        type("Bad", (Agent,), {"h": on()(h)})


def test_a_missing_annotation_is_refused() -> None:
    with pytest.raises(HandlerDefinitionError, match="names no event type"):

        class NoParams(Agent):
            @on()
            async def h(self) -> None: ...

    # Annotating only the context does not make the context the event.
    with pytest.raises(HandlerDefinitionError, match="names no event type"):

        class OnlyContext(Agent):
            @on()
            async def h(self, event, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
                ...


def test_an_unresolvable_annotation_is_refused() -> None:
    async def h(self: Any, event: Any, ctx: HandlerContext) -> None: ...

    h.__annotations__["event"] = "NoSuchName"
    with pytest.raises(HandlerDefinitionError, match="cannot read the annotations"):
        type("Unresolvable", (Agent,), {"h": on()(h)})


def test_a_bare_decorator_is_refused() -> None:
    with pytest.raises(HandlerDefinitionError):

        class Bare(Agent):
            @on  # type: ignore[arg-type]
            async def h(self, event: TaskResult, ctx: HandlerContext) -> None:  # type: ignore[misc]
                ...


# -- predicates and subject filters ----------------------------------------------------


def test_the_where_predicate_selects_events() -> None:
    class Picky(Agent):
        @on(where=lambda e: e.data.supervisor == "s1")
        async def h(self, event: GoalAccepted, ctx: HandlerContext) -> None: ...

    spec = Picky.handlers["h"]
    assert spec.matches(accepted("s1"), None)
    assert not spec.matches(accepted("s2"), None)


def test_the_subject_filter_selects_events() -> None:
    class Scoped(Agent):
        @on(subject="cs.ev.g1.>")
        async def h(self, event: TaskResult, ctx: HandlerContext) -> None: ...

    spec = Scoped.handlers["h"]
    mine, other = result(goal="g1"), result(goal="g2")
    assert spec.matches(mine, subject_of(mine))
    assert not spec.matches(other, subject_of(other))
    assert not spec.matches(mine, None)  # no subject known: a filter cannot be satisfied


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.b.c", "a.b.d", False),
        ("a.b.c", "a.b", False),
        ("a.b", "a.b.c", False),
        ("*", "a", True),
        ("*", "a.b", False),
        ("a.*", "a.b", True),
        ("a.*", "a", False),
        ("a.*.c", "a.x.c", True),
        ("a.*.c", "a.x.y", False),
        ("*.*.c", "a.b.c", True),
        ("a.>", "a.b", True),
        ("a.>", "a.b.c.d", True),
        ("a.>", "a", False),
        ("a.>", "b.c", False),
        (">", "a", True),
        (">", "a.b.c", True),
        ("a.*.>", "a.b", False),
        ("a.*.>", "a.b.c", True),
        ("*.>", "x.y.z", True),
    ],
)
def test_subject_matching_follows_nats_wildcards(
    pattern: str, subject: str, expected: bool
) -> None:
    assert subject_matches(pattern, subject) is expected


@pytest.mark.parametrize(
    "pattern", ["", "a..b", "a.>.b", ">.a", "a.b*", "a.*b", "a.b>", "a b", "a.", ".a", "a.\tb"]
)
def test_a_bad_subject_filter_is_refused(pattern: str) -> None:
    with pytest.raises(HandlerDefinitionError, match="not a valid NATS filter"):
        on(TaskResult, subject=pattern)


@pytest.mark.parametrize("pattern", ["a", "a.b", "a.*", "a.>", ">", "*.*", "cs.ev.g~2E1.>"])
def test_good_subject_filters_are_kept(pattern: str) -> None:
    @on(TaskResult, subject=pattern)
    async def h(self: Any, event: TaskResult, ctx: HandlerContext) -> None: ...

    spec = getattr(h, "__callsheet_handler__")  # noqa: B009
    assert isinstance(spec, HandlerSpec) and spec.subject == pattern


# -- collecting handlers ---------------------------------------------------------------


class Base(Agent):
    @on()
    async def first(self, event: TaskResult, ctx: HandlerContext) -> None: ...

    @on()
    async def second(self, event: TaskFailed, ctx: HandlerContext) -> None: ...


class Middle(Base):
    @on()
    async def third(self, event: GoalAccepted, ctx: HandlerContext) -> None: ...


class Leaf(Middle):
    @on()  # redeclared: the subclass's routing replaces the base's
    async def first(self, event: GoalSubmitted, ctx: HandlerContext) -> None:  # type: ignore[override]
        ...

    @on()
    async def fourth(self, event: TaskAssigned, ctx: HandlerContext) -> None: ...


def test_an_agent_collects_handlers_from_its_bases() -> None:
    assert list(Middle.handlers) == ["first", "second", "third"]
    assert list(Leaf.handlers) == ["first", "second", "third", "fourth"]
    assert Leaf.handlers["first"].types == (GoalSubmitted,)
    assert Middle.handlers["first"].types == (TaskResult,)  # the base is unchanged
    assert list(Base.handlers) == ["first", "second"]
    assert [s.name for s in Leaf.event_handlers()] == ["first", "second", "third", "fourth"]
    assert Leaf.work_handler() is None


def test_handlers_of_a_mixin_are_collected() -> None:
    class Mixin:
        @on()
        async def mixed(self, event: TaskResult, ctx: HandlerContext) -> None: ...

    class WithMixin(Mixin, Agent):
        @on()
        async def own(self, event: TaskFailed, ctx: HandlerContext) -> None: ...

    assert list(WithMixin.handlers) == ["mixed", "own"]
    assert WithMixin.handlers["mixed"].types == (TaskResult,)


def test_a_handler_is_named_after_its_attribute() -> None:
    def logged(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def wrapper(*args: Any) -> None:  # no functools.wraps: __name__ is "wrapper"
            await fn(*args)

        return wrapper

    class Wrapped(Agent):
        @on(TaskResult)
        @logged
        async def one(self, event: TaskResult, ctx: HandlerContext) -> None: ...

        @on(TaskFailed)
        @logged
        async def two(self, event: TaskFailed, ctx: HandlerContext) -> None: ...

    assert [s.name for s in Wrapped.event_handlers()] == ["one", "two"]
    for name, spec in Wrapped.handlers.items():
        assert spec.name == name and callable(getattr(Wrapped(), spec.name))


def test_a_wrapped_handler_keeps_its_inferred_types() -> None:
    def traced(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(fn)
        async def wrapper(*args: Any) -> None:
            await fn(*args)

        return wrapper

    class Traced(Agent):
        @on()
        @traced
        async def h(self, event: TaskResult | TaskFailed, ctx: HandlerContext) -> None: ...

    assert Traced.handlers["h"].types == (TaskResult, TaskFailed)


# -- @work, views, settings ------------------------------------------------------------


def test_work_takes_task_assignments() -> None:
    class Writer(Agent):
        kind = "worker"
        role = "writers"

        @work(where=lambda e: e.data.priority < 5)
        async def write(self, event: TaskAssigned, ctx: WorkContext) -> None: ...

    spec = Writer.work_handler()
    assert spec is not None and spec.kind == "work" and spec.types == (TaskAssigned,)
    assert Writer.event_handlers() == []
    urgent = TaskAssigned.new(
        data=TaskAssignedData(role="writers", priority=1), goal_id="g", task_id="t", producer="s"
    )
    assert spec.matches(urgent, None)
    assert not spec.matches(
        TaskAssigned.new(
            data=TaskAssignedData(role="writers"), goal_id="g", task_id="t", producer="s"
        ),
        None,
    )
    assert Writer("w-1").name == "w-1"
    assert Writer.durable_name() == "writers"


def test_work_without_a_role_is_refused() -> None:
    class Roleless(Agent):
        kind = "worker"

        @work()
        async def do(self, event: TaskAssigned, ctx: WorkContext) -> None: ...

    with pytest.raises(HandlerDefinitionError, match="no role"):
        Roleless("x")
    with pytest.raises(HandlerDefinitionError, match="no role"):
        Roleless()


def test_two_work_handlers_are_refused() -> None:
    class Greedy(Agent):
        role = "r"

        @work()
        async def one(self, event: TaskAssigned, ctx: WorkContext) -> None: ...

        @work()
        async def two(self, event: TaskAssigned, ctx: WorkContext) -> None: ...

    with pytest.raises(HandlerDefinitionError, match="more than one @work"):
        Greedy("g")


def test_views_must_name_known_projections() -> None:
    class Fine(Agent):
        views = ("board", "costs")

    assert Fine.views == ("board", "costs")
    with pytest.raises(HandlerDefinitionError, match="views names 'nope'"):

        class Unknown(Agent):
            views = ("board", "nope")


@pytest.mark.parametrize(("lease", "in_flight"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_lease_and_max_in_flight_must_be_positive(lease: float, in_flight: int) -> None:
    with pytest.raises(HandlerDefinitionError, match="must be > 0"):
        type("Bad", (Agent,), {"lease_seconds": lease, "max_in_flight": in_flight})


def test_names_durables_and_defaults() -> None:
    class Namer(Agent):
        durable = "my agent.v2"

    assert Namer.durable_name() == "my-agent-v2"
    assert Namer().name.startswith("my-agent-v2-")
    assert Namer().name != Namer().name
    with pytest.raises(ValueError, match="must match"):
        Namer("has space")
    with pytest.raises(ValueError, match="must match"):
        Namer("x" * 65)
    assert Leaf.durable_name() == "leaf"

    class Reviewer(Agent):
        role = "reviewers"

    assert Reviewer.durable_name() == "reviewers"
