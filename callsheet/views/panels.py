"""The dashboard's panels: each a table made from projections, one small entry per panel.

A panel names the registry projections it reads (``needs``: ``GoalsView`` keeps
them folded) and turns them, with the goal's summary, into a ``Table`` the page
draws with no code of its own per panel. A panel for another projection, e.g.
the findings of a review goal, is one more ``Panel`` in ``PANELS``::

    Panel("findings", "Review findings", ("findings",), findings_table)

where ``findings_table(view, goal)`` reads ``view.states["findings"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callsheet.views.goals import GoalSummary, GoalsView

__all__ = ["PANELS", "Panel", "Table", "panel_needs"]


@dataclass(frozen=True, slots=True)
class Table:
    """What a panel shows: a note line and rows of cells.

    Attributes:
        columns: Column headings.
        rows: One list of cells (text or numbers) per row.
        note: A line above the table (``3 of 5 done, 1 blocked``), or empty.
        marks: Per row, a word the page styles the row by (a task's status,
            ``failed``...), or ``None``.
        keys: Per row, the id it stands for (a task id...), for the page to keep rows by.
    """

    columns: tuple[str, ...]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""
    marks: list[str | None] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel of a goal's page.

    Attributes:
        name: Its id (``board``).
        title: Its heading.
        needs: Registry projections it reads from ``GoalsView.states``.
        table: Makes its table for one goal.
    """

    name: str
    title: str
    needs: tuple[str, ...]
    table: Callable[[GoalsView, GoalSummary], Table]


def _time(at: datetime | None) -> str:
    return at.strftime("%H:%M:%S") if at is not None else ""


def _board(view: GoalsView, goal: GoalSummary) -> Table:
    table = Table(("task", "title", "role", "status", "worker", "attempts", "progress", "lease"))
    for card in goal.tasks:
        attempts = (
            f"{card.attempts}/{card.max_attempts}" if card.max_attempts else str(card.attempts)
        )
        table.rows.append(
            [card.task_id, card.title, card.role, card.status.replace("_", " "),
             card.worker or "", attempts, f"{card.percent:.0f}%", _time(card.lease_expires_at)]
        )  # fmt: skip
        table.marks.append(card.status)
        table.keys.append(card.task_id)
    return Table(table.columns, table.rows, goal.line, table.marks, table.keys)


def _conflicts(view: GoalsView, goal: GoalSummary) -> Table:
    table = Table(("conflict", "kind", "parties", "subject", "detected by"))
    for c in goal.conflicts:
        table.rows.append(
            [c.conflict_id, c.kind or "", ", ".join(c.parties), c.subject, c.detected_by or ""]
        )
        table.marks.append("blocked")
        table.keys.append(c.conflict_id)
    note = f"{len(goal.conflicts)} open" if goal.conflicts else "none open"
    return Table(table.columns, table.rows, note, table.marks, table.keys)


def _questions(view: GoalsView, goal: GoalSummary) -> Table:
    table = Table(("question", "task", "worker", "asked", "text"))
    for q in goal.questions:
        table.rows.append([q.question_id, q.task_id or "", q.worker, _time(q.asked_at), q.question])
        table.marks.append("blocked")
        table.keys.append(q.question_id)
    note = f"{len(goal.questions)} waiting for an answer" if goal.questions else "none waiting"
    return Table(table.columns, table.rows, note, table.marks, table.keys)


def _costs(view: GoalsView, goal: GoalSummary) -> Table:
    table = Table(("by", "name", "calls", "input tokens", "output tokens", "cost (USD)"))
    for kind, spends in (("agent", goal.by_agent), ("model", goal.by_model)):
        for name, spend in sorted(spends.items()):
            table.rows.append(
                [kind, name, spend.calls, spend.input_tokens, spend.output_tokens,
                 f"{spend.cost_usd:.4f}"]
            )  # fmt: skip
            table.marks.append(None)
            table.keys.append(f"{kind}:{name}")
    budget = f" of {goal.max_cost_usd:.2f}" if goal.max_cost_usd is not None else ""
    tokens = f" of {goal.max_tokens}" if goal.max_tokens is not None else ""
    note = f"{goal.spent.cost_usd:.4f} USD{budget}, {goal.spent.tokens} tokens{tokens}"
    return Table(table.columns, table.rows, note, table.marks, table.keys)


def _agents(view: GoalsView, goal: GoalSummary) -> Table:
    table = Table(("agent", "alive", "last seen", "holds", "missed leases"))
    for row in goal.agents:
        table.rows.append(
            [row.agent, "yes" if row.alive else "no", _time(row.last_seen_at),
             ", ".join(row.tasks_held), row.missed]
        )  # fmt: skip
        table.marks.append("failed" if row.missed else None)
        table.keys.append(row.agent)
    alive = sum(1 for r in goal.agents if r.alive)
    note = f"{alive} of {len(goal.agents)} alive, {len(goal.missed)} missed leases"
    return Table(table.columns, table.rows, note, table.marks, table.keys)


PANELS: tuple[Panel, ...] = (
    Panel("board", "Tasks", ("board",), _board),
    Panel("questions", "Questions for a human", (), _questions),
    Panel("conflicts", "Open conflicts", ("conflicts",), _conflicts),
    Panel("costs", "Costs per agent and model", ("costs",), _costs),
    Panel("agents", "Agents", ("liveness",), _agents),
)
"""The panels of a goal's page, in order."""


def panel_needs(panels: tuple[Panel, ...] = PANELS) -> tuple[str, ...]:
    """Every projection the panels read, once each."""
    return tuple(dict.fromkeys(n for p in panels for n in p.needs))
