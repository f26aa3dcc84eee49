"""``callsheet questions`` and ``callsheet answer``: what the crew asks a person, and the answers.

``questions`` folds the ``questions`` projection over the log's questions,
answers and goal ends. ``answer`` appends a ``task.answered`` for one open
question, after checking it: the question exists (in one goal, or the one
``--goal`` names), is not answered yet and its goal has not ended; an answer
to a budget question must follow the grammar of ``callsheet.crew.answers`` and
raise a limit that is set. Each refusal is one line, exit 2, and writes
nothing. The answer is appended only if nothing happened to the question's
task since it was checked (optimistic concurrency on the task), so two people
answering at once cannot both be taken: the second is told it was answered.
"""

from __future__ import annotations

import getpass
import os
import textwrap

import click
import msgspec

from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.crew.answers import AnswerError, Raise, apply, parse
from callsheet.crew.asking import decided_budget
from callsheet.events.catalog import TaskAnswered, TaskAnsweredData
from callsheet.events.errors import ConcurrencyConflict
from callsheet.events.ids import fit_id_bytes
from callsheet.events.store import EventStore
from callsheet.projections import questions as questions_projection
from callsheet.projections.questions import AskedQuestion, Questions

__all__ = ["answer", "person", "questions"]

_TYPES = ["task.question", "task.answered", "goal.completed", "goal.cancelled", "goal.rejected"]
_TRIES = 5


async def _fold(store: EventStore, goal_id: str | None) -> Questions:
    state = questions_projection.initial()
    async for stored in store.read(goal_id=goal_id, types=_TYPES):
        state = questions_projection.fold(state, stored.event)
    return state


def _line(q: AskedQuestion) -> list[str]:
    where = f"{q.goal_id}/{q.task_id}" if q.task_id else q.goal_id
    when = q.asked_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    kind = f", {q.kind}" if q.kind != "clarification" else ""
    to = "a person" if q.addressed_to == "human" else "an agent"
    head = f"{q.question_id}  {where}  for {to}{kind}, asked by {q.asked_by} at {when}"
    if q.status == "answered" and q.answer is not None:
        head += f"; answered by {q.answer.answered_by}: {q.answer.answer}"
    elif q.status == "closed":
        head += "; closed: the goal ended"
    body = textwrap.wrap(q.question, 100, initial_indent="    ", subsequent_indent="    ")
    return [head, *body]


def _jsonable(q: AskedQuestion) -> dict[str, object]:
    out: dict[str, object] = msgspec.to_builtins(q)
    out["status"] = q.status
    return out


@click.command()
@click.option("--goal", "goal_id", default=None, help="Only this goal's questions.")
@click.option("--all", "everything", is_flag=True, help="Answered and closed questions too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def questions(goal_id: str | None, everything: bool, as_json: bool) -> None:
    """List the questions waiting for an answer, oldest first.

    Answer those for a person with `callsheet answer QUESTION_ID TEXT`.
    """

    async def main() -> None:
        async with open_store() as store:
            if goal_id is not None and await store.last_seq(goal_id) == 0:
                fail(f"no events of goal {goal_id!r}", EXIT_INVALID)
            state = await _fold(store, goal_id)
        shown = (
            [q for q in questions_projection.asked_in_order(state) if goal_id in (None, q.goal_id)]
            if everything
            else questions_projection.open_questions(state, goal_id)
        )
        for q in shown:
            if as_json:
                click.echo(msgspec.json.encode(_jsonable(q)).decode())
            else:
                click.echo("\n".join(_line(q)))
        if not shown and not as_json:
            scope = f" in goal {goal_id}" if goal_id else ""
            click.echo(f"no {'' if everything else 'open '}questions{scope}")

    run(main)


def person() -> str:
    """Who a person at this terminal is, as a producer id: ``human:$USER``."""
    try:
        user = os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return fit_id_bytes(f"human:{user}")  # ids are limited in bytes, not characters


def _the_question(state: Questions, question_id: str, goal_id: str | None) -> AskedQuestion:
    """The open question named, or a one-line refusal (exit 2)."""
    found = questions_projection.find(state, question_id, goal_id)
    scope = f" in goal {goal_id}" if goal_id else ""
    if not found:
        fail(
            f"no question {question_id!r}{scope}: see `callsheet questions` for the open ones",
            EXIT_INVALID,
        )
    if len(found) > 1:
        goals = ", ".join(q.goal_id for q in found)
        fail(f"question {question_id!r} was asked in goals {goals}: name one with --goal", 2)
    q = found[0]
    if q.answer is not None:
        a = q.answer
        when = a.answered_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        fail(
            f"question {question_id!r} was answered already, by {a.answered_by} at {when}: "
            f"{a.answer[:200]!r}",
            EXIT_INVALID,
        )
    if q.closed_by is not None:
        fail(f"question {question_id!r} is closed: goal {q.goal_id} has ended", EXIT_INVALID)
    return q


async def _check_budget_answer(store: EventStore, q: AskedQuestion, text: str) -> None:
    try:
        reply = parse(text)
        if isinstance(reply, Raise):
            events = [
                s.event
                async for s in store.read(
                    goal_id=q.goal_id, types=["goal.submitted", "context.updated"]
                )
            ]
            apply(decided_budget(events), reply)
    except AnswerError as exc:
        fail(f"question {q.question_id}: {exc}", EXIT_INVALID)


@click.command()
@click.argument("question_id")
@click.argument("text")
@click.option("--goal", "goal_id", default=None, help="The question's goal (when ids repeat).")
@click.option("--by", "by", default=None, help="Who answers; human:$USER by default.")
def answer(question_id: str, text: str, goal_id: str | None, by: str | None) -> None:
    """Answer an open question; the goal resumes from where it paused.

    A budget question takes: go on | stop | raise [agent] tokens|cost to|by AMOUNT
    (AMOUNT: 50000, 50k, 1.5m tokens; 2.50 or $2.50 US dollars).
    """
    who = by or person()
    if not text.strip():
        fail("the answer is empty", EXIT_INVALID)

    async def main() -> None:
        async with open_store() as store:
            for _ in range(_TRIES):
                q = _the_question(await _fold(store, goal_id), question_id, goal_id)
                # The task's position, then the check again as of at least there: an answer
                # appended after it (someone else's) makes this append fail, and the next
                # check says it was answered.
                seq = await store.last_seq(q.goal_id, q.task_id)
                q = _the_question(await _fold(store, q.goal_id), question_id, q.goal_id)
                if q.kind == "budget":
                    await _check_budget_answer(store, q, text)
                event = TaskAnswered.new(
                    data=TaskAnsweredData(question_id=question_id, answer=text, answered_by=who),
                    goal_id=q.goal_id,
                    task_id=q.task_id,
                    producer=who,
                    causation_id=q.event_id,  # `why` leads from the answer to the question
                )
                try:
                    done = await store.append(event, expected_last_seq=seq)
                except ConcurrencyConflict:
                    continue  # the task moved on since the check: check again
                where = f"{q.goal_id}/{q.task_id}" if q.task_id else q.goal_id
                click.echo(f"answered {question_id} ({where}) as {who} ({event.id} seq={done.seq})")
                return
            fail(f"question {question_id!r}: its task kept changing; try again")

    run(main)
