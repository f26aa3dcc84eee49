"""The questions projection: asked, answered (the first answer stands), closed with the goal."""

from __future__ import annotations

from callsheet.events.catalog import (
    GoalCancelled,
    GoalCancelledData,
    GoalCompleted,
    GoalCompletedData,
    TaskAnswered,
    TaskAnsweredData,
    TaskQuestion,
    TaskQuestionData,
)
from callsheet.projections import questions
from tests.unit.test_projections_support import Script


def folded(s: Script) -> questions.Questions:
    state = questions.initial()
    for event in s.events:
        state = questions.fold(state, event)
    return state


def ask(s: Script, qid: str, *, goal: str = "g1", human: bool = False) -> TaskQuestion:
    return s.add(
        TaskQuestion,
        TaskQuestionData(
            question_id=qid,
            worker="sup" if human else "w1",
            question=f"what about {qid}?",
            addressed_to="human" if human else "agent",
            kind="budget" if human else "clarification",
        ),
        task="t1",
        goal=goal,
    )


def answer(s: Script, qid: str, text: str, *, goal: str = "g1", by: str = "human:ann") -> None:
    s.add(
        TaskAnswered,
        TaskAnsweredData(question_id=qid, answer=text, answered_by=by),
        task="t1",
        goal=goal,
    )


def test_open_questions_are_those_not_answered_oldest_first() -> None:
    s = Script()
    asked = ask(s, "q1", human=True)
    ask(s, "q2")
    ask(s, "q1", goal="g2")  # the same id in another goal is another question
    answer(s, "q2", "use the simplest option", by="supervisor")
    state = folded(s)
    assert [(q.goal_id, q.question_id) for q in questions.open_questions(state)] == [
        ("g1", "q1"),
        ("g2", "q1"),
    ]
    (first,) = questions.open_questions(state, "g1", addressed_to="human")
    assert (first.kind, first.asked_by, first.task_id, first.event_id) == (
        "budget",
        "sup",
        "t1",
        asked.id,
    )
    answered = state.asked[("g1", "q2")]
    assert answered.status == "answered" and answered.answer is not None
    assert answered.answer.answered_by == "supervisor"
    assert [q.goal_id for q in questions.find(state, "q1")] == ["g1", "g2"]
    assert questions.find(state, "q1", "g2")[0].goal_id == "g2"


def test_the_first_answer_stands_and_later_ones_are_strays() -> None:
    s = Script()
    ask(s, "q1", human=True)
    answer(s, "q1", "go on", by="human:ann")
    answer(s, "q1", "stop", by="human:bob")
    answer(s, "nobody-asked", "hello")
    state = folded(s)
    q = state.asked[("g1", "q1")]
    assert q.answer is not None and (q.answer.answer, q.answer.answered_by) == (
        "go on",
        "human:ann",
    )
    assert [(qid, a.answer) for _, qid, a in state.stray] == [
        ("q1", "stop"),
        ("nobody-asked", "hello"),
    ]


def test_a_question_open_when_its_goal_ends_is_closed_with_it() -> None:
    s = Script()
    ask(s, "q1", human=True)
    ask(s, "q2", human=True)
    answer(s, "q2", "go on")
    ask(s, "q3", goal="g2", human=True)
    end = s.add(GoalCancelled, GoalCancelledData(reason="stopped"))
    state = folded(s)
    assert state.asked[("g1", "q1")].status == "closed"
    assert state.asked[("g1", "q1")].closed_by == end.id
    assert state.asked[("g1", "q2")].status == "answered"
    assert [q.question_id for q in questions.open_questions(state)] == ["q3"]
    s.add(GoalCompleted, GoalCompletedData(outcome="succeeded"), goal="g2")
    assert questions.open_questions(folded(s)) == []
