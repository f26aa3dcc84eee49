from shop.cart import total, total_with_discount
from shop.money import Money


def test_total() -> None:
    assert total([("tea", Money(300)), ("cake", Money(450))]) == Money(750)


def test_discount() -> None:
    items = [("tea", Money(1000))]
    assert total_with_discount(items, 10) == Money(900)  # planted: test-failure
