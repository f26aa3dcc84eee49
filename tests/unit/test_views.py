"""The views: the count line, a goal's summary, the panels and the terminal board (pure)."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console

from callsheet.projections.board import Board, TaskCard
from callsheet.views import PANELS, GoalsView, count_line, panel_needs, summary
from callsheet.views.terminal import render_goals
from tests.views_support import T0, goal_events, stored


def view_of(*goals: str) -> GoalsView:
    view = GoalsView(panel_needs())
    seq = 1
    for goal in goals:
        events = stored(goal_events(goal), seq)
        seq += len(events)
        for item in events:
            view.fold(item)
    return view


def test_the_count_line_says_done_of_all_then_the_other_states() -> None:
    cards = {
        f"t{i}": TaskCard(task_id=f"t{i}", status=s)  # type: ignore[arg-type]
        for i, s in enumerate(["done", "done", "done", "blocked", "in_review"])
    }
    assert count_line(Board(tasks=cards)) == "3 of 5 done, 1 blocked, 1 in review"
    assert count_line(Board()) == "no tasks yet"
    one = {"a": TaskCard(task_id="a", status="running")}
    assert count_line(Board(tasks=one)) == "0 of 1 done, 1 running"


def test_a_goal_s_summary_has_what_needs_attention() -> None:
    view = view_of("g1", "g2")
    got = summary(view, "g1", T0 + timedelta(seconds=30))
    assert got.title == "Ship it"
    assert got.line == "3 of 5 done, 1 assigned, 1 blocked"
    assert [c.status for c in got.tasks] == ["done", "done", "done", "blocked", "assigned"]
    assert [q.question for q in got.questions] == ["Markdown or reST?"]
    assert [c.conflict_id for c in got.conflicts] == ["c1"]
    assert got.spent.cost_usd == 0.5 and got.spent.tokens == 379
    assert (got.max_cost_usd, got.max_tokens) == (2.0, 5000)
    assert set(got.by_agent) == {"supervisor"} and set(got.by_model) == {"offline-1"}
    assert [a.agent for a in got.agents] == ["backend-1", "backend-2", "supervisor"]
    assert all(a.alive for a in got.agents)
    later = summary(view, "g1", T0 + timedelta(hours=1))
    assert not any(a.alive for a in later.agents)
    # The blocked task's lease (30 s by default) ran out by then.
    assert [(m.task_id, m.worker) for m in later.missed] == [("t4", "backend-1")]
    assert summary(view, "g2", T0).events == got.events  # goals stay apart


def test_the_panels_are_tables_of_the_summary() -> None:
    view = view_of("g1")
    goal = summary(view, "g1", T0 + timedelta(seconds=30))
    tables = {p.name: p.table(view, goal) for p in PANELS}
    assert tables["board"].note == goal.line
    assert tables["board"].keys == ["t1", "t2", "t3", "t4", "t5"]
    assert tables["board"].marks == ["done", "done", "done", "blocked", "assigned"]
    assert tables["questions"].rows[0][-1] == "Markdown or reST?"
    assert tables["conflicts"].note == "1 open"
    assert tables["costs"].note == "0.5000 USD of 2.00, 379 tokens of 5000"
    assert [r[:2] for r in tables["costs"].rows] == [
        ["agent", "supervisor"],
        ["model", "offline-1"],
    ]
    for table in tables.values():
        assert len(table.rows) == len(table.marks) == len(table.keys)
        assert all(len(row) == len(table.columns) for row in table.rows)


def test_the_terminal_board_prints_the_counts_tasks_and_what_waits() -> None:
    view = view_of("g1")
    console = Console(width=120, record=True, color_system=None)
    console.print(render_goals([summary(view, "g1", T0 + timedelta(seconds=4))], T0))
    text = console.export_text()
    assert "g1 Ship it (running, " in text
    assert "3 of 5 done" in text
    assert "question q1 from backend-1 on t4: Markdown or reST?" in text
    assert "conflict c1: auth.py (t1, t2)" in text
    assert "spent 0.5000 USD of 2.00, 379 tokens of 5000" in text
    rows = [line for line in text.splitlines() if line.startswith(("│ t1 ", "│ t4 "))]
    assert "done" in rows[0] and "blocked" in rows[1]


def test_the_budget_shown_is_the_one_a_person_raised() -> None:
    from callsheet.events.catalog import ContextUpdated, ContextUpdatedData

    view = view_of("g1")
    raised = ContextUpdated.new(
        data=ContextUpdatedData(
            key="budget",
            kind="decision",
            value={"budget": {"max_tokens": 9000, "max_cost_usd": 3.0}, "allow": []},
            author="supervisor",
        ),
        goal_id="g1",
        producer="supervisor",
        occurred_at=T0 + timedelta(seconds=20),
    )
    for item in stored([raised], 1000):
        view.fold(item)
    got = summary(view, "g1", T0 + timedelta(seconds=30))
    assert (got.max_cost_usd, got.max_tokens) == (3.0, 9000)
