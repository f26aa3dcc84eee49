from shop.money import Money


def test_addition() -> None:
    assert Money(150) + Money(275) == Money(425)


def test_printing() -> None:
    assert str(Money(1205)) == "12.05 EUR"
