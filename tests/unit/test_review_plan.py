"""The review's plan: a pure function of the inventory and the goal's review spec."""

from __future__ import annotations

import msgspec
import pytest

from callsheet.events.catalog import ReviewSpec
from callsheet.review.inventory import Inventory, SourceFile
from callsheet.review.plan import (
    ANALYST,
    FIXER,
    INVENTORY,
    LEARN_TASK,
    MAX_GROUPS,
    REPORTER,
    SMALL_LINES,
    VERIFIER,
    balanced_groups,
    defers_knowledge,
    inventory_task,
    module_groups,
    plan_review,
)


def source(path: str, lines: int, *, test: bool = False, parses: bool = True) -> SourceFile:
    return SourceFile(
        path=path, lines=lines, size=lines * 30, sha256="0" * 64, test=test, parses=parses
    )


def inventory(*files: SourceFile) -> Inventory:
    return Inventory(root="/src/project", files=list(files))


SPEC = ReviewSpec(path="/src/project")


def test_a_small_codebase_goes_to_one_worker_for_every_perspective() -> None:
    plan = plan_review(
        inventory(source("a.py", 300), source("tests/test_a.py", 50, test=True)), SPEC, "g"
    )
    ids = [t.task_id for t in plan.tasks]
    assert ids == ["analyze", "verify", "report"]
    analyze, verify, report = plan.tasks
    assert analyze.role == ANALYST
    assert analyze.inputs["perspectives"] == ["security", "bugs", "complexity", "style", "tests"]
    assert analyze.inputs["files"] == ["a.py", "tests/test_a.py"]
    assert analyze.inputs["test_files"] == ["tests/test_a.py"]
    assert analyze.inputs["sizes"] == [300, 50]
    assert verify.role == VERIFIER and verify.depends_on == ["analyze"]
    assert report.role == REPORTER and report.depends_on == ["verify"]
    assert "small enough for one worker" in plan.rationale


def test_split_perspective_makes_a_task_per_perspective_however_small() -> None:
    spec = msgspec.structs.replace(SPEC, split="perspective")
    plan = plan_review(inventory(source("a.py", 30)), spec, "g")
    analysis = [t.task_id for t in plan.tasks if t.role == ANALYST]
    assert analysis == [
        "analyze-tests",
        "analyze-security",
        "analyze-bugs",
        "analyze-complexity",
        "analyze-style",
    ]
    verify, tests = [t for t in plan.tasks if t.role == VERIFIER]
    assert set(verify.depends_on) == set(analysis) - {"analyze-tests"}
    assert tests.task_id == "verify-tests"
    assert tests.depends_on == ["analyze-tests", "verify"]
    assert tests.inputs["analysis_tasks"] == ["analyze-tests"]


def test_a_large_codebase_is_split_by_module_group_sized_by_lines() -> None:
    files = [source(f"pkg{p}/m{i}.py", 500) for p in range(4) for i in range(4)]  # 8000 lines
    files.append(source("tests/test_x.py", 400, test=True))
    spec = msgspec.structs.replace(SPEC, lines_per_task=2000)
    plan = plan_review(inventory(*files), spec, "g")
    groups = sorted(
        {
            t.task_id.rsplit("-", 1)[-1]
            for t in plan.tasks
            if t.task_id.startswith("analyze-security")
        }
    )
    assert groups == ["01", "02", "03", "04", "05"]
    security = [t for t in plan.tasks if t.task_id.startswith("analyze-security")]
    assert [t.inputs["lines"] for t in security] == [2000, 2000, 2000, 2000, 400]
    # A module group keeps a folder together.
    assert {f.split("/")[0] for f in security[0].inputs["files"]} == {"pkg0"}
    tests = next(t for t in plan.tasks if t.task_id == "analyze-tests")
    assert tests.inputs["perspectives"] == ["tests"] and len(tests.inputs["files"]) == len(files)
    assert tests.priority < security[0].priority  # the longest starts first
    verify = [t for t in plan.tasks if t.role == VERIFIER]
    assert len(verify) == 6
    # The groups are verified while the tests run; the tests' findings last, over them.
    assert verify[-1].task_id == "verify-tests"
    assert verify[-1].depends_on == ["analyze-tests", *(t.task_id for t in verify[:-1])]
    assert verify[0].depends_on == [
        "analyze-security-01",
        "analyze-bugs-01",
        "analyze-complexity-01",
        "analyze-style-01",
    ]
    report = plan.tasks[-1]
    assert report.role == REPORTER and report.depends_on == [t.task_id for t in verify]
    assert "5 module group(s)" in plan.rationale


def test_the_number_of_groups_is_bounded() -> None:
    files = [source(f"p{i:03d}/m.py", 1000) for i in range(200)]
    groups = module_groups(files, 100)
    assert len(groups) <= MAX_GROUPS
    assert sum(len(g) for g in groups) == 200


def test_only_the_tests_perspective() -> None:
    spec = msgspec.structs.replace(SPEC, perspectives=["tests"], split="perspective")
    plan = plan_review(inventory(source("a.py", 30), source("bad.py", 3, parses=False)), spec, "g")
    assert [(t.task_id, t.depends_on) for t in plan.tasks] == [
        ("analyze-tests", []),
        ("verify", ["inventory"]),
        ("verify-tests", ["analyze-tests", "verify"]),
        ("report", ["verify", "verify-tests"]),
    ]


def test_perspectives_not_asked_for_are_not_planned() -> None:
    spec = msgspec.structs.replace(SPEC, perspectives=["security"], split="perspective")
    plan = plan_review(inventory(source("a.py", 30)), spec, "g")
    assert [t.task_id for t in plan.tasks] == ["analyze-security", "verify", "report"]


def test_files_that_do_not_parse_are_verified_from_the_inventory() -> None:
    plan = plan_review(inventory(source("a.py", 30), source("bad.py", 3, parses=False)), SPEC, "g")
    analyze = plan.tasks[0]
    assert analyze.inputs["files"] == ["a.py"]
    verify = plan.tasks[1]
    assert verify.depends_on == ["inventory", "analyze"]
    assert verify.inputs["files"] == ["a.py", "bad.py"]


def test_nothing_to_analyse() -> None:
    empty = plan_review(inventory(), SPEC, "g")
    assert [t.task_id for t in empty.tasks] == ["report"]
    assert empty.tasks[0].depends_on == []
    broken = plan_review(inventory(source("bad.py", 3, parses=False)), SPEC, "g")
    assert [t.task_id for t in broken.tasks] == ["verify", "report"]
    assert broken.tasks[0].depends_on == ["inventory"]


@pytest.mark.parametrize("lines", [SMALL_LINES - 1, SMALL_LINES])
def test_the_plan_is_deterministic(lines: int) -> None:
    inv = inventory(source("a/x.py", lines // 2), source("b/y.py", lines - lines // 2))
    assert plan_review(inv, SPEC, "g") == plan_review(inv, SPEC, "g")
    assert (len(plan_review(inv, SPEC, "g").tasks) == 3) == (lines < SMALL_LINES)


def _large(files: int = 120, lines: int = 500) -> Inventory:
    return inventory(*(source(f"pkg{i // 10}/m{i}.py", lines) for i in range(files)))


@pytest.mark.parametrize("slots", [1, 2, 3, 4, 8])
def test_with_slots_the_plan_cuts_no_more_analysis_tasks_than_run_at_once(slots: int) -> None:
    spec = msgspec.structs.replace(
        SPEC, slots=slots, perspectives=["security", "bugs", "complexity", "style"]
    )
    plan = plan_review(_large(), spec, "g")
    analysis = [t for t in plan.tasks if t.role == ANALYST]
    assert 1 <= len(analysis) <= slots
    # Every file is looked at from every perspective exactly once.
    covered = sorted(
        (p, f) for t in analysis for p in t.inputs["perspectives"] for f in t.inputs["files"]
    )
    everything = sorted((p, f.path) for p in spec.perspectives for f in _large().files)
    assert covered == everything
    verify = [t for t in plan.tasks if t.role == VERIFIER]
    assert {d for t in verify for d in t.depends_on} == {t.task_id for t in analysis}


def test_two_slots_pair_the_costly_perspectives_with_the_cheap_ones() -> None:
    spec = msgspec.structs.replace(
        SPEC, slots=2, perspectives=["security", "bugs", "complexity", "style"]
    )
    plan = plan_review(_large(), spec, "g")
    groups = [t.inputs["perspectives"] for t in plan.tasks if t.role == ANALYST]
    # bandit (security) and radon (complexity) are the costly tools: one in each task.
    assert sorted(groups) == [["bugs", "complexity"], ["security", "style"]]
    assert all(len(t.inputs["files"]) == 120 for t in plan.tasks if t.role == ANALYST)
    assert "2 analysis task(s) at once" in plan.rationale


def test_with_slots_the_tests_task_counts_and_small_codebases_still_get_one_task() -> None:
    spec = msgspec.structs.replace(SPEC, slots=2)
    plan = plan_review(_large(), spec, "g")
    analysis = [t for t in plan.tasks if t.role == ANALYST]
    assert [t.task_id for t in analysis] == [
        "analyze-tests",
        "analyze-security-bugs-complexity-style",
    ]
    small = plan_review(inventory(source("a.py", 300)), spec, "g")
    assert [t.task_id for t in small.tasks] == ["analyze", "verify", "report"]


def test_balanced_groups_are_contiguous_even_and_never_more_than_asked() -> None:
    files = [source(f"m{i:02d}.py", 100 + 37 * i) for i in range(30)]
    for count in (1, 2, 3, 7):
        groups = balanced_groups(files, count)
        assert len(groups) <= count
        assert [f.path for g in groups for f in g] == sorted(f.path for f in files)
        sizes = [sum(f.lines for f in g) for g in groups]
        assert max(sizes) - min(sizes) < 2 * max(f.lines for f in files)  # a file each way


def test_with_slots_a_split_codebase_learns_its_conventions_beside_the_analyses() -> None:
    spec = msgspec.structs.replace(SPEC, slots=2, fix=True)
    plan = plan_review(_large(), spec, "g")
    (learn,) = [t for t in plan.tasks if t.task_id == LEARN_TASK]
    assert learn.role == INVENTORY and learn.depends_on == [] and learn.inputs["learn"]
    assert learn.inputs["files"] == [f.path for f in _large().files]
    by_id = {t.task_id: t for t in plan.tasks}
    assert LEARN_TASK in by_id["report"].depends_on
    assert all(LEARN_TASK in t.depends_on for t in plan.tasks if t.role == FIXER)
    assert not any(LEARN_TASK in t.depends_on for t in plan.tasks if t.role in (ANALYST, VERIFIER))
    assert defers_knowledge(2, 60000) and not defers_knowledge(None, 60000)
    # A small codebase learns in the inventory, as without slots.
    small = plan_review(inventory(source("a.py", 300)), spec, "g")
    assert LEARN_TASK not in {t.task_id for t in small.tasks}
    assert LEARN_TASK not in {t.task_id for t in plan_review(_large(), SPEC, "g").tasks}
    assert inventory_task(spec).inputs["slots"] == 2 and "slots" not in inventory_task(SPEC).inputs
