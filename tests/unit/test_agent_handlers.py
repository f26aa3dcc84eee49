"""Handler declarations, routing, the topology rules and trace ids (no server)."""

from __future__ import annotations

import re

import pytest

from callsheet.agents import Agent, HandlerContext, HandlerDefinitionError, WorkContext, on, work
from callsheet.agents.handlers import subject_matches
from callsheet.agents.topology import (
    MAX_SUPERVISOR_LEVELS,
    SPAWN_TYPES,
    TopologyViolation,
    check_emission,
    check_nesting,
)
from callsheet.events.catalog import (
    GoalAccepted,
    GoalAcceptedData,
    TaskAssigned,
    TaskFailed,
    TaskResult,
    TaskResultData,
)
from callsheet.events.tracing import span_id, trace_id, traceparent


class Both(Agent):
    @on()
    async def union(self, event: TaskResult | TaskFailed, ctx: HandlerContext) -> None:
        """Types from a union annotation."""

    @on(GoalAccepted, where=lambda e: e.data.supervisor == "s1", subject="cs.ev.*.goal.>")
    async def explicit(self, event: GoalAccepted, ctx: HandlerContext) -> None:
        """Explicit type, predicate and subject filter."""


class Child(Both):
    @on()
    async def more(self, event: TaskAssigned, ctx: HandlerContext) -> None:
        """Added by a subclass."""


def accepted(supervisor: str) -> GoalAccepted:
    return GoalAccepted.new(data=GoalAcceptedData(supervisor=supervisor), goal_id="g", producer="c")


def test_types_come_from_annotations_or_arguments() -> None:
    assert Both.handlers["union"].types == (TaskResult, TaskFailed)
    assert Both.handlers["union"].type_names == ("task.result", "task.failed")
    assert Both.handlers["explicit"].types == (GoalAccepted,)


def test_subclasses_inherit_handlers() -> None:
    assert list(Child.handlers) == ["union", "explicit", "more"]
    assert [s.name for s in Child.event_handlers()] == ["union", "explicit", "more"]
    assert Child.work_handler() is None


def test_matching_uses_type_predicate_and_subject() -> None:
    spec = Both.handlers["explicit"]
    goal_subject = "cs.ev.g.goal.g.~.goal.accepted"
    assert spec.matches(accepted("s1"), goal_subject)
    assert not spec.matches(accepted("s2"), goal_subject)  # the predicate
    assert not spec.matches(accepted("s1"), "cs.ev.g.task.t.~.goal.accepted")  # the subject
    result = TaskResult.new(
        data=TaskResultData(worker="w", output=1), goal_id="g", task_id="t", producer="w"
    )
    assert not spec.matches(result, goal_subject)  # the type


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.*.c", "a.x.c", True),
        ("a.*.c", "a.x.y", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.b", "a.b.c", False),
        ("a.b.c", "a.b", False),
        (">", "anything.at.all", True),
    ],
)
def test_subject_matching_follows_nats_wildcards(
    pattern: str, subject: str, expected: bool
) -> None:
    assert subject_matches(pattern, subject) is expected


def test_declaration_errors_are_clear() -> None:
    with pytest.raises(HandlerDefinitionError, match="names no event type"):

        class NoAnnotation(Agent):
            @on()
            async def h(self) -> None: ...

    with pytest.raises(HandlerDefinitionError, match="not a catalog event type"):

        class NotAnEvent(Agent):
            @on()
            async def h(self, event: int, ctx: HandlerContext) -> None: ...

    with pytest.raises(HandlerDefinitionError, match="not an event type of the catalog"):
        on(int)  # type: ignore[arg-type]
    with pytest.raises(HandlerDefinitionError, match="not a valid NATS filter"):
        on(TaskResult, subject="a.>.b")
    with pytest.raises(HandlerDefinitionError, match="views names 'nope'"):

        class BadView(Agent):
            views = ("nope",)


def test_a_worker_needs_a_role_to_be_created() -> None:
    class Roleless(Agent):
        kind = "worker"

        @work()
        async def do(self, event: TaskAssigned, ctx: WorkContext) -> None: ...

    with pytest.raises(HandlerDefinitionError, match="no role"):
        Roleless("x")
    worker = type("WithRole", (Roleless,), {"role": "writers"})("w-1")
    assert worker.work_handler() is not None and worker.name == "w-1"


def test_agent_names_are_checked_and_default_to_durable_plus_suffix() -> None:
    with pytest.raises(ValueError, match="must match"):
        Both("has space")
    assert re.fullmatch(r"both-[0-9a-z]{6}", Both().name)


@pytest.mark.parametrize("event_type", sorted(SPAWN_TYPES))
def test_only_the_right_kinds_spawn(event_type: str) -> None:
    for kind in ("worker", "reviewer", "observer"):
        with pytest.raises(TopologyViolation, match="cannot start agents"):
            check_emission(kind, event_type)
    if event_type == "goal.accepted":
        check_emission("controller", event_type)
        with pytest.raises(TopologyViolation, match="may not accept goals"):
            check_emission("supervisor", event_type)
    else:
        check_emission("supervisor", event_type)
        with pytest.raises(TopologyViolation, match="only start supervisors"):
            check_emission("controller", event_type)


def test_reports_are_allowed_to_everyone() -> None:
    for kind in ("controller", "supervisor", "worker", "reviewer", "observer"):
        check_emission(kind, "task.progress")
        check_emission(kind, "context.updated")


def test_nesting_is_capped_at_three_levels() -> None:
    assert MAX_SUPERVISOR_LEVELS == 3
    for ancestors in range(MAX_SUPERVISOR_LEVELS):
        check_nesting(ancestors)
    with pytest.raises(TopologyViolation, match="level-4 supervisor"):
        check_nesting(3)


def test_trace_context_is_derived_and_well_formed() -> None:
    header = traceparent("goal-1", "01J9Z6N3V6E2K1X4W0M8QH7R5T")
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", header)
    assert header == traceparent("goal-1", "01J9Z6N3V6E2K1X4W0M8QH7R5T")
    assert trace_id("goal-1") != trace_id("goal-2")
    assert span_id("a") != span_id("b")
    assert header.split("-")[1] == trace_id("goal-1")
