"""Events of a small review, for the tests of its projection, report and SARIF log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callsheet.events.catalog import (
    AnalysisSkipped,
    AnalysisSkippedData,
    ContextUpdated,
    ContextUpdatedData,
    FindingReported,
    FindingReportedData,
    FindingVerified,
    FindingVerifiedData,
    FixEdit,
    SuggestedFix,
)
from callsheet.events.envelope import Event
from callsheet.review.analyzers.base import Raw
from callsheet.review.findings import finding_data

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
GOAL = "g-review"


class Log:
    """Builds a goal's events in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, cls: type[Any], data: Any, task: str | None = "analyze") -> Event:
        at = T0 + timedelta(seconds=len(self.events))
        event: Event = cls.new(data=data, goal_id=GOAL, task_id=task, producer="a", occurred_at=at)
        self.events.append(event)
        return event

    def report(self, rule: str, tool: str = "ruff", **kw: Any) -> FindingReportedData:
        raw = Raw(
            path=kw.pop("path", "app.py"),
            line=kw.pop("line", 3),
            rule=rule,
            message=kw.pop("message", f"{tool} {rule}"),
            severity=kw.pop("severity", "warning"),
            column=kw.pop("column", 5),
            fix=kw.pop("fix", None),
            tags=tuple(kw.pop("tags", ())),
        )
        data = finding_data(
            raw,
            tool=tool,
            perspective=kw.pop("perspective", "security"),
            source_line=kw.pop("text", "x = eval(y)"),
            evidence_id=None,
        )
        assert not kw
        self.add(FindingReported, data)
        return data

    def verdict(self, finding: FindingReportedData, verdict: str, into: str | None = None) -> None:
        self.add(
            FindingVerified,
            FindingVerifiedData(
                finding_id=finding.finding_id,
                verdict=verdict,  # type: ignore[arg-type]
                reason=f"{verdict} by the test",
                verifier="v",
                merged_into=into,
            ),
            task="verify",
        )


def sample() -> tuple[Log, dict[str, FindingReportedData]]:
    """A review: an error found twice (merged), a note, a rejected finding, a skipped part."""
    log = Log()
    log.add(
        ContextUpdated,
        ContextUpdatedData(
            key="review.inventory",
            kind="convention",
            value={"files": 2, "lines": 40, "test_files": 0, "packages": ["app"], "config": {}},
            author="inventory-1",
        ),
        task=None,
    )
    fix = SuggestedFix(
        description="use ast.literal_eval",
        applicability="unsafe",
        edits=[
            FixEdit(
                start_line=3, start_column=5, end_line=3, end_column=9, content="ast.literal_eval"
            )
        ],
    )
    ruff = log.report("S307", severity="error", fix=fix)
    bandit = log.report("B307", "bandit", severity="error", tags=["CWE-78"])
    note = log.report("E501", perspective="style", severity="note", line=9, text="y" * 120)
    wrong = log.report("F401", perspective="bugs", line=1, text="import os")
    log.add(
        AnalysisSkipped,
        AnalysisSkippedData(
            reason="mypy: still running after 300 s: stopped",
            paths=["app.py"],
            perspectives=["tests"],
            tool="mypy",
        ),
    )
    log.verdict(ruff, "confirmed")
    log.verdict(bandit, "merged", ruff.finding_id)
    log.verdict(note, "confirmed")
    log.verdict(wrong, "rejected")
    return log, {"ruff": ruff, "bandit": bandit, "note": note, "wrong": wrong}
