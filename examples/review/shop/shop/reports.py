"""Sales reports (not covered by the tests)."""

from __future__ import annotations

from shop.money import Money


def best_sellers(sales: dict[str, int], top: int = 3) -> list[str]:
    """The names of the ``top`` products sold most."""
    ranked = sorted(sales.items(), key=lambda kv: (-kv[1], kv[0]))
    return [name for name, _ in ranked[:top]]


def revenue(sales: dict[str, int], prices: dict[str, Money]) -> Money:
    """What the sales brought in."""
    result = Money(0)
    for name, count in sales.items():
        result = result + prices[name].times(count)
    return result


def summary(sales: dict[str, int], prices: dict[str, Money]) -> str:
    """A line for the daily mail."""
    names = ", ".join(best_sellers(sales))
    return f"best sellers: {names}; revenue {revenue(sales, prices)}"
