"""``callsheet scope GOAL TEXT``: change what a running goal asks for; its supervisor replans.

The goal must exist and not have ended. For a review goal the text must follow
the grammar of ``callsheet.review.scope`` ("also check security", "skip style");
a text it cannot read is refused here, in one line (exit 2), and nothing is
written. The change is appended as ``goal.scope_changed``; the supervisor's
answer is a ``plan.replanned`` saying what changed, or why nothing did.
"""

from __future__ import annotations

import click

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.cli.questions_cmd import person
from callsheet.events.catalog import (
    GoalCancelled,
    GoalCompleted,
    GoalRejected,
    GoalScopeChanged,
    GoalScopeChangedData,
    GoalSubmitted,
)
from callsheet.events.envelope import Event
from callsheet.review.scope import ScopeError, parse_scope

__all__ = ["scope"]

_TYPES = ["goal.submitted", "goal.completed", "goal.cancelled", "goal.rejected"]


def _ended(event: Event) -> str | None:
    if isinstance(event, GoalCompleted):
        return f"it has ended ({event.data.outcome})"
    if isinstance(event, GoalCancelled):
        return "it was cancelled"
    if isinstance(event, GoalRejected):
        return "it was rejected"
    return None


@click.command()
@click.argument("goal_id")
@click.argument("text")
@click.option("--by", "by", default=None, help="Who asks; human:$USER by default.")
def scope(goal_id: str, text: str, by: str | None) -> None:
    """Change the scope of a running goal; its supervisor replans.

    For a review: name perspectives to add or skip (security, bugs, complexity,
    style, tests), e.g. "also check security and the tests folder", "skip style".
    """
    if not text.strip():
        fail("the change is empty: say what to add or skip", EXIT_INVALID)
    who = by or person()

    async def main() -> None:
        async with open_store() as store:
            submitted: GoalSubmitted | None = None
            async for stored in store.read(goal_id=goal_id, types=_TYPES):
                event = stored.event
                if isinstance(event, GoalSubmitted):
                    submitted = event
                ended = _ended(event)
                if ended is not None:
                    fail(f"goal {goal_id!r}: {ended}; its scope cannot change", EXIT_INVALID)
            if submitted is None:
                fail(f"no goal {goal_id!r} in the log", EXIT_INVALID)
            if submitted.data.review is not None:
                try:
                    change = parse_scope(text)
                except ScopeError as exc:
                    fail(f"scope of review {goal_id!r}: {exc}", EXIT_INVALID)
                what = change.describe()
            else:
                what = text
            event = GoalScopeChanged.new(
                data=GoalScopeChangedData(change=text, requested_by=who),
                goal_id=goal_id,
                producer=who,
                causation_id=submitted.id,
            )
            done = await store.append(event)
            click.echo(
                f"scope of {goal_id} changed ({what}) by {who} ({event.id} seq={done.seq}); "
                f"the supervisor replans: callsheet events --goal {goal_id} --type plan.replanned"
            )

    run(main)
