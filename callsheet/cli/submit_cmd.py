"""``callsheet submit``: submit a goal to the crew and follow it until it ends."""

from __future__ import annotations

import asyncio
import contextlib

import click
import nats.errors

from callsheet.agents.retry import is_transient
from callsheet.cli.budget_opts import budget_from, budget_options
from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.events.catalog import (
    GoalCancelled,
    GoalCompleted,
    GoalRejected,
    GoalSubmitted,
    GoalSubmittedData,
    TaskQuestion,
)
from callsheet.events.envelope import Event
from callsheet.events.store import Appended, EventStore

__all__ = ["HINT_AFTER", "SUBMIT_DEADLINE", "submit"]

HINT_AFTER = 5.0
"""Seconds after which ``submit`` says that no controller has taken the goal yet."""
SUBMIT_DEADLINE = 30.0
"""Seconds ``submit`` keeps trying to store the goal while the log is away (a failover)."""


@click.command()
@click.argument("title")
@click.option("--goal", "goal_id", default=None, help="Goal id (default: a fresh one).")
@click.option("--description", default="", help="What is wanted, in full.")
@click.option("--constraint", "constraints", multiple=True, help="A constraint; repeatable.")
@budget_options
@click.option("--wait/--no-wait", default=True, help="Follow the goal until it ends.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop following after this many seconds (exit 1); the goal stays submitted.",
)
def submit(
    title: str,
    goal_id: str | None,
    description: str,
    constraints: tuple[str, ...],
    max_tokens: int | None,
    max_cost: float | None,
    max_tokens_per_agent: int | None,
    max_cost_per_agent: float | None,
    wait: bool,
    timeout: float | None,
) -> None:
    """Submit a goal to the crew's controller (and follow it until it ends).

    Exits 0 when the goal succeeds, 2 when the controller rejects it, 1 when it fails,
    is cancelled or does not end within --timeout. A goal paused before a task would
    pass its budget waits for a person's answer (``callsheet questions``, ``callsheet
    answer``) and goes on.
    """
    from callsheet.events.ids import new_event_id

    goal = goal_id or "goal-" + new_event_id().lower()[-10:]
    budget = budget_from(max_tokens, max_cost, max_tokens_per_agent, max_cost_per_agent)
    event = GoalSubmitted.new(
        data=GoalSubmittedData(
            title=title, description=description, constraints=list(constraints), budget=budget
        ),
        goal_id=goal,
        producer="cli",
    )
    taken = asyncio.Event()

    async def main() -> Event | None:
        async with open_store() as store:
            done = await _append_within(store, event, SUBMIT_DEADLINE)
            click.echo(f"goal {goal} submitted ({event.id} seq={done.seq})")
            if not wait:
                return None
            hint = asyncio.ensure_future(_hint(goal, taken))
            try:
                return await asyncio.wait_for(_follow(store, goal, done.seq, taken), timeout)
            except nats.errors.Error as exc:
                fail(
                    f"goal {goal} is submitted, but the log was lost while following it "
                    f"({exc or type(exc).__name__}): follow it with "
                    f"`callsheet events --goal {goal} -f`"
                )
            except TimeoutError:
                nobody = "" if taken.is_set() else "; no controller took it (is a crew running?)"
                fail(
                    f"goal {goal} did not end within {timeout:g} s{nobody}; it stays submitted: "
                    f"follow it with `callsheet events --goal {goal} -f`"
                )
            finally:
                hint.cancel()

    _exit_for(goal, run(main))


async def _append_within(store: EventStore, event: Event, deadline: float) -> Appended:
    """Append, trying again while the log is away, for up to ``deadline`` seconds.

    Safe to repeat: the event's id dedups, so the goal is stored once.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    attempt = 0
    while True:
        try:
            return await store.append(event)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if loop.time() >= end:
                fail(
                    f"goal {event.goal_id} was not submitted: the log stayed unavailable for "
                    f"{deadline:g} s ({exc or type(exc).__name__}); see whether it was "
                    f"stored with `callsheet events --goal {event.goal_id}` before submitting "
                    "it again"
                )
        await asyncio.sleep(min(0.1 * 2.0**attempt, 2.0))
        attempt += 1


async def _follow(store: EventStore, goal: str, from_seq: int, taken: asyncio.Event) -> Event:
    """Print the goal's events until it ends; return the event that ended it."""
    from callsheet.cli.events_cmd import format_line

    async with store.subscribe(goal_id=goal, from_seq=from_seq) as sub:
        async for stored in sub:
            click.echo(format_line(stored))
            _say_question(stored.event)
            if stored.event.event_type in ("goal.accepted", "goal.rejected"):
                taken.set()
            if _ends(stored.event):
                return stored.event
    raise RuntimeError(f"the log stopped delivering goal {goal}'s events")


def _say_question(event: Event) -> None:
    """A question for a human: say how to answer it (on stderr, the line above shows it)."""
    if isinstance(event, TaskQuestion) and event.data.addressed_to == "human":
        click.echo(
            f"callsheet: waiting for a person: {event.data.question}"[:2000]
            + f"\n  see `callsheet questions --goal {event.goal_id}`; answer with "
            f"`callsheet answer {event.data.question_id} TEXT`",
            err=True,
        )


async def _hint(goal: str, taken: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(taken.wait(), HINT_AFTER)
    if not taken.is_set():
        click.echo(
            f"callsheet: no controller has taken goal {goal} after {HINT_AFTER:g} s: is a crew "
            "running? (start one with `callsheet crew`); still waiting (Ctrl-C, or --timeout)",
            err=True,
        )


def _exit_for(goal: str, end: Event | None) -> None:
    """Exit 0 for a goal that succeeded (or was not followed), else with a one-line error."""
    if end is None or (isinstance(end, GoalCompleted) and end.data.outcome == "succeeded"):
        return
    if isinstance(end, GoalRejected):
        fail(f"goal {goal} was rejected: {end.data.reason}", EXIT_INVALID)
    if isinstance(end, GoalCompleted):
        summary = end.data.summary.strip().splitlines()[:1]
        fail(f"goal {goal} ended {end.data.outcome}" + "".join(f": {line}" for line in summary))
    if isinstance(end, GoalCancelled):
        fail(f"goal {goal} was cancelled: {end.data.reason}")


def _ends(event: Event) -> bool:
    return event.event_type in ("goal.completed", "goal.rejected", "goal.cancelled")
