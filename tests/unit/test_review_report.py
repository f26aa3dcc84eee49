"""The findings projection, the Markdown report and the SARIF log (against the 2.1.0 schema)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from callsheet.events.catalog import FindingReported
from callsheet.projections import PROJECTIONS, replay
from callsheet.projections import findings as projection
from callsheet.review.report import counts, render_markdown
from callsheet.review.sarif import render_sarif
from tests.unit.review_support import GOAL, Log, sample

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json").read_text())


def state() -> projection.Findings:
    log, _ = sample()
    found: projection.Findings = replay(PROJECTIONS["findings"], log.events).goals[GOAL]
    return found


def test_the_projection_folds_reports_verdicts_merges_and_skips() -> None:
    log, f = sample()
    s = replay(PROJECTIONS["findings"], log.events).goals[GOAL]
    kept = s.findings[f["ruff"].finding_id]
    assert (kept.status, kept.also) == ("confirmed", (f["bandit"].finding_id,))
    merged = s.findings[f["bandit"].finding_id]
    assert (merged.status, merged.merged_into) == ("merged", f["ruff"].finding_id)
    assert s.findings[f["wrong"].finding_id].status == "rejected"
    assert [p.tool for p in s.skipped] == ["mypy"]
    assert s.inventory is not None and s.inventory["files"] == 2
    assert s.events == len(log.events)


def test_a_finding_reported_again_is_kept_once_as_first_reported() -> None:
    log = Log()
    first = log.report("S307")
    first_id = log.events[-1].id
    log.report("S307")  # a redelivered task reports it again, under another event id
    s = replay(PROJECTIONS["findings"], log.events).goals[GOAL]
    assert list(s.findings) == [first.finding_id]
    assert s.findings[first.finding_id].reported_id == first_id


def test_a_verdict_on_an_unknown_finding_changes_nothing() -> None:
    _, f = sample()
    other = Log()
    other.verdict(f["ruff"], "rejected")
    s = replay(PROJECTIONS["findings"], other.events).goals[GOAL]
    assert s.findings == {} and s.events == 1


def test_counts_cover_verified_rejected_merged_and_skipped() -> None:
    figures = counts(state())
    assert figures.by_severity == {"error": 1, "warning": 0, "note": 1}
    assert figures.by_perspective["security"] == 1 and figures.by_perspective["style"] == 1
    assert (figures.rejected, figures.merged, figures.unverified, figures.skipped) == (1, 1, 0, 1)
    assert figures.verified == 2


def test_the_markdown_report() -> None:
    log, f = sample()
    text = render_markdown(
        replay(PROJECTIONS["findings"], log.events).goals[GOAL], root="/src/app", goal=GOAL
    )
    assert text.startswith("# Code review of `/src/app`")
    assert "**2 findings**: 1 errors, 0 warnings, 1 notes" in text
    assert "rejected 1 reported findings" in text and "merged 1 duplicates" in text
    assert "Reviewed 2 Python files, 40 lines" in text
    assert "- 1 files (tests): mypy: still running after 300 s: stopped: `app.py`" in text
    assert "#### `app.py:3` S307: ruff S307" in text
    assert "found by ruff, bandit B307 · CWE-78" in text
    assert "**unsafe fix**: use ast.literal_eval" in text
    assert "F401" not in text  # rejected: counted, not listed
    reported = next(
        e
        for e in log.events
        if isinstance(e, FindingReported) and e.data.finding_id == f["ruff"].finding_id
    )
    assert f"callsheet why {reported.id}" in text
    assert text.index("### Errors") < text.index("### Notes")


def test_the_report_lists_at_most_per_rule_findings_of_a_rule() -> None:
    log = Log()
    for n in range(5):
        data = log.report(
            "E501", perspective="style", severity="note", line=n + 1, text=f"line {n}"
        )
        log.verdict(data, "confirmed")
    s = replay(PROJECTIONS["findings"], log.events).goals[GOAL]
    text = render_markdown(s, root="/r", goal=GOAL, per_rule=2)
    assert text.count("#### `app.py:") == 2
    assert "- and 3 more of ruff E501, not listed here: see the SARIF log" in text


def test_unverified_findings_are_said_and_not_counted() -> None:
    log = Log()
    log.report("S307", severity="error")
    s = replay(PROJECTIONS["findings"], log.events).goals[GOAL]
    text = render_markdown(s, root="/r", goal=GOAL)
    assert "### Reported but not verified" in text and "No finding holds." in text


def test_the_sarif_log_validates_against_the_schema() -> None:
    log = render_sarif(state(), root="/src/app")
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["version"] == "2.1.0"
    runs = {run["tool"]["driver"]["name"]: run for run in log["runs"]}
    assert set(runs) == {"ruff"}  # bandit's finding was merged into ruff's
    results = runs["ruff"]["results"]
    assert [r["ruleId"] for r in results] == ["S307", "E501"]
    first = results[0]
    assert first["level"] == "error"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "app.py", "uriBaseId": "SRCROOT"}
    assert location["region"]["startLine"] == 3
    assert first["properties"]["alsoReportedBy"] == ["bandit/B307"]
    assert first["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"] == {
        "text": "ast.literal_eval"
    }
    assert runs["ruff"]["originalUriBaseIds"]["SRCROOT"]["uri"] == "file:///src/app/"


def test_an_empty_review_is_still_a_valid_sarif_log() -> None:
    log = render_sarif(projection.Findings(), root="/src/app")
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["runs"][0]["results"] == []


def test_the_schema_check_can_fail() -> None:
    bad = render_sarif(state(), root="/src/app")
    bad["runs"][0]["results"][0]["level"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(bad)


def test_the_replay_summary_lists_the_verified_findings() -> None:
    from callsheet.review.report import summary_lines

    lines = summary_lines(state())
    assert lines[0].startswith(f"goal {GOAL}: 4 findings reported; 2 verified (1 errors")
    assert lines[1] == "  error   app.py:3 ruff +bandit S307: ruff S307"
    assert lines[-1] == "  not analysed: 1 files: mypy: still running after 300 s: stopped"


def test_a_kept_finding_takes_the_worst_severity_of_its_sources() -> None:
    log = Log()
    kept = log.report("F821", perspective="bugs", severity="warning")
    worse = log.report("name-defined", "mypy", perspective="tests", severity="error")
    log.verdict(kept, "confirmed")
    log.verdict(worse, "merged", kept.finding_id)
    s = replay(PROJECTIONS["findings"], log.events).goals[GOAL]
    (card,) = s.by_status("confirmed")
    assert s.severity(card) == "error"
    assert counts(s).by_severity["error"] == 1
    assert results_levels(render_sarif(s, root="/r")) == ["error"]


def results_levels(log: dict[str, object]) -> list[object]:
    return [r["level"] for run in log["runs"] for r in run["results"]]  # type: ignore[attr-defined]
