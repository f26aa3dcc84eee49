"""The grammar of answers to budget questions, and what they do to the budget."""

from __future__ import annotations

import pytest

from callsheet.crew.answers import AnswerError, GoOn, Raise, Stop, apply, parse
from callsheet.events.catalog import Budget


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("go on", GoOn()),
        ("  Go   On once. ", GoOn()),
        ("stop", Stop()),
        ("STOP.", Stop()),
        ("raise tokens to 50000", Raise("tokens", False, "to", 50000)),
        ("raise tokens by 50_000", Raise("tokens", False, "by", 50000)),
        ("raise tokens by 50,000", Raise("tokens", False, "by", 50000)),
        ("raise tokens to 50k", Raise("tokens", False, "to", 50000)),
        ("raise tokens to 1.5M", Raise("tokens", False, "to", 1500000)),
        ("raise agent tokens by 2000", Raise("tokens", True, "by", 2000)),
        ("raise cost to $2.50", Raise("cost", False, "to", 2.5)),
        ("raise agent cost by .75", Raise("cost", True, "by", 0.75)),
    ],
)
def test_answers_that_follow_the_grammar_are_read(text: str, read: object) -> None:
    assert parse(text) == read


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("yes", "cannot read the answer 'yes': answer 'go on', 'stop', or 'raise"),
        ("", "cannot read the answer ''"),
        ("raise tokens", "cannot read the answer"),
        ("raise the budget a lot", "cannot read the answer"),
        ("raise tokens to lots", "'lots' is not a number of tokens"),
        ("raise tokens to 0", "must be above 0"),
        ("raise tokens by 1.5", "not a whole number of tokens"),
        ("raise tokens to -5", "'-5' is not a number of tokens"),
        ("raise cost to 0", "the amount must be above 0"),
        ("raise cost to 2 dollars", "cannot read the answer"),
        ("raise cost to €2", "not an amount of US dollars"),
        ("go on and on", "cannot read the answer"),
    ],
)
def test_answers_it_cannot_read_say_why_in_one_line(text: str, why: str) -> None:
    with pytest.raises(AnswerError) as caught:
        parse(text)
    assert why in str(caught.value) and "\n" not in str(caught.value)


def test_a_raise_sets_or_adds_to_the_limit_it_names() -> None:
    budget = Budget(max_tokens=1000, max_cost_usd=1.0, max_tokens_per_agent=300)
    assert apply(budget, Raise("tokens", False, "to", 5000)).max_tokens == 5000
    assert apply(budget, Raise("tokens", False, "by", 500)).max_tokens == 1500
    assert apply(budget, Raise("cost", False, "by", 0.5)).max_cost_usd == 1.5
    raised = apply(budget, Raise("tokens", True, "to", 400))
    assert (raised.max_tokens_per_agent, raised.max_tokens) == (400, 1000)


def test_a_raise_must_raise_a_limit_that_is_set() -> None:
    budget = Budget(max_tokens=1000)
    with pytest.raises(AnswerError, match="token limit is 1,000 tokens already: 900 tokens"):
        apply(budget, Raise("tokens", False, "to", 900))
    with pytest.raises(AnswerError, match="the goal's cost limit is not set"):
        apply(budget, Raise("cost", False, "to", 2.0))
    with pytest.raises(AnswerError, match="per-agent token limit is not set"):
        apply(None, Raise("tokens", True, "by", 10))
