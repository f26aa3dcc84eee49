"""The review crew on a real nats-server: the plan, real tools, failures, and re-drives."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from callsheet.events.store import EventStore
from callsheet.projections import PROJECTIONS, replay
from callsheet.replay.redrive import redrive
from callsheet.review import (
    AnalystWorker,
    InventoryWorker,
    ReviewSupervisor,
    Synthesizer,
    VerifierWorker,
    build_review_crew,
)
from tests.integration.review_support import make_tree, of_type, run_review

APP = {
    "app/__init__.py": "",
    "app/db.py": (
        "import sqlite3\n\n\n"
        "def find(conn: sqlite3.Connection, name: str) -> list[object]:\n"
        '    return conn.execute("SELECT * FROM t WHERE name = \'" + name + "\'").fetchall()\n'
    ),
    "app/calc.py": (
        "def mean(values: list[float], seen: list[float] = []) -> float:\n"
        "    seen.extend(values)\n"
        "    return sum(values) / len(valeus)\n"
    ),
    "app/broken.py": "def oops(:\n    pass\n",
}
TOOLS = ("RUFF", "BANDIT", "RADON", "MYPY", "PYTEST")


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o755)
    return str(path)


async def test_a_review_plans_from_the_inventory_runs_the_tools_and_reports(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", APP)
    events = await run_review(store, tree)
    (first,) = of_type(events, "plan.proposed")
    assert [t.task_id for t in first.data.tasks] == ["inventory"]
    (plan,) = [r for r in of_type(events, "plan.replanned") if r.data.trigger == "inventory"]
    assert [t.task_id for t in plan.data.added] == ["analyze", "verify", "report"]
    assert "small enough for one worker" in plan.data.reason
    calls = of_type(events, "tool.called")
    ran = {c.data.tool for c in calls if c.data.command}
    assert ran == {"ruff", "bandit", "radon", "mypy"}  # annotated, so typed; no tests
    assert all(
        c.data.exit_code is not None and c.data.duration_ms > 0 for c in calls if c.data.command
    )
    assert {c.data.tool for c in calls if not c.data.command} == {
        "inventory",
        "conventions",
        "read-source",
    }
    state = replay(PROJECTIONS["findings"], events).goals["review-1"]
    kept = {(c.data.path, c.data.line, c.data.rule) for c in state.by_status("confirmed")}
    assert ("app/db.py", 5, "S608") in kept
    assert ("app/calc.py", 1, "B006") in kept
    assert ("app/calc.py", 3, "F821") in kept
    assert ("app/broken.py", 1, "syntax-error") in kept
    merged = state.by_status("merged")
    assert any(c.data.rule == "B608" and c.data.tool == "bandit" for c in merged)
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "succeeded"
    assert "report sha256:" in done.data.summary
    assert done.data.artifact_ids == ["review-report", "review-sarif"]
    report = next(
        a for a in of_type(events, "artifact.published") if a.data.artifact_id == "review-report"
    )
    assert "`app/db.py:5` S608" in (report.data.content or "")


RADON_BREAKS_ON_DB = (
    "import runpy, sys\n"
    "if any(a.endswith('db.py') for a in sys.argv):\n"
    "    print('radon exploded', file=sys.stderr); sys.exit(3)\n"
    "sys.argv[0] = 'radon'; runpy.run_module('radon', run_name='__main__')"
)


async def test_a_task_a_tool_crashes_is_split_by_file_until_the_file_it_fails_on_is_dropped(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLSHEET_TOOL_RADON", script(tmp_path, "radon", RADON_BREAKS_ON_DB))
    tree = make_tree(tmp_path / "tree", APP)
    events = await run_review(store, tree, split="perspective")
    failures = [f for f in of_type(events, "task.failed") if f.task_id == "analyze-complexity"]
    assert len(failures) == 2  # the policy's two attempts, then split
    assert all("radon: exited with status 3: radon exploded" in f.data.reason for f in failures)
    replans = [r for r in of_type(events, "plan.replanned") if r.data.trigger == "task_failed"]
    splits = [r for r in replans if r.data.added]
    # app/__init__.py, app/calc.py (3 lines) | app/db.py (5 lines): halved by lines
    assert [r.data.removed for r in splits] == [["analyze-complexity"]]
    assert [t.task_id for t in splits[0].data.added] == [
        "analyze-complexity-a",
        "analyze-complexity-b",
    ]
    assert [t.inputs["files"] for t in splits[0].data.added] == [
        ["app/__init__.py", "app/calc.py"],
        ["app/db.py"],
    ]
    (dropped,) = [r for r in replans if not r.data.added]
    (lone,) = [
        s
        for s in of_type(events, "analysis.skipped")
        if s.data.reason.startswith("analysis stopped")
    ]
    assert lone.data.paths == ["app/db.py"] and lone.data.perspectives == ["complexity"]
    assert dropped.data.removed == [lone.task_id]
    analysed = {
        p
        for r in of_type(events, "tool.called")
        if r.data.tool == "radon" and r.data.exit_code == 0
        for p in r.data.command
        if p.endswith(".py")
    }
    assert {"app/__init__.py", "app/calc.py"} <= {p.split("tree/")[-1] for p in analysed}
    # the verification reads the findings of the halves too
    (verify,) = [a for a in of_type(events, "task.assigned") if a.task_id == "verify"]
    assert {"analyze-complexity", "analyze-complexity-a", "analyze-complexity-b"} <= set(
        verify.data.inputs["analysis_tasks"]
    )
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "partial" and f"dropped: {lone.task_id}" in done.data.summary
    state = replay(PROJECTIONS["findings"], events).goals["review-1"]
    # ruff's complexity run came before radon's crash: what it found is kept and verified
    assert any(c.data.rule == "S608" for c in state.by_status("confirmed"))
    report = next(
        a for a in of_type(events, "artifact.published") if a.data.artifact_id == "review-report"
    )
    assert "(complexity): analysis stopped" in (report.data.content or "")


async def test_a_missing_tool_and_a_tool_past_its_timeout_are_not_analysed(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLSHEET_TOOL_BANDIT", str(tmp_path / "no-such-bandit"))
    monkeypatch.setenv(
        "CALLSHEET_TOOL_RADON", script(tmp_path, "radon", "import time; time.sleep(60)")
    )
    tree = make_tree(tmp_path / "tree", APP)
    events = await run_review(store, tree, tool_timeout=1.0)
    skipped = {s.data.tool: s.data for s in of_type(events, "analysis.skipped")}
    assert "cannot start" in skipped["bandit"].reason and skipped["bandit"].perspectives == [
        "security"
    ]
    assert "still running after 1 s: stopped" in skipped["radon"].reason
    assert set(skipped["radon"].paths) == {"app/__init__.py", "app/calc.py", "app/db.py"}
    assert not of_type(events, "task.failed")
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "succeeded"
    state = replay(PROJECTIONS["findings"], events).goals["review-1"]
    assert any(
        c.data.rule == "S608" and c.data.tool == "ruff" for c in state.by_status("confirmed")
    )


async def test_every_worker_of_a_review_redrives_identically_without_the_tree_or_the_tools(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(tmp_path / "tree", APP)
    events = await run_review(store, tree, split="perspective", analysts=2)
    shutil.rmtree(tree)  # a re-drive reads no file...
    for tool in TOOLS:  # ...and runs no tool
        monkeypatch.setenv(f"CALLSHEET_TOOL_{tool}", str(tmp_path / "gone"))
    started = {e.data.worker for e in of_type(events, "task.started")}
    assert {"analyst-1", "analyst-2"} <= started
    agents = [
        ReviewSupervisor("review-supervisor", lease_seconds=10),
        InventoryWorker("inventory-1"),
        VerifierWorker("verifier-1"),
        Synthesizer("synthesizer-1"),
        AnalystWorker("analyst-1"),
        AnalystWorker("analyst-2"),
    ]
    for agent in agents:
        report = await redrive(agent, events)
        assert report.handled >= 1, agent.name
        assert report.identical, (agent.name, report.divergences[:2])
        assert report.emitted == report.recorded


async def test_a_changed_analyst_diverges_on_redrive(store: EventStore, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", APP)
    events = await run_review(store, tree, analysts=1)

    class Forgetful(AnalystWorker):
        async def _findings(self, ctx, job, raws):  # type: ignore[no-untyped-def]
            return (await super()._findings(ctx, job, raws))[1:]  # drops one finding

    report = await redrive(Forgetful("analyst-1"), events)
    assert not report.identical


async def test_a_report_that_cannot_be_written_fails_the_goal_with_the_reason(
    store: EventStore, tmp_path: Path
) -> None:
    class Broken(Synthesizer):
        async def write(self, event, ctx):  # type: ignore[no-untyped-def]
            raise RuntimeError("the disk is full")

    tree = make_tree(tmp_path / "tree", APP)
    crew = [
        a for a in build_review_crew(analysts=1, lease_seconds=10) if not isinstance(a, Synthesizer)
    ]
    events = await run_review(store, tree, crew=[*crew, Broken("synthesizer-1")])
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "failed"
    assert "task report (synthesizer)" in done.data.summary and done.data.artifact_ids == []


@pytest.mark.parametrize("reconfirm", ["changed", "always"])
async def test_verifiers_rerun_per_file_tools_only_on_changed_files_unless_asked(
    store: EventStore, tmp_path: Path, reconfirm: str
) -> None:
    tree = make_tree(tmp_path / "tree", APP)
    events = await run_review(store, tree, reconfirm=reconfirm)
    reruns = {
        c.data.tool
        for c in of_type(events, "tool.called")
        if c.task_id == "verify" and c.data.command
    }
    state = replay(PROJECTIONS["findings"], events).goals["review-1"]
    s608 = next(c for c in state.by_status("confirmed") if c.data.rule == "S608")
    if reconfirm == "changed":
        assert reruns == {"mypy"}  # a file's types depend on other files: always again
        assert "byte for byte as ruff analysed it" in s608.reason
    else:
        assert reruns == {"ruff", "bandit", "mypy"}  # (radon found nothing to re-run)
        assert s608.reason == "line 5 unchanged; ruff reports S608 there again"


async def test_a_file_changed_before_verification_is_checked_again(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", APP)
    crew = build_review_crew(analysts=1, lease_seconds=10)

    class Editor(VerifierWorker):
        """Edits the tree the way a person would, between the analysis and the verification."""

        async def verify(self, event, ctx):  # type: ignore[no-untyped-def]
            if ctx.recorded_tools is None:  # live, not on a re-drive
                db = tree / "app" / "db.py"
                db.write_text(db.read_text().replace("+ name +", "+ str(name) +") + "# edited\n")
            return await super().verify(event, ctx)

    crew = [a for a in crew if not isinstance(a, VerifierWorker)] + [Editor("verifier-1")]
    events = await run_review(store, tree, crew=crew)
    state = replay(PROJECTIONS["findings"], events).goals["review-1"]
    s608 = next(
        c for c in state.findings.values() if c.data.rule == "S608" and c.data.tool == "ruff"
    )
    assert s608.status == "rejected"
    assert s608.reason == "line 5 changed since it was reported"
    b006 = next(c for c in state.findings.values() if c.data.rule == "B006")
    assert "byte for byte as ruff analysed it" in b006.reason  # calc.py did not change
