"""``callsheet board``: the live board of the crew's goals in a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import UTC, datetime

import click
from rich.console import Console, RenderableType
from rich.live import Live

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.cli.corrupt import warn_corrupt
from callsheet.events.store import EventStore, StoredEvent
from callsheet.views.feed import feed
from callsheet.views.goals import GoalSummary, GoalsView, summary
from callsheet.views.terminal import render_goals

__all__ = ["board"]


def _summaries(view: GoalsView, goal_id: str | None, limit: int) -> list[GoalSummary]:
    now = datetime.now(UTC)
    goals = [goal_id] if goal_id is not None else view.goals()[:limit]
    return [summary(view, g, now) for g in goals if g in view.headlines]


async def _read(store: EventStore, view: GoalsView, goal_id: str | None) -> None:
    async for stored in store.read(goal_id=goal_id, on_corrupt=warn_corrupt):
        view.fold(stored)


@click.command()
@click.option("--goal", "goal_id", default=None, help="Only this goal (default: every goal).")
@click.option("--once", is_flag=True, help="Print the board once, as text, and exit.")
@click.option(
    "--goals",
    "limit",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Without --goal: how many goals to show, most recently active first.",
)
def board(goal_id: str | None, once: bool, limit: int) -> None:
    """The goals' boards: counts, tasks, conflicts, questions, budget, agents.

    Without --once it stays open and changes as events are appended to the log
    (a subscription, not polling); Ctrl-C leaves.
    """
    # Piped (--once into a file): wide enough for the table; a terminal: its own width.
    console = Console() if sys.stdout.isatty() else Console(width=120)

    async def main() -> None:
        view = GoalsView(keep_events=False)
        async with open_store() as store:
            await _read(store, view, goal_id)
            if goal_id is not None and goal_id not in view.headlines:
                fail(
                    f"no events of goal {goal_id!r} (callsheet events lists the log)", EXIT_INVALID
                )
            if once:
                console.print(render_goals(_summaries(view, goal_id, limit), datetime.now(UTC)))
                return
            await _follow(store, view, goal_id, limit, console)

    run(main)


async def _follow(
    store: EventStore, view: GoalsView, goal_id: str | None, limit: int, console: Console
) -> None:
    dirty = asyncio.Event()

    def changed(goal: str, stored: StoredEvent) -> None:
        if stored.pending == 0:
            dirty.set()  # caught up with a burst: draw once

    def draw() -> RenderableType:
        return render_goals(_summaries(view, goal_id, limit), datetime.now(UTC))

    following = asyncio.ensure_future(feed(store, view, changed, goal_id=goal_id))
    try:
        with Live(draw(), console=console, auto_refresh=False, screen=False) as live:
            while not following.done():
                # Redraw on news, and every second for the lease and heartbeat clocks.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(dirty.wait(), timeout=1.0)
                dirty.clear()
                live.update(draw(), refresh=True)
        following.result()
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
