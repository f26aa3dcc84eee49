"""The verifier's judgement and the rules that make two findings one."""

from __future__ import annotations

from callsheet.events.catalog import FindingReportedData, SuggestedFix
from callsheet.review.analyzers.base import Raw
from callsheet.review.findings import finding_data, finding_id, root_cause
from callsheet.review.verify import Reconfirmed, judge

LINE = "    q = 'SELECT * FROM t WHERE id = ' + x"


def found(
    rule: str,
    tool: str = "ruff",
    *,
    line: int = 3,
    severity: str = "warning",
    perspective: str = "security",
    text: str | None = LINE,
    fix: bool = False,
) -> FindingReportedData:
    raw = Raw(
        path="app.py",
        line=line,
        rule=rule,
        message=f"{tool} says {rule}",
        severity=severity,  # type: ignore[arg-type]
        fix=SuggestedFix(description="do better", applicability="safe") if fix else None,
    )
    return finding_data(raw, tool=tool, perspective=perspective, source_line=text, evidence_id=None)  # type: ignore[arg-type]


def lines(text: str | None = LINE, line: int = 3) -> dict[str, dict[str, str | None]]:
    return {"app.py": {str(line): text}}


def keyed(*findings: FindingReportedData) -> dict[str, str | None]:
    return {f.finding_id: f"{f.tool}/{f.perspective}" for f in findings}


def rerun(*present: tuple[str, int, str], rules: tuple[str, ...]) -> Reconfirmed:
    return Reconfirmed(
        paths=frozenset({"app.py"}),
        present=frozenset(present),
        evidence_id="01J0000000000000000000000X",
        rules=frozenset(rules),
    )


def test_a_finding_that_holds_is_confirmed_with_the_rerun_as_evidence() -> None:
    f = found("S608")
    (v,) = judge(
        [f], lines(), {"ruff/security": rerun(("app.py", 3, "S608"), rules=("S608",))}, {}, keyed(f)
    )
    assert v.verdict == "confirmed"
    assert v.reason == "line 3 unchanged; ruff reports S608 there again"
    assert v.evidence_id == "01J0000000000000000000000X"


def test_a_changed_or_missing_line_is_rejected() -> None:
    f = found("S608")
    runs = {"ruff/security": rerun(("app.py", 3, "S608"), rules=("S608",))}
    (changed,) = judge([f], lines("    q = safe()"), runs, {}, keyed(f))
    assert (changed.verdict, changed.reason) == ("rejected", "line 3 changed since it was reported")
    (gone,) = judge([f], lines(None), runs, {}, keyed(f))
    assert gone.verdict == "rejected" and "no longer exists" in gone.reason


def test_a_rule_the_tool_no_longer_reports_is_rejected() -> None:
    f = found("S608")
    (v,) = judge([f], lines(), {"ruff/security": rerun(rules=("S608",))}, {}, keyed(f))
    assert (v.verdict, v.reason) == ("rejected", "ruff no longer reports S608 at line 3")


def test_a_test_that_passes_when_run_again_is_flaky() -> None:
    f = found("test-failure", "pytest", perspective="tests", severity="error")
    (v,) = judge([f], lines(), {"pytest/tests": rerun(rules=("test-failure",))}, {}, keyed(f))
    assert v.verdict == "rejected" and "flaky" in v.reason


def test_what_no_tool_can_rerun_is_checked_against_the_line_only() -> None:
    f = found("logic-error", "claude", perspective="bugs")
    (v,) = judge([f], lines(), {}, {f.finding_id: "a model's finding"}, {f.finding_id: None})
    assert (v.verdict, v.reason) == ("confirmed", "line 3 unchanged; a model's finding")
    (changed,) = judge([f], lines("other"), {}, {}, {f.finding_id: None})
    assert changed.verdict == "rejected"


def test_the_same_problem_from_two_tools_is_merged_into_the_most_severe() -> None:
    ruff = found("S608", severity="warning")
    bandit = found("B608", "bandit", severity="error")
    runs = {
        "ruff/security": rerun(("app.py", 3, "S608"), rules=("S608",)),
        "bandit/security": rerun(("app.py", 3, "B608"), rules=("B608",)),
    }
    verdicts = {
        v.finding_id: v for v in judge([ruff, bandit], lines(), runs, {}, keyed(ruff, bandit))
    }
    assert verdicts[bandit.finding_id].verdict == "confirmed"
    merged = verdicts[ruff.finding_id]
    assert merged.verdict == "merged" and merged.merged_into == bandit.finding_id
    assert f"bandit B608 at line 3 ({bandit.finding_id})" in merged.reason


def test_on_a_tie_a_fix_then_the_better_known_rule_name_wins() -> None:
    a = found("S301")
    b = found("B301", "bandit")
    runs = {
        "ruff/security": rerun(("app.py", 3, "S301"), rules=("S301",)),
        "bandit/security": rerun(("app.py", 3, "B301"), rules=("B301",)),
    }
    kept = [v for v in judge([a, b], lines(), runs, {}, keyed(a, b)) if v.verdict == "confirmed"]
    assert [v.finding_id for v in kept] == [a.finding_id]
    with_fix = found("B301", "bandit", fix=True)
    kept = [
        v
        for v in judge([a, with_fix], lines(), runs, {}, keyed(a, with_fix))
        if v.verdict == "confirmed"
    ]
    assert [v.finding_id for v in kept] == [with_fix.finding_id]


def test_rejected_findings_are_not_merged_and_other_lines_are_not_duplicates() -> None:
    a = found("S608")
    b = found("B608", "bandit")
    c = found("B608", "bandit", line=4, text="x")
    runs = {
        "ruff/security": rerun(rules=("S608",)),
        "bandit/security": rerun(("app.py", 3, "B608"), ("app.py", 4, "B608"), rules=("B608",)),
    }
    both = {"app.py": {"3": LINE, "4": "x"}}
    verdicts = {v.finding_id: v.verdict for v in judge([a, b, c], both, runs, {}, keyed(a, b, c))}
    assert verdicts == {
        a.finding_id: "rejected",
        b.finding_id: "confirmed",
        c.finding_id: "confirmed",
    }


def test_root_causes() -> None:
    assert root_cause(found("S608")) == root_cause(found("B608", "bandit"))
    assert root_cause(found("C901", perspective="complexity")) == root_cause(
        found("CC", "radon", perspective="complexity")
    )
    assert root_cause(found("F821", perspective="bugs")) == root_cause(
        found("name-defined", "mypy", perspective="tests")
    )
    assert root_cause(found("B006", perspective="bugs")) != root_cause(found("B006", "bandit"))


def test_a_finding_is_judged_once_however_often_it_was_reported() -> None:
    f = found("S608")
    verdicts = judge(
        [f, f],
        lines(),
        {"ruff/security": rerun(("app.py", 3, "S608"), rules=("S608",))},
        {},
        keyed(f),
    )
    assert len(verdicts) == 1


def test_finding_ids_are_content_derived() -> None:
    assert finding_id("a.py", 3, 1, "ruff", "S608", "m") == finding_id(
        "a.py", 3, 1, "ruff", "S608", "m"
    )
    assert finding_id("a.py", 3, 1, "ruff", "S608", "m") != finding_id(
        "a.py", 4, 1, "ruff", "S608", "m"
    )
    assert found("S608").line_digest is not None and found("S608", text=None).line_digest is None


def test_a_finding_another_verifier_kept_stays_kept() -> None:
    earlier = found("F821", perspective="bugs", severity="error")
    mypy = found("name-defined", "mypy", perspective="tests", severity="error")
    runs = {"mypy/tests": rerun(("app.py", 3, "name-defined"), rules=("name-defined",))}
    (v,) = judge([mypy], lines(), runs, {}, keyed(mypy), prior=[earlier])
    assert (v.verdict, v.merged_into) == ("merged", earlier.finding_id)
    other = found("return-value", "mypy", perspective="tests", severity="error")
    runs["mypy/tests"] = rerun(("app.py", 3, "return-value"), rules=("return-value",))
    (alone,) = judge([other], lines(), runs, {}, keyed(other), prior=[earlier])
    assert alone.verdict == "confirmed"
