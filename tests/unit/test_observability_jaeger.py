"""The Jaeger JSON file, checked against a fixture written from Jaeger's documented upload format.

``tests/fixtures/jaeger_upload.json`` was written by hand from the shape the
Jaeger UI's "JSON File" upload reads (the query service's ``/api/traces``
answer); nothing of callsheet made it. Every path and value type of our file
must be one the fixture has, and every key the fixture has must be in ours.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callsheet.events.catalog import (
    AgentError,
    AgentErrorData,
    AnyEvent,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
)
from callsheet.events.store import StoredEvent
from callsheet.events.tracing import span_id, trace_id
from callsheet.observability import spans_for
from callsheet.observability.jaeger import jaeger_document

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "jaeger_upload.json").read_text())
_DYNAMIC = {"processes"}  # objects keyed by process id


def paths(value: Any, path: str = "") -> dict[str, set[str]]:
    """Every path of a JSON value and the JSON types seen there."""
    found: dict[str, set[str]] = defaultdict(set)
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        found[where].add(type(item).__name__)
        if isinstance(item, dict):
            for key, inner in item.items():
                name = "*" if where.rsplit(".", 1)[-1] in _DYNAMIC else key
                stack.append((f"{where}.{name}", inner))
        elif isinstance(item, list):
            stack.extend((f"{where}[]", inner) for inner in item)
    return found


def required_keys(value: Any, path: str = "") -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict) and where.rsplit(".", 1)[-1] not in _DYNAMIC:
            keys.setdefault(where, set(item)).intersection_update(item)
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif isinstance(item, dict):
            stack.extend((f"{where}.*", v) for v in item.values())
        elif isinstance(item, list):
            stack.extend((f"{where}[]", v) for v in item)
    return keys


def stored(event: AnyEvent, seq: int, at: datetime) -> StoredEvent:
    return StoredEvent(seq, f"cs.ev.{event.goal_id}", at, event)


def goal_events() -> list[StoredEvent]:
    t0 = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)
    submitted = GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g1", producer="cli")
    assigned = TaskAssigned.new(
        data=TaskAssignedData(role="backend"), goal_id="g1", task_id="t1",
        producer="supervisor", causation_id=submitted.id,
    )  # fmt: skip
    error = AgentError.new(
        data=AgentErrorData(agent="w", kind="handler_error", error="boom", event_id=assigned.id),
        goal_id="g1", producer="backend-1", causation_id=assigned.id,
    )  # fmt: skip
    return [
        stored(submitted, 1, t0),
        stored(assigned, 2, t0 + timedelta(milliseconds=12)),
        stored(error, 3, t0 + timedelta(milliseconds=30)),
    ]


def test_the_file_has_only_the_paths_and_types_of_the_documented_format() -> None:
    ours = jaeger_document(spans_for(goal_events()))
    documented = paths(FIXTURE)
    for where, types in paths(ours).items():
        assert where in documented, f"{where} is not in Jaeger's format"
        # null where the fixture has null (warnings, errors); ints may stand for floats.
        allowed = documented[where] | ({"int"} if "float" in documented[where] else set())
        assert types <= allowed, (where, types, documented[where])
    ours_keys = required_keys(ours)
    for where, keys in required_keys(FIXTURE).items():
        if where in ours_keys:
            assert keys <= ours_keys[where], (where, keys - ours_keys[where])
    assert set(ours_keys[""]) == {"data", "total", "limit", "offset", "errors"}


def test_the_file_says_what_the_trace_says() -> None:
    events = goal_events()
    (trace,) = jaeger_document(spans_for(events))["data"]
    assert trace["traceID"] == trace_id("g1")
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert set(spans) == {span_id(s.event.id) for s in events}
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    for item in events:
        span = spans[span_id(item.event.id)]
        assert services[span["processID"]] == item.event.producer
        cause = item.event.causation_id
        refs = [(r["refType"], r["spanID"]) for r in span["references"]]
        assert refs == ([("CHILD_OF", span_id(cause))] if cause else [])
        assert span["startTime"] + span["duration"] == int(item.stored_at.timestamp() * 1e6)
        for tag in span["tags"]:
            kind = {"string": str, "bool": bool, "int64": int, "float64": float}[tag["type"]]
            assert type(tag["value"]) is kind, tag
    assigned = spans[span_id(events[1].event.id)]
    assert assigned["duration"] == 12_000  # from its cause's storage to its own, in µs
    assert assigned["operationName"] == "task.assigned t1"
    tags = {t["key"]: t["value"] for t in assigned["tags"]}
    assert tags["callsheet.task.id"] == "t1" and tags["span.kind"] == "consumer"
    failed = {t["key"]: t["value"] for t in spans[span_id(events[2].event.id)]["tags"]}
    assert failed["error"] is True and failed["otel.status_code"] == "ERROR"
    assert len(services) == 3


def test_each_goal_is_one_trace_of_the_file() -> None:
    other = GoalSubmitted.new(data=GoalSubmittedData(title="u"), goal_id="g2", producer="cli")
    events = [*goal_events(), stored(other, 4, datetime.now(UTC))]
    document = jaeger_document(spans_for(events))
    assert [t["traceID"] for t in document["data"]] == [trace_id("g1"), trace_id("g2")]
    assert [len(t["spans"]) for t in document["data"]] == [3, 1]
