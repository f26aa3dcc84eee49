"""What a person may answer to a budget question, and what it does to the budget.

The grammar (case and surrounding spaces do not matter; a final ``.`` neither)::

    go on [once]                      start the task the question is about: the limit it
                                      would pass is raised just enough for it (by its
                                      estimate); the next task that would pass it asks again
    stop                              stop the goal: its open tasks and the goal are cancelled
    raise [agent] tokens to N         set a token limit to N (``agent``: the per-agent limit)
    raise [agent] tokens by N         raise it by N
    raise [agent] cost to USD         set a money limit to USD
    raise [agent] cost by USD         raise it by USD

``N`` is a whole number of tokens, with ``_`` or ``,`` between digit groups, or
with ``k`` (thousands) or ``m`` (millions) after it: ``50000``, ``50_000``,
``50k``, ``1.5m``. ``USD`` is an amount of dollars, ``$`` optional: ``2``,
``2.50``, ``$0.75``. A raise must raise: the limit must be set and the new one
above it. ``parse`` reads an answer, ``apply`` works out the budget it leaves.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import msgspec

from callsheet.events.catalog import Budget

__all__ = ["GRAMMAR", "AnswerError", "GoOn", "Raise", "Reply", "Stop", "apply", "parse"]

GRAMMAR = "'go on', 'stop', or 'raise [agent] tokens|cost to|by AMOUNT'"
"""The grammar in one line, for questions and errors."""

_RAISE = re.compile(
    r"raise\s+(?P<agent>agent\s+)?(?P<metric>tokens|cost)\s+(?P<how>to|by)\s+(?P<amount>\S+)"
)
_TOKENS = re.compile(r"(?P<number>\d+(?:[_,]\d{3})*|\d*\.\d+|\d+)(?P<unit>[km]?)")
_USD = re.compile(r"\$?(?P<number>\d+(?:\.\d+)?|\.\d+)")
_MAX_TOKENS = 10**15


class AnswerError(ValueError):
    """An answer that cannot be read, or that cannot apply to the budget; one line, why."""


@dataclass(frozen=True, slots=True)
class GoOn:
    """Start the task asked about, the budget stretched by its estimate (``budget.stretch``)."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop the goal."""


@dataclass(frozen=True, slots=True)
class Raise:
    """Raise a limit.

    Attributes:
        metric: ``tokens`` or ``cost``.
        per_agent: The per-agent limit rather than the goal's.
        how: ``to`` (the new limit) or ``by`` (added to the limit).
        amount: Tokens, or US dollars.
    """

    metric: Literal["tokens", "cost"]
    per_agent: bool
    how: Literal["to", "by"]
    amount: float


Reply = GoOn | Stop | Raise
"""A budget answer, read."""


def _tokens(text: str) -> int:
    match = _TOKENS.fullmatch(text)
    if match is None:
        raise AnswerError(f"{text!r} is not a number of tokens (e.g. 50000, 50_000, 50k, 1.5m)")
    number = float(match["number"].replace("_", "").replace(",", ""))
    value = number * {"": 1, "k": 1_000, "m": 1_000_000}[match["unit"]]
    if value != int(value):
        raise AnswerError(f"{text!r} is not a whole number of tokens")
    if not 0 < value <= _MAX_TOKENS:
        raise AnswerError(f"{text!r}: the number of tokens must be above 0 (and sane)")
    return int(value)


def _usd(text: str) -> float:
    match = _USD.fullmatch(text)
    if match is None:
        raise AnswerError(f"{text!r} is not an amount of US dollars (e.g. 2, 2.50, $0.75)")
    value = float(match["number"])
    if not (math.isfinite(value) and value > 0):
        raise AnswerError(f"{text!r}: the amount must be above 0")
    return value


def parse(text: str) -> Reply:
    """Read an answer to a budget question.

    Raises:
        AnswerError: It does not follow the grammar (the module docstring).
    """
    said = " ".join(text.lower().split()).removesuffix(".").strip()
    if said in ("go on", "go on once"):
        return GoOn()
    if said == "stop":
        return Stop()
    match = _RAISE.fullmatch(said)
    if match is None:
        raise AnswerError(f"cannot read the answer {text.strip()[:80]!r}: answer {GRAMMAR}")
    metric: Literal["tokens", "cost"] = "tokens" if match["metric"] == "tokens" else "cost"
    amount = _tokens(match["amount"]) if metric == "tokens" else _usd(match["amount"])
    return Raise(metric, bool(match["agent"]), "to" if match["how"] == "to" else "by", amount)


def _field(r: Raise) -> str:
    name = "max_tokens" if r.metric == "tokens" else "max_cost_usd"
    return f"{name}_per_agent" if r.per_agent else name


def _say(r: Raise, value: float) -> str:
    return f"{round(value):,} tokens" if r.metric == "tokens" else f"{value:.4f} USD"


def apply(budget: Budget | None, r: Raise) -> Budget:
    """The budget once ``r`` is applied to it.

    Raises:
        AnswerError: The limit is not set (nothing to raise: it is unlimited), or
            the new limit would not be above the current one.
    """
    name = _field(r)
    what = ("the per-agent " if r.per_agent else "the goal's ") + (
        "token limit" if r.metric == "tokens" else "cost limit"
    )
    current = getattr(budget, name) if budget is not None else None
    if current is None:
        raise AnswerError(f"{what} is not set (it is unlimited): there is nothing to raise")
    new = r.amount if r.how == "to" else current + r.amount
    if new <= current:
        raise AnswerError(
            f"{what} is {_say(r, current)} already: {_say(r, new)} would not raise it"
        )
    value: int | float = int(new) if r.metric == "tokens" else new
    assert budget is not None
    return msgspec.structs.replace(budget, **{name: value})
