"""Shipping and pricing rules."""

from __future__ import annotations


def shipping_cents(  # planted: C901
    country: str, weight: int, express: bool, member: bool, fragile: bool
) -> int:
    """What shipping costs, by a pile of special cases."""
    cost = 0
    if country == "FR":
        cost = 500
        if weight > 10:
            cost += 300
            if express:
                cost += 700
    elif country in ("DE", "BE", "NL"):
        cost = 800
        if express and weight > 5:
            cost += 900
        elif express:
            cost += 500
    elif country == "CH":
        cost = 1500 if weight < 2 else 2500
    else:
        cost = 3000
    if fragile and (weight > 3 or express):
        cost += 400
    if member and cost > 1000:
        cost -= 500
    elif member:
        cost = cost // 2
    return cost


def prices_in_cents(prices: list[float]) -> list[int]:
    """Prices in euros as cents."""
    result = []
    for price in prices:
        result.append(int(round(price * 100)))  # planted: PERF401
    return result
