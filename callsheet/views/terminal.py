"""The board in a terminal (rich): a box per goal with its tasks, conflicts, questions, agents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from callsheet.views.goals import GoalSummary

__all__ = ["render_goal", "render_goals"]

_STYLE = {
    "done": "green",
    "running": "cyan",
    "assigned": "blue",
    "planned": "white",
    "blocked": "yellow",
    "in_review": "magenta",
    "failed": "bold red",
    "cancelled": "dim",
}


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    seconds = (now - at).total_seconds()
    return f"{seconds:.0f}s ago" if seconds >= 0 else "now"


def _until(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    seconds = (at - now).total_seconds()
    return f"{seconds:.0f}s left" if seconds >= 0 else f"ran out {-seconds:.0f}s ago"


def render_goal(goal: GoalSummary, now: datetime) -> RenderableType:
    """One goal's box: the count line, the tasks, then what needs attention."""
    tasks = Table(expand=True, show_edge=False, pad_edge=False)
    for heading in ("task", "title", "status", "owner", "tries", "progress", "lease", "heartbeat"):
        # The title gives way first: every other cell keeps its line whole.
        wide = heading == "title"
        tasks.add_column(heading, no_wrap=True, overflow="ellipsis", ratio=1 if wide else None)
    for card in goal.tasks:
        tries = f"{card.attempts}/{card.max_attempts}" if card.max_attempts else str(card.attempts)
        tasks.add_row(
            escape(card.task_id),
            escape(card.title),
            Text(card.status.replace("_", " "), style=_STYLE.get(card.status, "")),
            escape(card.worker or card.role),
            tries,
            f"{card.percent:.0f}%",
            _until(card.lease_expires_at, now) if card.status == "running" else "",
            _ago(card.last_heartbeat_at, now) if card.status == "running" else "",
        )
    lines: list[RenderableType] = [Text(goal.line, style="bold"), tasks]
    for conflict in goal.conflicts:
        lines.append(
            Text(f"conflict {conflict.conflict_id}: {conflict.subject} "
                 f"({', '.join(conflict.parties)})", style="yellow")
        )  # fmt: skip
    for question in goal.questions:
        lines.append(
            Text(f"question {question.question_id} from {question.worker} "
                 f"on {question.task_id or 'the goal'}: {question.question}", style="yellow")
        )  # fmt: skip
    budget = f" of {goal.max_cost_usd:.2f}" if goal.max_cost_usd is not None else ""
    tokens = f" of {goal.max_tokens}" if goal.max_tokens is not None else ""
    lines.append(
        Text(f"spent {goal.spent.cost_usd:.4f} USD{budget}, {goal.spent.tokens} tokens{tokens}")
    )
    alive = [a.agent for a in goal.agents if a.alive]
    quiet = [a.agent for a in goal.agents if not a.alive]
    agents = f"agents alive: {', '.join(alive) or 'none'}"
    if quiet:
        agents += f"; quiet: {', '.join(quiet)}"
    lines.append(Text(agents))
    if goal.missed:
        missed = ", ".join(f"{m.task_id} by {m.worker}" for m in goal.missed)
        lines.append(Text(f"missed leases: {missed}", style="red"))
    state = goal.outcome or "running"
    title = f"[bold]{escape(goal.goal_id)}[/bold] {escape(goal.title)} "
    title += f"[dim]({state}, {goal.events} events)[/dim]"
    return Panel(Group(*lines), title=title, title_align="left")


def render_goals(goals: Sequence[GoalSummary], now: datetime) -> RenderableType:
    """Every goal's box, most recently active first."""
    if not goals:
        return Text("no goals in the log yet")
    return Group(*(render_goal(g, now) for g in goals))
