"""The subject taxonomy: id tokens, event subjects and the filters over them."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callsheet.events.catalog import EVENT_TYPES
from callsheet.events.errors import SubjectError
from callsheet.events.subjects import (
    DEFAULT_ROOT,
    MAX_ID_BYTES,
    NONE_TOKEN,
    decode_token,
    encode_token,
    entity_filter,
    event_subject,
    goal_filter,
    parse_subject,
    role_work_filter,
    stream_filter,
    type_filter,
)

PROPERTY = settings(max_examples=100, deadline=None)

TRICKY = st.sampled_from(
    [
        ".",
        "*",
        ">",
        " ",
        "~",
        "\t",
        "\n",
        "\r",
        "\x00",
        "é",
        "ß",
        "漢",
        "🎬",
        "😀",
        "𝄞",
        "\U0010fffd",
    ]
)
"""Characters that would break a NATS subject, or need several UTF-8 bytes."""


def _fits(value: str) -> bool:
    return len(value.encode("utf-8")) <= MAX_ID_BYTES


ids = st.text(alphabet=st.characters(codec="utf-8") | TRICKY, min_size=1, max_size=80).filter(_fits)
"""Any non-empty, surrogate-free text id up to the byte limit."""
roots = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)
event_types = st.sampled_from(sorted(EVENT_TYPES)) | st.from_regex(
    r"[a-z][a-z0-9_]{0,6}\.[a-z][a-z0-9_]{0,6}", fullmatch=True
)
TOKEN_RE = re.compile(r"[A-Za-z0-9_~-]+")


def nats_match(subject_filter: str, subject: str) -> bool:
    """NATS subject matching: ``*`` matches one token, a final ``>`` one or more."""
    pattern, tokens = subject_filter.split("."), subject.split(".")
    for i, want in enumerate(pattern):
        if want == ">":
            return i == len(pattern) - 1 and len(tokens) > i
        if i >= len(tokens) or (want not in ("*", tokens[i])):
            return False
    return len(pattern) == len(tokens)


@pytest.mark.parametrize(
    ("subject_filter", "subject", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("*.b.>", "x.b.y", True),
        ("a.b.c", "a.b", False),
    ],
)
def test_nats_match_itself(subject_filter: str, subject: str, expected: bool) -> None:
    assert nats_match(subject_filter, subject) is expected


# Tokens


@PROPERTY
@given(value=ids)
def test_token_roundtrip(value: str) -> None:
    token = encode_token(value)
    assert decode_token(token) == value
    assert TOKEN_RE.fullmatch(token), token
    for bad in (".", "*", ">", " ", "\t", "\n", "\r"):
        assert bad not in token
    assert not any(ch.isspace() for ch in token)
    assert token != NONE_TOKEN


@PROPERTY
@given(a=ids, b=ids)
def test_tokens_are_injective(a: str, b: str) -> None:
    assert (encode_token(a) == encode_token(b)) is (a == b)


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("task-1_A", "task-1_A"),
        ("a.b", "a~2Eb"),
        ("~", "~7E"),
        ("*", "~2A"),
        (">", "~3E"),
        ("a b", "a~20b"),
        ("é", "~C3~A9"),
        ("🎬", "~F0~9F~8E~AC"),
    ],
)
def test_token_examples(value: str, token: str) -> None:
    assert encode_token(value) == token
    assert decode_token(token) == value


def test_byte_limit() -> None:
    assert decode_token(encode_token("a" * MAX_ID_BYTES)) == "a" * MAX_ID_BYTES
    assert decode_token(encode_token("é" * (MAX_ID_BYTES // 2))) == "é" * (MAX_ID_BYTES // 2)
    with pytest.raises(SubjectError, match="over the limit"):
        encode_token("a" * (MAX_ID_BYTES + 1))
    with pytest.raises(SubjectError, match="over the limit"):
        encode_token("é" * (MAX_ID_BYTES // 2) + "a")


def test_empty_id() -> None:
    with pytest.raises(SubjectError, match="empty"):
        encode_token("")


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb"])
def test_lone_surrogates_are_refused(value: str) -> None:
    # Such a token could never be decoded back; refuse it up front.
    with pytest.raises(SubjectError):
        encode_token(value)


@pytest.mark.parametrize(
    "token", ["", NONE_TOKEN, "a.b", "a*", "~2", "~zz", "~2e", "a b", "~FF", "é"]
)
def test_bad_tokens(token: str) -> None:
    with pytest.raises(SubjectError):
        decode_token(token)


# Event subjects


@PROPERTY
@given(
    goal=ids,
    task=st.none() | ids,
    role=st.none() | ids,
    event_type=event_types,
    root=roots,
)
def test_subject_roundtrip(
    goal: str, task: str | None, role: str | None, event_type: str, root: str
) -> None:
    subject = event_subject(goal, task, event_type, role, root=root)
    tokens = subject.split(".")
    assert len(tokens) == 8
    assert all(TOKEN_RE.fullmatch(token) for token in tokens[:6]), subject
    assert tokens[1] == "ev"
    assert tokens[3] == ("goal" if task is None else "task")
    assert tokens[4] == encode_token(goal if task is None else task)
    parsed = parse_subject(subject)
    assert parsed.root == root
    assert parsed.goal_id == goal
    assert parsed.task_id == task
    assert parsed.role == role
    assert parsed.event_type == event_type
    assert nats_match(stream_filter(root), subject)


def test_subject_example() -> None:
    assert (
        event_subject("g.1", "t 1", "task.assigned", "coder")
        == "cs.ev.g~2E1.task.t~201.coder.task.assigned"
    )
    assert event_subject("g", None, "goal.submitted") == "cs.ev.g.goal.g.~.goal.submitted"
    assert DEFAULT_ROOT == "cs"


# Filters: each matches the subjects it should and no others.


@PROPERTY
@given(goal=ids, other=ids, task=st.none() | ids, role=st.none() | ids, event_type=event_types)
def test_goal_filter(
    goal: str, other: str, task: str | None, role: str | None, event_type: str
) -> None:
    assert nats_match(goal_filter(goal), event_subject(goal, task, event_type, role))
    assert nats_match(goal_filter(goal), event_subject(other, task, event_type, role)) is (
        goal == other
    )
    assert not nats_match(goal_filter(goal, root="x"), event_subject(goal, task, event_type))


@PROPERTY
@given(
    goal=ids, other_goal=ids, task=ids, other_task=ids, role=st.none() | ids, event_type=event_types
)
def test_entity_filter(
    goal: str, other_goal: str, task: str, other_task: str, role: str | None, event_type: str
) -> None:
    goal_entity, task_entity = entity_filter(goal), entity_filter(goal, task)
    goal_level = event_subject(goal, None, event_type, role)
    task_level = event_subject(goal, task, event_type, role)
    assert nats_match(goal_entity, goal_level)
    assert nats_match(task_entity, task_level)
    # A goal's own range holds no task's events, and a task's range no goal-level events.
    assert not nats_match(goal_entity, task_level)
    assert not nats_match(task_entity, goal_level)
    other_task_level = event_subject(goal, other_task, event_type, role)
    assert nats_match(task_entity, other_task_level) is (task == other_task)
    other_goal_level = event_subject(other_goal, None, event_type, role)
    assert nats_match(goal_entity, other_goal_level) is (goal == other_goal)
    other_goal_task = event_subject(other_goal, task, event_type, role)
    assert nats_match(task_entity, other_goal_task) is (goal == other_goal)


@PROPERTY
@given(
    goal=ids,
    task=st.none() | ids,
    role=st.none() | ids,
    event_type=event_types,
    other_type=event_types,
    other_goal=ids,
)
def test_type_filter(
    goal: str,
    task: str | None,
    role: str | None,
    event_type: str,
    other_type: str,
    other_goal: str,
) -> None:
    subject = event_subject(goal, task, other_type, role)
    assert nats_match(type_filter(event_type), event_subject(goal, task, event_type, role))
    assert nats_match(type_filter(event_type), subject) is (event_type == other_type)
    category = event_type.split(".")[0]
    same_category = other_type.split(".")[0] == category
    assert nats_match(type_filter(f"{category}.*"), subject) is same_category
    scoped = type_filter(event_type, goal_id=other_goal)
    assert nats_match(scoped, event_subject(goal, task, event_type, role)) is (goal == other_goal)


@PROPERTY
@given(
    goal=ids,
    task=ids,
    role=ids,
    other_role=st.none() | ids,
    event_type=event_types,
)
def test_role_work_filter(
    goal: str, task: str, role: str, other_role: str | None, event_type: str
) -> None:
    work = role_work_filter(role)
    assert nats_match(work, event_subject(goal, task, "task.assigned", role))
    assert nats_match(work, event_subject(goal, task, "task.assigned", other_role)) is (
        role == other_role
    )
    assert nats_match(work, event_subject(goal, task, event_type, role)) is (
        event_type == "task.assigned"
    )
    assert not nats_match(work, event_subject(goal, None, "task.assigned", role))


def test_filter_examples() -> None:
    assert stream_filter() == "cs.ev.>"
    assert goal_filter("g") == "cs.ev.g.>"
    assert entity_filter("g") == "cs.ev.g.goal.g.>"
    assert entity_filter("g", "t.1") == "cs.ev.g.task.t~2E1.>"
    assert type_filter("task.assigned") == "cs.ev.*.*.*.*.task.assigned"
    assert type_filter("task.*", root="t1") == "t1.ev.*.*.*.*.task.*"
    assert role_work_filter("a b") == "cs.ev.*.task.*.a~20b.task.assigned"


# Errors


@pytest.mark.parametrize("bad", ["", "x" * (MAX_ID_BYTES + 1)], ids=["empty", "oversize"])
def test_bad_ids_raise(bad: str) -> None:
    builds: list[Callable[[], str]] = [
        lambda: event_subject(bad, None, "goal.submitted"),
        lambda: event_subject("g", bad, "task.started"),
        lambda: event_subject("g", "t", "task.assigned", bad),
        lambda: goal_filter(bad),
        lambda: entity_filter(bad),
        lambda: entity_filter("g", bad),
        lambda: type_filter("task.assigned", goal_id=bad),
        lambda: role_work_filter(bad),
    ]
    for build in builds:
        with pytest.raises(SubjectError):
            build()


@pytest.mark.parametrize(
    "bad_type",
    [
        "",
        "task",
        "Task.Assigned",
        "task.assigned.now",
        "task.*",
        "*.assigned",
        "task.",
        ".x",
        "1a.b",
    ],
)
def test_bad_types_raise(bad_type: str) -> None:
    with pytest.raises(SubjectError, match=r"category\.action"):
        event_subject("g", "t", bad_type)


@pytest.mark.parametrize("bad_type", ["", "task", "*.assigned", "*.*", "task.>", "Task.*"])
def test_bad_type_filters_raise(bad_type: str) -> None:
    with pytest.raises(SubjectError):
        type_filter(bad_type)


@pytest.mark.parametrize("root", ["", "a.b", "c s", "*", ">", "é"])
def test_bad_roots_raise(root: str) -> None:
    with pytest.raises(SubjectError, match="root"):
        event_subject("g", None, "goal.submitted", root=root)
    with pytest.raises(SubjectError, match="root"):
        stream_filter(root)


@pytest.mark.parametrize(
    "subject",
    [
        "cs.ev.g.goal.g.~.goal",
        "cs.ev.g.goal.g.~.goal.submitted.x",
        "cs.in.g.goal.g.~.goal.submitted",
        "cs.ev.g.team.g.~.goal.submitted",
        "cs.ev.g.goal.h.~.goal.submitted",
        "cs.ev.g.task..~.task.started",
        "cs.ev.g~zz.goal.g~zz.~.goal.submitted",
        "cs.ev.g.task.t.~.Task.Started",
        "cs.ev.g.task.t.*.task.started",
        ".ev.g.goal.g.~.goal.submitted",
        "*.ev.g.goal.g.~.goal.submitted",
    ],
)
def test_parse_refuses_non_event_subjects(subject: str) -> None:
    with pytest.raises(SubjectError):
        parse_subject(subject)
