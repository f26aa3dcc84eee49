"""A worker receives exactly the context entries its assignment names, on a real server.

As of the assignment (``context_keys``: keys, or prefixes ending in ``*``), and the
same on a re-drive from the recorded log.
"""

from __future__ import annotations

from typing import Any

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.events.catalog import ContextUpdated, ContextUpdatedData, TaskAssigned, TaskResult
from callsheet.events.store import EventStore
from callsheet.replay.redrive import redrive
from tests.integration.agent_support import assigned, wait_for_type

GOAL = "g-ctx"


def entry(key: str, value: Any, *, goal: str = GOAL, kind: str = "convention") -> ContextUpdated:
    return ContextUpdated.new(
        data=ContextUpdatedData(key=key, kind=kind, value=value, author="inventory-1"),  # type: ignore[arg-type]
        goal_id=goal,
        producer="inventory-1",
    )


class Scoped(Agent):
    """Returns the context it was given: each key's value, event and earlier values."""

    kind = "worker"
    role = "scoped"
    lease_seconds = 5.0

    @work()
    async def do(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        return {
            key: {
                "value": e.value,
                "event_id": e.current.event_id,
                "earlier": [r.value for r in e.history],
            }
            for key, e in ctx.context.items()
        }


async def test_a_worker_receives_exactly_the_entries_its_assignment_names(
    store: EventStore,
) -> None:
    first = entry("convention.line_length", 100)
    await store.append_many(
        [
            first,
            entry("convention.quote_style", "double"),
            entry(
                "contract.shop/cart.py",
                ["def add_item(cart, sku, qty=1)"],
                kind="interface_contract",
            ),
            entry("decision.conflict-1", {"winner": "security"}, kind="decision"),
            entry("convention.line_length", {"elsewhere": True}, goal="g-other"),
        ]
    )
    current = entry("convention.line_length", 88)
    await store.append(current)
    named = assigned(
        "t1",
        role="scoped",
        goal=GOAL,
        context_keys=["convention.line_length", "contract.shop/cart.py", "no.such.key"],
    )
    prefixed = assigned("t2", role="scoped", goal=GOAL, context_keys=["convention.*"])
    bare = assigned("t3", role="scoped", goal=GOAL)
    await store.append_many([named, prefixed, bare])
    # Written after the assignments, before any worker runs: not in their context.
    await store.append(entry("convention.line_length", 120))
    await store.append(entry("convention.naming", "snake_case"))

    async with AgentRuntime(store, [Scoped("scoped-1")]):
        results = await wait_for_type(store, "task.result", 3)
    outputs = {e.task_id: e.data.output for e in results if isinstance(e, TaskResult)}
    line_length = {"value": 88, "event_id": current.id, "earlier": [100]}
    assert outputs["t1"] == {
        "convention.line_length": line_length,
        "contract.shop/cart.py": {
            "value": ["def add_item(cart, sku, qty=1)"],
            "event_id": outputs["t1"]["contract.shop/cart.py"]["event_id"],
            "earlier": [],
        },
    }
    assert list(outputs["t2"]) == ["convention.line_length", "convention.quote_style"]
    assert outputs["t2"]["convention.line_length"] == line_length
    assert outputs["t3"] == {}

    # The re-drive folds the same context from the recorded log: identical reports.
    recorded = [s async for s in store.read(goal_id=GOAL)]
    report = await redrive(Scoped("scoped-1"), recorded)
    assert report.handled == 3
    assert report.identical, report.divergences
