"""The bounded topology and the trace ids of agents' events (no server)."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from callsheet.agents import MAX_SUPERVISOR_LEVELS, AgentKind, TopologyViolation
from callsheet.agents.topology import SPAWN_TYPES, check_emission, check_nesting
from callsheet.agents.tracing import span_id, trace_id, traceparent
from callsheet.events.catalog import EVENT_TYPES

KINDS: tuple[AgentKind, ...] = get_args(AgentKind)
ALLOWED: dict[AgentKind, set[str]] = {
    "controller": {"goal.accepted"},
    "supervisor": {
        "plan.proposed",
        "plan.replanned",
        "task.planned",
        "task.assigned",
        "task.reassigned",
    },
    "worker": set(),
    "reviewer": set(),
    "observer": set(),
}
TRACEPARENT_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def test_the_kinds_and_spawning_types_are_the_documented_ones() -> None:
    assert set(KINDS) == set(ALLOWED)
    assert set().union(*ALLOWED.values()) == SPAWN_TYPES
    assert set(EVENT_TYPES) >= SPAWN_TYPES


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_check_emission_for_every_kind_and_type(kind: AgentKind, event_type: str) -> None:
    if event_type not in SPAWN_TYPES or event_type in ALLOWED[kind]:
        check_emission(kind, event_type)  # reports and non-spawning events: anyone
        return
    with pytest.raises(TopologyViolation) as caught:
        check_emission(kind, event_type)
    message = str(caught.value)
    if kind == "controller":
        assert "only start supervisors" in message and event_type in message
    elif kind == "supervisor":
        assert event_type == "goal.accepted" and "may not accept goals" in message
    else:
        assert f"a {kind} cannot start agents" in message and event_type in message


def test_nesting_is_capped_at_three_supervisor_levels() -> None:
    assert MAX_SUPERVISOR_LEVELS == 3
    check_nesting(0)  # a top-level task: level 1
    check_nesting(1)  # a sub-task: level 2
    check_nesting(2)  # a sub-sub-task: level 3
    for ancestors in (3, 4, 10):
        with pytest.raises(TopologyViolation, match=f"level-{ancestors + 1} supervisor"):
            check_nesting(ancestors)
    with pytest.raises(TopologyViolation, match="capped at 3 levels"):
        check_nesting(MAX_SUPERVISOR_LEVELS)


@pytest.mark.parametrize("correlation", ["g", "goal-1", "01J9Z6N3V6E2K1X4W0M8QH7R5T", "é/ü"])
def test_trace_ids_are_32_hex_and_deterministic(correlation: str) -> None:
    value = trace_id(correlation)
    assert re.fullmatch(r"[0-9a-f]{32}", value) and value.strip("0")
    assert trace_id(correlation) == value
    assert trace_id(correlation + "x") != value


@pytest.mark.parametrize(
    "event_id", ["e", "01J9Z6N3V6E2K1X4W0M8QH7R5T", "01J9Z6N3V6E2K1X4W0M8QH7R5V"]
)
def test_span_ids_are_16_hex_and_deterministic(event_id: str) -> None:
    value = span_id(event_id)
    assert re.fullmatch(r"[0-9a-f]{16}", value) and value.strip("0")
    assert span_id(event_id) == value
    assert span_id(event_id + "x") != value


def test_trace_and_span_ids_do_not_collide_for_the_same_input() -> None:
    # Different domains: the same string makes unrelated ids.
    assert trace_id("same")[:16] != span_id("same")


def test_traceparent_is_w3c_version_00_sampled() -> None:
    header = traceparent("goal-1", "01J9Z6N3V6E2K1X4W0M8QH7R5T")
    match = TRACEPARENT_RE.fullmatch(header)
    assert match is not None
    assert match.group(1) == trace_id("goal-1")
    assert match.group(2) == span_id("01J9Z6N3V6E2K1X4W0M8QH7R5T")
    assert header == traceparent("goal-1", "01J9Z6N3V6E2K1X4W0M8QH7R5T")
    # One goal is one trace; each event its own span.
    other = traceparent("goal-1", "01J9Z6N3V6E2K1X4W0M8QH7R5V")
    assert other.split("-")[1] == header.split("-")[1]
    assert other.split("-")[2] != header.split("-")[2]
    assert traceparent("goal-2", "01J9Z6N3V6E2K1X4W0M8QH7R5T").split("-")[1] != match.group(1)


def test_tracing_is_the_events_tracing() -> None:
    from callsheet.events import tracing

    assert (trace_id, span_id, traceparent) == (
        tracing.trace_id,
        tracing.span_id,
        tracing.traceparent,
    )
