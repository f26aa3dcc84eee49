"""The live view of a review: folded from its events, drawn for a terminal or as plain lines."""

from __future__ import annotations

from rich.console import Console

from callsheet.events.catalog import (
    PlannedTask,
    Replanned,
    ReplannedData,
    TaskAssigned,
    TaskAssignedData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.review.progress import ReviewProgress
from tests.unit.review_support import GOAL, Log


def run() -> tuple[ReviewProgress, list[list[str]]]:
    log = Log()
    files = [f"m{i}.py" for i in range(10)]
    plan = [
        PlannedTask(task_id="analyze-a", title="a", role="analyst", inputs={"files": files[:6]}),
        PlannedTask(task_id="analyze-b", title="b", role="analyst", inputs={"files": files[6:]}),
        PlannedTask(task_id="verify", title="v", role="verifier", depends_on=["analyze-a"]),
    ]
    log.add(
        Replanned,
        ReplannedData(plan_version=2, trigger="inventory", reason="r", added=plan),
        task=None,
    )
    for task in ("analyze-a", "analyze-b"):
        log.add(TaskAssigned, TaskAssignedData(role="analyst"), task=task)
    log.add(TaskStarted, TaskStartedData(worker="analyst-1"), task="analyze-a")
    log.add(TaskProgress, TaskProgressData(worker="analyst-1", percent=50.0), task="analyze-a")
    finding = log.report("S307", severity="error")
    log.verdict(finding, "confirmed")
    log.add(TaskResult, TaskResultData(worker="analyst-1", output={}), task="analyze-a")
    progress = ReviewProgress(GOAL)
    said = [progress.feed(e) for e in log.events]
    return progress, said


def test_the_figures_follow_the_events() -> None:
    progress, _ = run()
    assert progress.checks() == (6.0, 10)  # analyze-a done (6 files), analyze-b not started
    assert progress.task_counts() == {"done": 1, "assigned": 1, "planned": 1}
    figures = progress.figures()
    assert figures.startswith("1 of 3 tasks done; 0 running")
    assert "file checks 6/10" in figures
    assert "findings 1 reported, 1 verified (1 errors)" in figures


def test_plain_lines_say_when_a_task_changes_state() -> None:
    _, said = run()
    lines = [line.split("] ", 1)[1] for batch in said for line in batch]
    assert "analyze-a: running by analyst-1" in lines
    assert "analyze-a: done" in lines
    assert lines.count("analyze-a: running by analyst-1") == 1  # progress alone says nothing new


def test_the_terminal_view_draws_the_bar_and_the_findings() -> None:
    progress, _ = run()
    console = Console(record=True, width=100, force_terminal=False)
    console.print(progress.view())
    text = console.export_text()
    assert f"review {GOAL}" in text
    assert "6/10 file checks" in text
    assert "findings: 1 reported, 1 verified (1 errors, 0 warnings, 0 notes)" in text
    assert "1 done" in text and "1 assigned" in text
