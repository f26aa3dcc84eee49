"""The review crew replans while it runs, on a real nats-server: complexity, opportunity, scope."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from callsheet.agents import AgentRuntime
from callsheet.events.catalog import (
    GoalScopeChanged,
    GoalScopeChangedData,
    GoalSubmitted,
    GoalSubmittedData,
    ReviewSpec,
)
from callsheet.events.store import EventStore, StoredEvent
from callsheet.projections import PROJECTIONS, replay
from callsheet.replay.redrive import redrive
from callsheet.review import AnalystWorker, ReviewSupervisor, build_review_crew
from tests.integration.review_support import ENDS, REVIEW_WAIT, make_tree, of_type

GOAL = "review-1"


def _module(n: int, functions: int) -> str:
    body = [f'"""Module {n}."""', "import subprocess", ""]
    for i in range(functions):
        body += [
            "",
            f"def run_{i}(cmd: str) -> int:",
            "    return subprocess.call(cmd, shell=True)",
        ]
    return "\n".join(body) + "\n"


async def _first(store: EventStore, kind: str, task_prefix: str) -> StoredEvent:
    async with store.subscribe(goal_id=GOAL, types=[kind]) as sub:
        async for stored in sub:
            if (stored.event.task_id or "").startswith(task_prefix):
                return stored
    raise AssertionError("unreachable")


async def _review_between(
    store: EventStore, tree: Path, between: Callable[[], Awaitable[None]], **spec: Any
) -> list[StoredEvent]:
    """A review whose analysts start only after ``between`` ran (the analysis assigned)."""
    crew = build_review_crew(analysts=0, lease_seconds=10)
    async with AgentRuntime(store, crew):
        data = GoalSubmittedData(title="review", review=ReviewSpec(path=str(tree), **spec))
        await store.append(GoalSubmitted.new(data=data, goal_id=GOAL, producer="test"))
        await asyncio.wait_for(_first(store, "task.assigned", "analyze"), REVIEW_WAIT)
        await between()
        async with AgentRuntime(store, [AnalystWorker("analyst-1")]):

            async def ended() -> None:
                async with store.subscribe(goal_id=GOAL, types=list(ENDS)) as sub:
                    async for _ in sub:
                        return

            await asyncio.wait_for(ended(), REVIEW_WAIT)
    return [s async for s in store.read(goal_id=GOAL)]


async def _redrives_identically(events: list[StoredEvent]) -> None:
    for agent in (
        ReviewSupervisor("review-supervisor", lease_seconds=10),
        AnalystWorker("analyst-1"),
    ):
        report = await redrive(agent, events)
        assert report.identical, (agent.name, report.divergences[:2])


async def test_files_far_larger_than_planned_are_handed_back_and_analysed_by_a_task_of_their_own(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", {f"pkg/mod{n}.py": _module(n, 3) for n in range(4)})

    async def grow() -> None:  # after the plan: mod1..mod3 grow to ~1,000 lines each
        for n in range(1, 4):
            (tree / f"pkg/mod{n}.py").write_text(_module(n, 330))

    events = await _review_between(store, tree, grow, perspectives=["security"])
    (grown,) = [r for r in of_type(events, "plan.replanned") if r.data.trigger == "complexity"]
    assert grown.data.cause_task_id == "analyze"
    (more,) = grown.data.added
    assert more.task_id == "analyze-more" and more.role == "analyst"
    assert more.inputs["files"] == ["pkg/mod1.py", "pkg/mod2.py", "pkg/mod3.py"]
    assert "it analysed 1 and handed 3 back" in grown.data.reason
    (first,) = [r for r in of_type(events, "task.result") if r.task_id == "analyze"]
    assert first.data.output["handed_back"] == more.inputs["files"]
    # The verification waited for the handed-back files' analysis, and read its findings.
    order = [(s.event.event_type, s.event.task_id) for s in events]
    assert order.index(("task.result", "analyze-more")) < order.index(("task.assigned", "verify"))
    state = replay(PROJECTIONS["findings"], events).goals[GOAL]
    paths = {c.data.path for c in state.by_status("confirmed") if c.data.rule == "S602"}
    assert paths == {"pkg/mod0.py", "pkg/mod1.py", "pkg/mod2.py", "pkg/mod3.py"}
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "succeeded"
    await _redrives_identically(events)


async def test_a_scope_change_while_the_analysis_waits_adds_a_perspective_to_the_report(
    store: EventStore, tmp_path: Path
) -> None:
    unsorted = "import subprocess\nimport os\n\nprint(os.sep)\n"  # style: I001
    tree = make_tree(tmp_path / "tree", {"pkg/mod0.py": _module(0, 3), "pkg/b.py": unsorted})

    async def rescope() -> None:
        for text in ("also check the docs", "also check security"):
            change = GoalScopeChangedData(change=text, requested_by="human:test")
            await store.append(
                GoalScopeChanged.new(data=change, goal_id=GOAL, producer="human:test")
            )

    events = await _review_between(store, tree, rescope, perspectives=["style"])
    unread, added = [
        r for r in of_type(events, "plan.replanned") if r.data.trigger == "scope_changed"
    ]
    assert "'docs' is not understood" in unread.data.reason and not unread.data.added
    assert [t.task_id for t in added.data.added] == ["analyze-v4", "verify-v4", "report-v4"]
    assert added.data.removed == ["report"]
    assert added.data.added[0].inputs["perspectives"] == ["security"]
    # The style analyst noticed the S602s; security is planned for every file now: deferred.
    (noticed,) = [r for r in of_type(events, "plan.replanned") if r.data.trigger == "opportunity"]
    assert "(S602); deferred: another task analyses these files" in noticed.data.reason
    assert not noticed.data.added
    state = replay(PROJECTIONS["findings"], events).goals[GOAL]
    assert {c.data.perspective for c in state.by_status("confirmed")} == {"security", "style"}
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "succeeded"
    report = of_type(events, "task.result")[-1]
    assert report.task_id == "report-v4" and "report sha256:" in done.data.summary
    await _redrives_identically(events)


async def test_an_error_outside_the_reviews_perspectives_spawns_a_task_of_its_own(
    store: EventStore, tmp_path: Path
) -> None:
    unsorted = "import subprocess\nimport os\n\nprint(os.sep)\n"  # style: I001
    files = {"pkg/mod0.py": _module(0, 2), "pkg/b.py": unsorted}
    tree = make_tree(tmp_path / "tree", files)

    async def nothing() -> None:
        return None

    events = await _review_between(store, tree, nothing, perspectives=["style"])
    (plan,) = [r for r in of_type(events, "plan.replanned") if r.data.trigger == "inventory"]
    assert plan.data.added[0].inputs["watch"] == ["security", "bugs"]
    noticed = [
        e for e in of_type(events, "context.updated") if e.data.key.startswith("opportunity.")
    ]
    assert noticed and noticed[0].data.key == "opportunity.analyze.1"
    assert {(f["path"], f["rule"]) for f in noticed[0].data.value["found"]} == {
        ("pkg/mod0.py", "S602")
    }
    spawned, *later = [
        r for r in of_type(events, "plan.replanned") if r.data.trigger == "opportunity"
    ]
    assert [t.task_id for t in spawned.data.added] == [
        "analyze-security-v3",
        "verify-security-v3",
        "report-v3",
    ]
    assert spawned.data.added[0].inputs["files"] == ["pkg/mod0.py"]
    assert "spawned analyze-security-v3 (1 files)" in spawned.data.reason
    # What the spawned task noticed in turn (bugs: none here) or anything later is deferred.
    assert all(not r.data.added for r in later)
    state = replay(PROJECTIONS["findings"], events).goals[GOAL]
    kept = {(c.data.perspective, c.data.rule) for c in state.by_status("confirmed")}
    assert ("security", "S602") in kept and ("style", "I001") in kept
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "succeeded"
    await _redrives_identically(events)
