"""Carts: what a customer is about to buy."""

from __future__ import annotations

from shop.money import Money


def add_item(
    name: str,
    price: Money,
    items: list[tuple[str, Money]] = [],  # planted: B006
) -> list[tuple[str, Money]]:
    """Add an item to a cart (a new cart by default)."""
    items.append((name, price))
    return items


def total(items: list[tuple[str, Money]]) -> Money:
    """The price of a cart."""
    result = Money(0)
    for _, price in items:
        result = result + price
    return result


def total_with_discount(items: list[tuple[str, Money]], percent: int) -> Money:
    """The price of a cart with a discount of ``percent``."""
    full = total(items)
    discount = full.cents * percent // 10  # a tenth where a hundredth was meant: see the tests
    return Money(full.cents - discount)


def describe(items: list[tuple[str, Money]]) -> str:
    """One line per item."""
    lines = [f"{name}: {price}" for name, price in items]
    return "\n".join(lines) + f"\n{len(itms)} items"  # planted: F821
