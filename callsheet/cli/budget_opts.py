"""The budget options ``callsheet submit`` and ``callsheet review`` share, checked in one line.

A limit must be positive: zero or a negative amount (or something that is not
a number) is a one-line error, exit 2, before anything is submitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from callsheet.cli.common import EXIT_INVALID, fail
from callsheet.events.catalog import Budget

__all__ = ["budget_from", "budget_options"]

F = TypeVar("F", bound=Callable[..., Any])


def _tokens(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().replace("_", "")
    if not text.lstrip("-").isdigit() or int(text) <= 0:
        fail(f"{param.opts[0]}: {value!r} is not a positive whole number of tokens", EXIT_INVALID)
    return int(text)


def _usd(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        amount = float(value.strip().removeprefix("$"))
    except ValueError:
        amount = math.nan
    if not (math.isfinite(amount) and amount > 0):
        fail(f"{param.opts[0]}: {value!r} is not a positive amount of US dollars", EXIT_INVALID)
    return amount


def budget_options(command: F) -> F:
    """Add ``--max-tokens``, ``--max-cost`` and their per-agent forms to a command."""
    options = [
        click.option(
            "--max-tokens", callback=_tokens, metavar="N", help="Token budget of the goal."
        ),
        click.option(
            "--max-cost", callback=_usd, metavar="USD", help="Money budget of the goal (USD)."
        ),
        click.option(
            "--max-tokens-per-agent",
            callback=_tokens,
            metavar="N",
            help="Tokens each agent may spend on the goal.",
        ),
        click.option(
            "--max-cost-per-agent",
            callback=_usd,
            metavar="USD",
            help="Money each agent may spend on the goal (USD).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def budget_from(
    max_tokens: int | None,
    max_cost: float | None,
    max_tokens_per_agent: int | None,
    max_cost_per_agent: float | None,
) -> Budget | None:
    """The goal's budget from the options (None when no limit is given)."""
    if all(v is None for v in (max_tokens, max_cost, max_tokens_per_agent, max_cost_per_agent)):
        return None
    return Budget(
        max_tokens=max_tokens,
        max_cost_usd=max_cost,
        max_tokens_per_agent=max_tokens_per_agent,
        max_cost_usd_per_agent=max_cost_per_agent,
    )
