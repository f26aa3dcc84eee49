"""The review's replanning: the scope grammar, splitting a failed task, what replaced what."""

from __future__ import annotations

import pytest

from callsheet.events.catalog import PlannedTask
from callsheet.projections.board import TaskCard
from callsheet.review.replanning import _halves, _with_replacements, descoped, renamed
from callsheet.review.scope import ScopeChange, ScopeError, parse_scope, rescoped


@pytest.mark.parametrize(
    ("text", "add", "drop"),
    [
        ("also check security", ("security",), ()),
        ("security", ("security",), ()),
        ("Also check the tests folder", ("tests",), ()),
        ("add bugs and performance", ("bugs", "complexity"), ()),
        ("skip style", (), ("style",)),
        ("no complexity, but check the tests", ("tests",), ("complexity",)),
        ("leave out formatting; include typing too", ("tests",), ("style",)),
        ("stop checking style and add security", ("security",), ("style",)),
    ],
)
def test_a_scope_change_reads_what_to_add_and_what_to_skip(
    text: str, add: tuple[str, ...], drop: tuple[str, ...]
) -> None:
    assert parse_scope(text) == ScopeChange(add, drop)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("also check the docs", "'docs' is not understood"),
        ("please", "no perspective named"),
        ("", "no perspective named"),
        ("check style but skip style", "style is both added and skipped"),
        ("check security; rm -rf /", "'rm' is not understood"),
    ],
)
def test_a_scope_change_that_cannot_be_read_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(ScopeError, match=message):
        parse_scope(text)


def test_changes_apply_in_order_and_unreadable_ones_change_nothing() -> None:
    asked = ["style"]
    assert rescoped(asked, []) == ["style"]  # type: ignore[arg-type]
    changes = ["also check security", "what?", "skip style", "add bugs"]
    assert rescoped(asked, changes) == ["security", "bugs"]  # type: ignore[arg-type]
    assert parse_scope("skip style, add security").describe() == "+security, -style"


def _card(files: list[str], sizes: list[int] | None = None, **inputs: object) -> TaskCard:
    given: dict[str, object] = {"files": files, "test_files": [f for f in files if "test" in f]}
    if sizes is not None:
        given.update(sizes=sizes, lines=sum(sizes))
    return TaskCard(
        task_id="analyze-bugs-01",
        title="Review",
        role="analyst",
        depends_on=("inventory",),
        inputs={**given, **inputs},
    )


def test_a_failed_task_is_halved_by_lines_keeping_its_other_inputs() -> None:
    card = _card(["a.py", "b.py", "c.py", "tests/test_c.py"], [900, 50, 50, 100], cache="x")
    first, second = _halves(card, list(card.inputs["files"]))
    assert (first.task_id, second.task_id) == ("analyze-bugs-01-a", "analyze-bugs-01-b")
    assert first.inputs["files"] == ["a.py"] and first.inputs["lines"] == 900
    assert second.inputs["files"] == ["b.py", "c.py", "tests/test_c.py"]
    assert second.inputs["sizes"] == [50, 50, 100] and second.inputs["lines"] == 200
    assert second.inputs["test_files"] == ["tests/test_c.py"] and first.inputs["test_files"] == []
    assert first.inputs["cache"] == "x" and first.depends_on == ["inventory"]


def test_a_verification_without_sizes_is_halved_by_count() -> None:
    card = _card(["a.py", "b.py", "c.py", "d.py"], analysis_tasks=["analyze"])
    first, second = _halves(card, list(card.inputs["files"]))
    assert first.inputs["files"] == ["a.py", "b.py"] and "sizes" not in first.inputs
    assert second.inputs["analysis_tasks"] == ["analyze"]


def test_tasks_read_with_what_replaced_them_recursively() -> None:
    swaps = {"analyze": ["analyze-a", "analyze-b"], "analyze-b": ["analyze-b-a"], "gone": []}
    assert _with_replacements(["analyze", "gone", "other"], swaps) == [
        "analyze",
        "gone",
        "other",
        "analyze-a",
        "analyze-b",
        "analyze-b-a",
    ]


def test_renaming_a_plan_renames_the_ids_it_names_among_itself_only() -> None:
    tasks = [
        PlannedTask(task_id="analyze", title="a", role="analyst"),
        PlannedTask(
            task_id="verify",
            title="v",
            role="verifier",
            depends_on=["analyze", "inventory"],
            inputs={"analysis_tasks": ["analyze", "inventory"]},
        ),
    ]
    first, second = renamed(tasks, "-v3")
    assert first.task_id == "analyze-v3" and second.task_id == "verify-v3"
    assert second.depends_on == ["analyze-v3", "inventory"]
    assert second.inputs["analysis_tasks"] == ["analyze-v3", "inventory"]


def test_only_tasks_a_scope_change_removed_count_as_descoped() -> None:
    removed = TaskCard(
        task_id="t", status="cancelled", reason="removed by replan: scope changed, 'skip x': ..."
    )
    failed = TaskCard(task_id="t", status="cancelled", reason="removed by replan: t dropped")
    assert descoped(removed) and not descoped(failed)


def test_a_person_with_a_long_non_ascii_name_is_still_a_valid_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from callsheet.cli.questions_cmd import person
    from callsheet.events.ids import MAX_ID_BYTES

    monkeypatch.setenv("USER", "é" * 100)  # 100 characters, 200 bytes
    who = person()
    assert who.startswith("human:é") and len(who.encode()) <= MAX_ID_BYTES
