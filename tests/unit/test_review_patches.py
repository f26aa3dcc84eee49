"""Patches, merges, signatures and the conflicts between fixes: pure functions."""

from __future__ import annotations

import pytest

from callsheet.review.conflicts import (
    Fix,
    conflict_id,
    file_clashes,
    rank_perspective,
    signature_clashes,
    winner,
)
from callsheet.review.patches import changed_signatures, merge, public_signatures, unified

BASE = (
    "import sys\nimport os\n\n\ndef f(x):\n    return x\n\n\ndef g(items=[]):\n    return items\n"
)


def test_a_diff_names_the_file_relative_to_the_root_and_marks_a_missing_newline() -> None:
    diff = unified("pkg/m.py", "a = 1\n", "a = 2")
    assert diff.startswith("--- a/pkg/m.py\n+++ b/pkg/m.py\n")
    assert diff.endswith("+a = 2\n\\ No newline at end of file\n")
    assert unified("pkg/m.py", "same\n", "same\n") == ""


def test_independent_hunks_merge_and_overlapping_ones_conflict() -> None:
    style = BASE.replace("import sys\nimport os\n", "import os\nimport sys\n")
    bugs = BASE.replace("def g(items=[]):\n", "def g(items=None):\n")
    merged = merge(BASE, style, bugs)
    assert merged.text == style.replace("def g(items=[]):\n", "def g(items=None):\n")
    other = BASE.replace("def g(items=[]):\n", "def g(items=()):\n")
    clash = merge(BASE, bugs, other)
    assert clash.text is None and clash.conflicts == ((9, 9),)


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    same = BASE.replace("return x", "return x + 0")
    assert merge(BASE, same, same).text == same


def test_public_signatures_are_functions_classes_and_methods_not_private_names() -> None:
    text = (
        "def f(a, b=1, *args, c, d=2, **kw) -> int: ...\n"
        "def _hidden(): ...\n"
        "class K(Base):\n    def __init__(self, x): ...\n    def m(self): ...\n"
        "    def _p(self): ...\n"
    )
    found = public_signatures(text)
    assert sorted(found) == ["K", "K.__init__", "K.m", "f"]
    f = found["f"]
    assert f.text == "def f(a, b=1, *args, c, d=2, **kw) -> int"
    assert (f.positional, f.keyword, f.required, f.required_keyword, f.star) == (
        ("a", "b"),
        ("c", "d"),
        1,
        ("c",),
        (True, True),
    )
    assert found["K"].text == "class K(Base)"
    assert public_signatures("def broken(:\n") == {}


@pytest.mark.parametrize(
    ("after", "compatible"),
    [
        ("def f(a, b=None): ...", True),  # a default changed
        ("def f(a: int, b: list[int] = []) -> None: ...", True),  # annotations
        ("def f(a, b=[], c=None): ...", True),  # an optional parameter added at the end
        ("def f(a, b=[], *, key=None): ...", True),  # an optional keyword-only one
        ("def f(a, b): ...", False),  # b now required
        ("def f(a): ...", False),  # b removed
        ("def f(x, b=[]): ...", False),  # a renamed (f(a=1) breaks)
        ("def f(a, c, b=[]): ...", False),  # a parameter inserted
        ("def f(a, b=[], *, key): ...", False),  # a required keyword-only one
    ],
)
def test_a_new_signature_accepts_the_old_calls_or_not(after: str, compatible: bool) -> None:
    ((old, new),) = changed_signatures("def f(a, b=[]): ...", after)
    assert new is not None and new.accepts_calls_of(old) is compatible


def test_a_removed_function_or_changed_bases_are_changes_calls_notice() -> None:
    ((old, new),) = changed_signatures("def f(): ...\ndef g(): ...\n", "def g(): ...\n")
    assert old.name == "f" and new is None
    ((old, new),) = changed_signatures("class K(A): ...\n", "class K(B): ...\n")
    assert new is not None and not new.accepts_calls_of(old)
    assert changed_signatures("def f(a): return 1\n", "def f(a): return 2\n") == []


def fix(task: str, perspective: str, before: str, after: str, path: str = "m.py") -> Fix:
    return Fix(f"{task}-r1", task, path, perspective, before, after)  # type: ignore[arg-type]


def test_file_clashes_are_between_tasks_fixing_the_same_text_of_one_file() -> None:
    style = fix("fix-style", "style", BASE, BASE.replace("import sys\nimport os\n", "import os\n"))
    bugs = fix("fix-bugs", "bugs", BASE, BASE.replace("items=[]", "items=None"))
    (clash,) = file_clashes(bugs, [style])
    assert clash.independent and clash.first is style and clash.second is bugs
    assert file_clashes(bugs, [fix("fix-bugs", "bugs", BASE, BASE + "\n")]) == []  # own round
    on_top = fix("fix-style", "style", bugs.after, bugs.after.replace("import sys\n", ""))
    assert file_clashes(on_top, [bugs]) == []  # made on top of it: no clash
    elsewhere = fix("fix-style", "style", BASE, BASE + "x = 1\n", path="n.py")
    assert file_clashes(bugs, [elsewhere]) == []
    overlapping = fix("fix-style", "style", BASE, BASE.replace("items=[]", "items=()"))
    (clash,) = file_clashes(bugs, [overlapping])
    assert not clash.independent and clash.lines == ((9, 9),)


def test_security_wins_then_bugs_then_the_rest() -> None:
    order = sorted(["style", "complexity", "bugs", "tests", "security"], key=rank_perspective)
    assert order == ["security", "bugs", "tests", "complexity", "style"]
    a, b = fix("fix-style", "style", BASE, BASE), fix("fix-bugs", "bugs", BASE, BASE)
    assert winner(a, b) == (b, a) and winner(b, a) == (b, a)


def test_a_conflict_id_is_the_same_whichever_order_the_parties_come_in() -> None:
    assert conflict_id("file", "p1", "p2") == conflict_id("file", "p2", "p1")
    assert conflict_id("file", "p1", "p2") != conflict_id("design", "p1", "p2")


def test_signature_clashes_name_the_callers_and_whether_calls_still_work() -> None:
    contract = {"functions": {"g": "def g(items=[])"}}
    changed = fix("fix-bugs", "bugs", BASE, BASE.replace("items=[]", "items=None"))
    (sig,) = signature_clashes(changed, contract, {"g": ["pkg/use.py"]})
    assert (sig.name, sig.before, sig.after, sig.callers, sig.compatible) == (
        "g",
        "def g(items=[])",
        "def g(items=None)",
        ("pkg/use.py",),
        True,
    )
    removed = fix("fix-bugs", "bugs", BASE, BASE.replace("def g(items=[]):", "def g():"))
    (sig,) = signature_clashes(removed, contract, {})
    assert not sig.compatible and sig.callers == ()
    assert signature_clashes(changed, None, {}) == []
    assert signature_clashes(changed, {"functions": {"f": "def f(x)"}}, {}) == []  # g not in it
