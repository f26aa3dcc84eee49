"""The context entries an assignment names, folded as of the assignment (``agents.scope``)."""

from __future__ import annotations

from typing import Any

from callsheet.agents.scope import names, scope
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    TaskAssigned,
    TaskAssignedData,
)
from callsheet.events.envelope import Event
from callsheet.events.store import StoredEvent
from tests.unit.test_projections_support import T0, Script


def note(script: Script, key: str, value: Any, *, goal: str | None = None) -> None:
    script.add(
        ContextUpdated,
        ContextUpdatedData(key=key, kind="convention", value=value, author="inventory-1"),
        goal=goal,
    )


def assign(script: Script, keys: list[str]) -> None:
    script.add(TaskAssigned, TaskAssignedData(role="analyst", context_keys=keys), task="t1")


def stored(events: list[Event]) -> list[StoredEvent]:
    return [StoredEvent(n, "s", T0, e) for n, e in enumerate(events, start=1)]  # type: ignore[arg-type]


def assignment(log: list[StoredEvent]) -> StoredEvent:
    return next(s for s in log if isinstance(s.event, TaskAssigned))


def test_names_tells_keys_from_prefixes() -> None:
    assert names(["a.b", "convention.*", "c"]) == (frozenset({"a.b", "c"}), ("convention.",))


def test_the_worker_gets_exactly_the_named_entries_as_of_the_assignment() -> None:
    s = Script()
    note(s, "convention.line_length", 100)
    note(s, "convention.quote_style", "double")
    note(s, "contract.shop/cart.py", ["def add_item(cart, sku)"])
    note(s, "convention.line_length", 88)
    note(s, "convention.line_length", {"other": "goal"}, goal="g2")
    assign(s, ["contract.shop/cart.py", "convention.line_length", "decision.none-yet"])
    note(s, "convention.line_length", 120)  # after the assignment: not seen
    log = stored(s.events)
    got = scope(log, assignment(log))
    assert list(got) == ["contract.shop/cart.py", "convention.line_length"]  # in asked order
    assert got["convention.line_length"].value == 88
    assert [r.value for r in got["convention.line_length"].history] == [100]
    assert got["contract.shop/cart.py"].value == ["def add_item(cart, sku)"]
    assert all(e.goal_id == "g1" for e in got.values())


def test_a_prefix_names_every_key_it_starts() -> None:
    s = Script()
    note(s, "convention.quote_style", "double")
    note(s, "contract.a", 1)
    note(s, "convention.line_length", 100)
    assign(s, ["convention.*"])
    log = stored(s.events)
    got = scope(log, assignment(log))
    assert list(got) == ["convention.quote_style", "convention.line_length"]


def test_no_keys_no_context() -> None:
    s = Script()
    note(s, "convention.line_length", 100)
    assign(s, [])
    log = stored(s.events)
    assert scope(log, assignment(log)) == {}
