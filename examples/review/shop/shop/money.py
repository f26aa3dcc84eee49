"""Money as integer cents: no rounding surprises."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Money:
    """An amount in cents of one currency."""

    cents: int
    currency: str = "EUR"

    def __add__(self, other: Money) -> Money:
        """Add two amounts of the same currency."""
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.cents + other.cents, self.currency)

    def times(self, quantity: int) -> Money:
        """The amount for ``quantity`` items."""
        return Money(self.cents * quantity, self.currency)

    def __str__(self) -> str:
        """Like ``12.50 EUR``."""
        return f"{self.cents // 100}.{self.cents % 100:02d} {self.currency}"
