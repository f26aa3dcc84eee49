"""The codec's own limits: ids in UTF-8 bytes, nesting depth; nothing else escapes decode."""

from __future__ import annotations

import json

import msgspec
import pytest

from callsheet.events import codec
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalSubmitted,
    GoalSubmittedData,
    PlannedTask,
    PlanProposed,
    PlanProposedData,
)
from callsheet.events.errors import EventDecodeError
from callsheet.events.ids import MAX_ID_BYTES, fit_id_bytes, id_size_problem
from callsheet.events.subjects import encode_token

EMOJI = "\U0001f600"  # four UTF-8 bytes


def goal(goal_id: str = "g", requested_by: str | None = None) -> GoalSubmitted:
    return GoalSubmitted.new(
        data=GoalSubmittedData(title="t", requested_by=requested_by),
        goal_id=goal_id,
        producer="svc",
    )


def test_an_id_within_the_characters_but_over_the_bytes_is_refused_both_ways() -> None:
    event = goal(EMOJI * 65)  # 65 characters, 260 bytes: was accepted, then broke the subject
    with pytest.raises(EventDecodeError, match="260 UTF-8 bytes, over the limit of 128") as exc:
        codec.decode(codec.encode(event))
    assert exc.value.field == "$.correlation_id"
    with pytest.raises(EventDecodeError, match="over the limit"):
        codec.encode_validated(event)
    # The same through \\u escapes in pure ASCII JSON.
    escaped = json.dumps(msgspec.json.decode(codec.encode(event))).encode()
    assert escaped.isascii()
    with pytest.raises(EventDecodeError, match="over the limit"):
        codec.decode(escaped)


def test_the_limit_is_exactly_what_a_subject_token_holds() -> None:
    fits = goal(EMOJI * (MAX_ID_BYTES // 4))
    assert codec.decode(codec.encode(fits)) == fits
    encode_token(fits.goal_id)  # storable
    assert id_size_problem(fits.goal_id) is None
    assert id_size_problem("é" * (MAX_ID_BYTES // 2) + "a") is not None
    assert id_size_problem("") is not None


def test_ids_nested_in_data_are_checked_with_their_path() -> None:
    plan = PlanProposed.new(
        data=PlanProposedData(
            plan_version=1,
            tasks=[PlannedTask(task_id="t1", title="t", role="r", depends_on=["ok", "é" * 65])],
        ),
        goal_id="g",
        producer="s",
    )
    with pytest.raises(EventDecodeError) as exc:
        codec.decode(codec.encode(plan))
    assert exc.value.field == "$.data.tasks[0].depends_on[1]"
    with pytest.raises(EventDecodeError):
        codec.encode_validated(plan)
    refused = goal(requested_by="é" * 65)
    with pytest.raises(EventDecodeError) as exc:
        codec.from_dict(codec.to_dict(refused))
    assert exc.value.field == "$.data.requested_by"


def deep_note(depth: int) -> bytes:
    note = ContextUpdated.new(
        data=ContextUpdatedData(key="k", kind="note", value=1, author="a"),
        goal_id="g",
        producer="a",
    )
    return codec.encode(note).replace(b'"value":1', b'"value":' + b"[" * depth + b"]" * depth)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_a_decode_error_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(EventDecodeError, match="nested too deeply"):
        codec.decode(deep_note(depth))
    with pytest.raises(EventDecodeError, match="nested too deeply"):
        codec.decode(b"[" * depth + b"]" * depth)
    with pytest.raises(EventDecodeError, match="nested too deeply"):
        codec.decode_trusted(deep_note(depth))


def test_deep_nesting_built_in_code_cannot_be_encoded_for_the_log() -> None:
    value: list[object] = []
    for _ in range(5_000):
        value = [value]
    note = ContextUpdated.new(
        data=ContextUpdatedData(key="k", kind="note", value=value, author="a"),
        goal_id="g",
        producer="a",
    )
    with pytest.raises(EventDecodeError, match="nested too deeply"):
        codec.encode_validated(note)


def test_a_derived_id_is_cut_to_whole_characters_within_the_limit() -> None:
    cut = fit_id_bytes("esdb-" + "é" * 64)  # 133 bytes: the esdb producer of a long goal
    assert len(cut.encode()) == 127 and id_size_problem(cut) is None
    assert fit_id_bytes("plain") == "plain"
