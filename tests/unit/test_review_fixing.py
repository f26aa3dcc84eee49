"""How a fixer reads its review, what the integrator composes, and the report's Fixes section."""

from __future__ import annotations

import hashlib

from callsheet.events.catalog import (
    ConflictDetected,
    ConflictDetectedData,
    ConflictResolved,
    ConflictResolvedData,
    ContextUpdated,
    ContextUpdatedData,
    FixedFinding,
    FixEdit,
    PatchProposed,
    PatchProposedData,
    ReviewCompleted,
    ReviewCompletedData,
    ReviewFinding,
    ReviewRequested,
    ReviewRequestedData,
    SuggestedFix,
    TaskAssigned,
    TaskAssignedData,
    TaskResult,
    TaskResultData,
)
from callsheet.projections import context as context_projection
from callsheet.projections import findings as findings_projection
from callsheet.projections import fixes as fixes_projection
from callsheet.review.analyzers.tests import failures
from callsheet.review.coherence import Change, coherence
from callsheet.review.fix_report import FixLog, render_fixes
from callsheet.review.fixer import _remedied, _review
from callsheet.review.integrate import accepted, compose
from callsheet.review.patch_review import _approved, _conventions
from callsheet.review.patches import unified
from callsheet.review.plan import FIXER, PATCH_REVIEWER
from tests.unit.review_support import GOAL, Log

FIX = SuggestedFix(
    description="fix",
    applicability="unsafe",
    edits=[FixEdit(start_line=1, start_column=1, end_line=1, end_column=1)],
)
SAFE = SuggestedFix(
    description="fix",
    applicability="safe",
    edits=[FixEdit(start_line=1, start_column=1, end_line=1, end_column=1)],
)


def test_a_review_is_read_file_by_file() -> None:
    review = _review(
        [
            {"location": "pkg/a.py:7", "message": "the fix brings UP032: Use f-string"},
            {"location": "pkg/b.py", "message": "the patch fixes none of B006"},
            {"location": "", "message": "made again on top of fix-bugs's fix"},
            "words alone",
        ]
    )
    assert review == {
        "pkg/a.py": ["the fix brings UP032: Use f-string"],
        "pkg/b.py": ["the patch fixes none of B006"],
        "": ["made again on top of fix-bugs's fix", "words alone"],
    }


def test_each_file_gets_the_remedy_its_review_calls_for() -> None:
    log = Log()
    brought_rule = log.report("UP031", path="a.py", perspective="style", fix=FIX)
    brought_type = log.report("B006", path="b.py", perspective="bugs", fix=FIX)
    safe_there = log.report("I001", path="b.py", perspective="style", fix=SAFE)
    nothing = log.report("E711", path="c.py", perspective="style", fix=FIX)
    untouched = log.report("UP018", path="d.py", perspective="style", fix=FIX)
    review = _review(
        [
            {"location": "a.py:7", "message": "the fix brings UP032: Use f-string instead"},
            {"location": "b.py:3", "message": "the fix brings assignment: Incompatible default"},
            {"location": "c.py", "message": "the patch fixes none of E711"},
        ]
    )
    kept, extra = _remedied([brought_rule, brought_type, safe_there, nothing, untouched], review)
    # a.py: its unsafe fix again, with UP032's; b.py: the safe fix only; c.py: left alone.
    assert kept == [brought_rule, safe_there, untouched]
    assert extra.rules == {"a.py": {"UP032"}}


def test_a_drift_gets_the_remedy_its_finding_names_or_leaves_the_file() -> None:
    log = Log()
    quoted = log.report("C408", path="a.py", perspective="style", fix=FIX)
    printed = log.report("UP031", path="b.py", perspective="style", fix=FIX)
    wide = log.report("UP018", path="c.py", perspective="style", fix=FIX)
    conventions = {
        "quotes": {"value": "single", "single": 4, "double": 0},
        "output": {"value": "logging"},
        "line_length": {"value": 20},
    }
    findings = [
        *coherence(Change("a.py", "def f():\n    return dict(a=1)\n", "def f():\n    return {"
        '"a": 1}\n'), conventions),
        *coherence(Change("b.py", "x = 1\n", "x = 1\nprint(x)\n"), conventions),
        *coherence(Change("c.py", "x = 1\n", "x = 1 + 2 + 3 + 4 + 5 + 6 + 7\n"), conventions,
                   formatted=True),
    ]  # fmt: skip
    assert len(findings) == 3
    kept, remedies = _remedied([quoted, printed, wide], _review(findings))
    # a.py: Q000 with the project's quote; b.py: print has no safe fix, left; c.py: formatted.
    assert kept == [quoted, wide]
    assert remedies.rules == {"a.py": {"Q000"}}
    assert remedies.settings == {"a.py": {"lint.flake8-quotes.inline-quotes = 'single'"}}
    assert remedies.styled == {"c.py"}
    assert set(remedies.left) == {"b.py"} and "convention.output" in remedies.left["b.py"]


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def patch_event(
    log: Log,
    task: str,
    pid: str,
    path: str,
    before: str,
    after: str,
    perspective: str,
    fixes: list[FixedFinding] | None = None,
) -> None:
    log.add(
        PatchProposed,
        PatchProposedData(
            patch_id=pid,
            path=path,
            perspective=perspective,  # type: ignore[arg-type]
            tool="ruff",
            applicability="safe",
            fixes=fixes or [FixedFinding(finding_id=f"f-{pid}", rule="X1", applicability="safe")],
            round=int(pid.rsplit("-r", 1)[1][0]),
            before=before,
            after=after,
            diff=unified(path, before, after),
            before_digest=digest(before),
            after_digest=digest(after),
        ),
        task=task,
    )


def review(
    log: Log,
    task: str,
    rid: str,
    ids: list[str],
    verdict: str,
    findings: list[dict[str, str]] | None = None,
) -> None:
    log.add(
        ReviewRequested,
        ReviewRequestedData(review_id=rid, reviewer_role=PATCH_REVIEWER, artifact_ids=ids),
        task=task,
    )
    said = [ReviewFinding(severity="minor", **f) for f in findings or []]
    log.add(
        ReviewCompleted,
        ReviewCompletedData(
            review_id=rid,
            reviewer="r",
            verdict=verdict,  # type: ignore[arg-type]
            findings=said,
        ),
        task=task,
    )


def test_the_integrator_takes_the_last_approved_round_less_what_lost_and_merges_in_rank() -> None:
    base = "a = 1\nb = 2\nc = 3\n"
    log = Log()
    patch_event(log, "fix-style", "s-r1", "m.py", base, base.replace("a = 1", "a = 10"), "style")
    review(log, "fix-style", "rs1", ["s-r1"], "changes_requested")
    patch_event(log, "fix-style", "s-r2", "m.py", base, base.replace("c = 3", "c = 30"), "style")
    review(log, "fix-style", "rs2", ["s-r2"], "approved")
    patch_event(log, "fix-bugs", "b-r1", "m.py", base, base.replace("a = 1", "a = 11"), "bugs")
    review(log, "fix-bugs", "rb1", ["b-r1"], "approved")
    patch_event(log, "fix-x", "x-r1", "m.py", base, base.replace("b = 2", "b = 0"), "style")
    review(log, "fix-x", "rx1", ["x-r1"], "approved")
    log.add(
        ConflictDetected,
        ConflictDetectedData(conflict_id="c1", kind="file", parties=["b-r1", "x-r1"], subject="m"),
        task=None,
    )
    log.add(
        ConflictResolved,
        ConflictResolvedData(
            conflict_id="c1", resolution="one_wins", decided_by="s", winner="b-r1"
        ),
        task=None,
    )
    chosen = accepted(log.events, ["fix-style", "fix-bugs", "fix-x"])
    assert sorted(p.patch_id for p in chosen) == ["b-r1", "s-r2"]
    composed = compose(chosen)
    assert composed.applied == ["b-r1", "s-r2"]  # bugs first
    assert composed.text["m.py"] == "a = 11\nb = 2\nc = 30\n"
    assert composed.diff() == unified("m.py", base, "a = 11\nb = 2\nc = 30\n")


def test_a_fix_that_no_longer_merges_is_left_out_with_the_lines() -> None:
    base = "a = 1\n"
    log = Log()
    patch_event(log, "fix-bugs", "b-r1", "m.py", base, "a = 2\n", "bugs")
    patch_event(log, "fix-style", "s-r1", "m.py", base, "a = 3\n", "style")
    composed = compose([p.data for p in log.events if isinstance(p, PatchProposed)])
    assert composed.applied == ["b-r1"]
    assert composed.left_out == {
        "s-r1": "overlaps the fixes applied before it at lines 1-1 of m.py"
    }
    composed.revert("m.py", "the merged file would not parse", [])
    assert composed.changed == []


def test_the_fixes_section_says_what_was_fixed_what_not_and_why() -> None:
    log = Log()
    fixed = log.report("B006", path="a.py", perspective="bugs", fix=FIX)
    refused = log.report("UP031", path="b.py", perspective="style", fix=FIX)
    no_fix = log.report("S602", path="c.py", perspective="bugs")
    for f in (fixed, refused, no_fix):
        log.verdict(f, "confirmed")
    for task, perspective in (("fix-bugs", "bugs"), ("fix-style", "style")):
        log.add(
            TaskAssigned,
            TaskAssignedData(role=FIXER, inputs={"perspectives": [perspective]}),
            task=task,
        )
    base = "x = 1\n"
    for task, pid, f, after in (
        ("fix-bugs", "b-r1", fixed, "x = 2\n"),
        ("fix-style", "s-r1", refused, "x = 3\n"),
    ):
        named = [FixedFinding(finding_id=f.finding_id, rule=f.rule, applicability="unsafe")]
        patch_event(log, task, pid, f.path, base, after, f.perspective, named)
    review(log, "fix-bugs", "rb1", ["b-r1"], "approved")
    review(log, "fix-style", "rs1", ["s-r1"], "changes_requested")
    log.add(
        TaskResult,
        TaskResultData(
            worker="i", output={"verified": True, "files": ["a.py"], "applied": ["b-r1"]}
        ),
        task="integrate",
    )
    state = findings_projection.initial()
    feed = FixLog()
    for event in log.events:
        state = findings_projection.fold(state, event)
        feed.feed(event)
    text = "\n".join(render_fixes(feed, state, "/src/proj", "callsheet-review.patch"))
    assert "1 fixes in 1 files are merged into `callsheet-review.patch`, verified" in text
    assert "`git -C /src/proj apply callsheet-review.patch`" in text
    assert "| a.py | 3 | ruff B006 | bugs |" in text
    assert "| ruff UP031 | 1 | its review asked for changes:" in text
    assert "| ruff S602 | 1 | no tool fix for this rule |" in text
    assert render_fixes(FixLog(), state, "/src", "p") == []


def test_a_drift_no_tool_fixes_is_reported_as_not_fixed_with_the_reviews_words() -> None:
    log = Log()
    printed = log.report("UP031", path="b.py", perspective="style", fix=FIX)
    quoted = log.report("C408", path="c.py", perspective="style", fix=FIX)
    for f in (printed, quoted):
        log.verdict(f, "confirmed")
    log.add(TaskAssigned, TaskAssignedData(role=FIXER, inputs={"perspectives": ["style"]}), "fix")
    conventions = {"output": {"value": "logging"}, "quotes": {"value": "single", "single": 3}}
    findings = []
    for f, pid, after in ((printed, "b-r1", "x = 1\nprint(x)\n"), (quoted, "c-r1", 'x = "a"\n')):
        named = [FixedFinding(finding_id=f.finding_id, rule=f.rule, applicability="safe")]
        patch_event(log, "fix", pid, f.path, "x = 1\n", after, "style", named)
        findings += coherence(Change(f.path, "x = 1\n", after), conventions)
    review(log, "fix", "r1", ["b-r1", "c-r1"], "changes_requested", findings)
    state = findings_projection.initial()
    feed = FixLog()
    for event in log.events:
        state = findings_projection.fold(state, event)
        feed.feed(event)
    rows = {
        line.split(" | ")[0]: line
        for line in render_fixes(feed, state, "/src", "p")
        if line.startswith("| ruff ")
    }
    # b.py's print has no safe fix: not fixed, with the drift; c.py's drift has a remedy.
    assert "| ruff UP031 | 1 | not fixed: drift from convention.output" in rows["| ruff UP031"]
    assert "T201" in rows["| ruff UP031"] and "quotes" not in rows["| ruff UP031"]
    assert "| ruff C408 | 1 | its review asked for changes: drift from" in rows["| ruff C408"]
    assert "convention.output" not in rows["| ruff C408"]  # b.py's words stay with b.py


def test_an_unverified_merge_says_exactly_what_failed() -> None:
    log = Log()
    f = log.report("UP031", path="a.py", perspective="style", fix=FIX)
    log.verdict(f, "confirmed")
    log.add(TaskAssigned, TaskAssignedData(role=FIXER, inputs={"perspectives": ["style"]}), "fix")
    named = [FixedFinding(finding_id=f.finding_id, rule=f.rule, applicability="safe")]
    patch_event(log, "fix", "a-r1", "a.py", "x = 1\n", "x = 2\n", "style", named)
    review(log, "fix", "r1", ["a-r1"], "approved")
    output = {
        "verified": False,
        "files": ["a.py"],
        "applied": ["a-r1"],
        "problems": ["the project's tests could not run on the merged tree (pytest exit 4: boom)"],
        "new_failures": ["tests.test_a::test_x"],
        "failures": {"tests.test_a::test_x": "assert 2 == 1"},
    }
    log.add(TaskResult, TaskResultData(worker="i", output=output), task="integrate")
    state = findings_projection.initial()
    feed = FixLog()
    for event in log.events:
        state = findings_projection.fold(state, event)
        feed.feed(event)
    text = "\n".join(render_fixes(feed, state, "/src", "p"))
    assert "**not verified**: the project's tests could not run on the merged tree" in text
    assert "tests.test_a::test_x now fails: assert 2 == 1" in text
    assert "`--apply` refuses it" in text


def test_a_junit_report_gives_each_failure_with_why() -> None:
    junit = (
        '<testsuite><testcase classname="t" name="ok"/>'
        '<testcase classname="t" name="bad"><failure message="assert 1 == 2&#10;more">x'
        '</failure></testcase><testcase classname="t" name="err"><error type="ImportError"/>'
        "</testcase></testsuite>"
    )
    assert failures(junit) == {"t::bad": "assert 1 == 2", "t::err": "ImportError"}
    assert failures("") is None and failures("<not xml") is None


def test_the_patch_reviewer_holds_a_patch_to_the_conventions_and_the_approved_patches() -> None:
    log = Log()
    log.add(
        ContextUpdated,
        ContextUpdatedData(
            key="convention.output", kind="convention", value={"value": "none"}, author="i"
        ),
        task=None,
    )
    log.add(
        ContextUpdated,
        ContextUpdatedData(
            key="review.inventory", kind="convention", value={"files": 2}, author="i"
        ),
        task=None,
    )
    base = "x = 1\n"
    patch_event(log, "fix-bugs", "b-r1", "a.py", base, "x = 1\nlog.info(x)\n", "bugs")
    review(log, "fix-bugs", "rb1", ["b-r1"], "approved")
    patch_event(log, "fix-x", "x-r1", "c.py", base, "x = 1\nlog.info(x)\n", "style")
    review(log, "fix-x", "rx1", ["x-r1"], "changes_requested")
    patch_event(log, "fix-style", "s-r1", "b.py", base, "x = 1\nprint(x)\n", "style")
    fixes = fixes_projection.initial()
    store = context_projection.initial()
    texts: dict[str, PatchProposedData] = {}
    for event in log.events:
        fixes = fixes_projection.fold(fixes, event)
        store = context_projection.fold(store, event)
        if isinstance(event, PatchProposed):
            texts[event.data.patch_id] = event.data
    conventions = _conventions(store, GOAL)
    assert conventions == {"convention.output": {"value": "none"}}
    others = _approved(fixes, texts, "fix-style")
    assert [o.name for o in others] == ["b-r1"]  # approved, of another task
    assert _approved(fixes, texts, "fix-bugs") == []
    (found,) = coherence(Change("b.py", base, "x = 1\nprint(x)\n", "s-r1"), conventions, others)
    assert (
        found["location"] == "b.py:2"
        and "the other approved fixes (b-r1 adds logging)" in (found["message"])
    )
    log.add(
        ConflictDetected,
        ConflictDetectedData(conflict_id="c", kind="file", parties=["b-r1", "s-r1"], subject="x"),
        task=None,
    )
    log.add(
        ConflictResolved,
        ConflictResolvedData(conflict_id="c", resolution="one_wins", decided_by="s", winner="s-r1"),
        task=None,
    )
    for event in log.events[-2:]:
        fixes = fixes_projection.fold(fixes, event)
    assert _approved(fixes, texts, "fix-style") == []  # b-r1 lost its conflict
