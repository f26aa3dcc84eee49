"""Each kind of bad input raises one EventDecodeError naming the field and the problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from callsheet.events import codec
from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    ModelCalled,
    ModelCalledData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.events.errors import EventDecodeError

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EVENT_ID = "01JNBZ6N3V6E2K1X4W0M8QH7R5"


def progress(**data: Any) -> TaskProgress:
    return TaskProgress.new(
        data=TaskProgressData(**{"worker": "w-1", "percent": 40.0, **data}),
        goal_id="g-1",
        task_id="t-1",
        producer="worker",
        event_id=EVENT_ID,
        occurred_at=AT,
    )


def body(change: Callable[[dict[str, Any]], object] | None = None) -> bytes:
    """A valid task.progress envelope, optionally changed, as JSON bytes."""
    doc = codec.to_dict(progress())
    if change is not None:
        change(doc)
    return json.dumps(doc).encode()


def expect(data: bytes | str, field: str, *words: str, max_bytes: int | None = None) -> None:
    limit = codec.DEFAULT_MAX_EVENT_BYTES if max_bytes is None else max_bytes
    with pytest.raises(EventDecodeError) as info:
        codec.decode(data, max_bytes=limit)
    assert info.value.field == field, info.value
    for word in words:
        assert word in info.value.problem, info.value
    assert field in str(info.value)


def test_the_unchanged_body_is_valid() -> None:
    # Guards every test below: each one breaks exactly one thing.
    assert codec.decode(body()) == progress()
    assert codec.decode(body().decode()) == progress()


@pytest.mark.parametrize("data", [b"hello", b'{"type": ', b"", b"{'type': 1}", b"\xef\xbb\xbf{}"])
def test_not_json(data: bytes) -> None:
    expect(data, "$", "not valid JSON")


@pytest.mark.parametrize("data", [b"[1, 2]", b'"task.progress"', b"null", b"42"])
def test_json_but_not_an_object(data: bytes) -> None:
    expect(data, "$", "must be a JSON object")


def test_json_array_of_a_valid_event() -> None:
    expect(b"[" + body() + b"]", "$", "must be a JSON object")


def test_not_utf8() -> None:
    expect(b"\xff\xfe{}", "$", "not valid UTF-8", "offset 0")


def test_not_utf8_inside_a_string_value() -> None:
    data = body().replace(b'"w-1"', b'"w\xc3-1"')
    assert data != body()
    offset = data.index(b"\xc3")
    expect(data, "$", "not valid UTF-8", f"offset {offset}")


def test_str_input_with_a_lone_surrogate() -> None:
    text = body().decode().replace("w-1", "w\ud800")
    expect(text, "$", "not valid UTF-8")


def test_oversize() -> None:
    data = body()
    expect(data, "$", f"{len(data)} bytes", "limit of 100", max_bytes=100)
    assert codec.decode(data, max_bytes=len(data)) == progress()


def test_unknown_type() -> None:
    expect(
        body(lambda d: d.update(type="task.teleported")),
        "$.type",
        "task.teleported",
        "not a known event type",
    )


def test_missing_type() -> None:
    expect(body(lambda d: d.pop("type")), "$.type", "required but missing")


@pytest.mark.parametrize(
    "name", ["id", "occurred_at", "producer", "correlation_id", "goal_id", "data"]
)
def test_missing_envelope_field(name: str) -> None:
    expect(body(lambda d: d.pop(name)), f"$.{name}", "required but missing")


@pytest.mark.parametrize("name", ["worker", "percent"])
def test_missing_data_field(name: str) -> None:
    expect(body(lambda d: d["data"].pop(name)), f"$.data.{name}", "required but missing")


def test_unknown_envelope_field() -> None:
    expect(body(lambda d: d.update(priority=1)), "$.priority", "not a known field")


def test_unknown_data_field() -> None:
    expect(body(lambda d: d["data"].update(eta="soon")), "$.data.eta", "not a known field")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.update(producer=5), "$.producer", ("expected `str`", "got `int`")),
        (lambda d: d["data"].update(percent="40"), "$.data.percent", ("expected `float`", "`str`")),
        (lambda d: d.update(data=[]), "$.data", ("expected `object`", "`array`")),
        (lambda d: d.update(task_id=7), "$.task_id", ("expected `str | null`", "`int`")),
    ],
    ids=["envelope", "data", "data-not-object", "optional"],
)
def test_wrong_type(
    change: Callable[[dict[str, Any]], object], field: str, words: tuple[str, ...]
) -> None:
    expect(body(change), field, *words)


def test_percent_over_100() -> None:
    expect(body(lambda d: d["data"].update(percent=101)), "$.data.percent", "<= 100")


def test_attempt_zero() -> None:
    doc = codec.to_dict(
        TaskStarted.new(data=TaskStartedData(worker="w"), goal_id="g", task_id="t", producer="p")
    )
    doc["data"]["attempt"] = 0
    expect(json.dumps(doc).encode(), "$.data.attempt", ">= 1")
    with pytest.raises(EventDecodeError) as info:
        codec.from_dict(doc)
    assert info.value.field == "$.data.attempt"


@pytest.mark.parametrize(
    "bad_id",
    [
        "01jnbz6n3v6e2k1x4w0m8qh7r5",
        "01JNBZ6N3V6E2K1X4W0M8QH7R",
        "81JNBZ6N3V6E2K1X4W0M8QH7R5",
        "01JNBZ6N3V6E2K1X4W0M8QH7RU",
        "01JNBZ6N3V6E2K1X4W0M8QH7R5\n",
    ],
    ids=["lower-case", "short", "overflow", "letter-u", "trailing-newline"],
)
def test_bad_event_id(bad_id: str) -> None:
    expect(body(lambda d: d.update(id=bad_id)), "$.id", "matching regex")


def test_bad_causation_id() -> None:
    expect(body(lambda d: d.update(causation_id="not-an-id")), "$.causation_id", "matching regex")


@pytest.mark.parametrize("suffix", ["", "\n"], ids=["valid", "trailing-newline"])
def test_digest_pattern(suffix: str) -> None:
    event = ModelCalled.new(
        data=ModelCalledData(
            agent="a",
            provider="offline",
            model="m",
            request_digest="sha256:" + "0" * 64,
            response=1,
        ),
        goal_id="g",
        producer="p",
    )
    doc = codec.to_dict(event)
    doc["data"]["request_digest"] += suffix
    if suffix:
        expect(json.dumps(doc).encode(), "$.data.request_digest", "matching regex")
    else:
        assert codec.decode(json.dumps(doc).encode()) == event


def test_naive_datetime() -> None:
    data = body(lambda d: d.update(occurred_at="2025-03-01T12:00:00"))
    expect(data, "$.occurred_at", "timezone")


def test_task_level_type_without_task_id() -> None:
    expect(body(lambda d: d.update(task_id=None)), "$.task_id", "required for task.progress")
    expect(body(lambda d: d.pop("task_id")), "$.task_id", "required for task.progress")
    with pytest.raises(EventDecodeError, match="task_id"):
        codec.from_dict(codec.to_dict(progress()) | {"task_id": None})


def test_goal_level_type_without_task_id_is_fine() -> None:
    event = GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g", producer="p")
    assert codec.decode(codec.encode(event)) == event


def test_from_dict_refuses_non_objects() -> None:
    with pytest.raises(EventDecodeError) as info:
        codec.from_dict([codec.to_dict(progress())])
    assert info.value.field == "$"


def test_from_dict_is_strict() -> None:
    doc = codec.to_dict(progress())
    doc["data"]["percent"] = "40"
    with pytest.raises(EventDecodeError) as info:
        codec.from_dict(doc)
    assert info.value.field == "$.data.percent"


# validate(): constraints msgspec does not check when a Struct is built in code.


@pytest.mark.parametrize(
    ("event", "field", "word"),
    [
        (progress(percent=101.0), "$.data.percent", "<= 100"),
        (progress(percent=-1.0), "$.data.percent", ">= 0"),
        (progress(worker=""), "$.data.worker", "length >= 1"),
        (progress(percent=float("nan")), "$.data.percent", "null"),
        (
            TaskProgress(
                id="not-a-ulid",
                occurred_at=AT,
                producer="p",
                correlation_id="g",
                goal_id="g",
                task_id="t",
                data=TaskProgressData(worker="w", percent=1.0),
            ),
            "$.id",
            "regex",
        ),
        (
            TaskProgress.new(
                data=TaskProgressData(worker="w", percent=1.0),
                goal_id="g",
                task_id="t",
                producer="p",
                occurred_at=datetime(2025, 1, 1),  # naive: the point of the test
                event_id=EVENT_ID,
            ),
            "$.occurred_at",
            "timezone",
        ),
    ],
    ids=["percent-101", "percent-negative", "empty-id", "nan", "bad-id", "naive-datetime"],
)
def test_validate_catches_constructed_violations(event: Event, field: str, word: str) -> None:
    with pytest.raises(EventDecodeError) as info:
        codec.validate(event)
    assert info.value.field == field, info.value
    assert word in info.value.problem, info.value


def test_validate_requires_task_id_on_task_level_types() -> None:
    event = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=1.0), goal_id="g", producer="p"
    )
    with pytest.raises(EventDecodeError) as info:
        codec.validate(event)
    assert info.value.field == "$.task_id"


@pytest.mark.parametrize(
    "output",
    [object(), {("a", 1): 2}, "bad \ud800 surrogate"],
    ids=["object", "tuple-key", "lone-surrogate"],
)
def test_validate_refuses_unencodable_values(output: object) -> None:
    event = TaskResult.new(
        data=TaskResultData(worker="w", output=output), goal_id="g", task_id="t", producer="p"
    )
    with pytest.raises(EventDecodeError) as info:
        codec.validate(event)
    assert info.value.field == "$"
    assert "cannot be encoded" in info.value.problem


def test_validate_refuses_non_catalog_events() -> None:
    class Stray(Event, tag="stray.event", frozen=True):
        data: int

    stray = Stray(
        id=EVENT_ID, occurred_at=AT, producer="p", correlation_id="g", goal_id="g", data=1
    )
    with pytest.raises(EventDecodeError) as info:
        codec.validate(stray)
    assert info.value.field == "$.type"


@pytest.mark.parametrize(
    "output",
    [float("nan"), float("inf"), {"k": (1, 2)}, {1: "int key"}],
)
def test_validate_refuses_values_json_would_alter(output: object) -> None:
    from callsheet.events.catalog import TaskResult, TaskResultData
    from callsheet.events.codec import validate

    event = TaskResult.new(
        data=TaskResultData(worker="w", output=output), goal_id="g", task_id="t", producer="w"
    )
    with pytest.raises(EventDecodeError, match="would change when stored as JSON"):
        validate(event)
