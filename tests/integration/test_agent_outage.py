"""An observing agent meeting a passing outage while it handles an event.

In a chaos run the supervisor died on a lookup that timed out during a failover,
and its goals never ended. A passing outage is neither the handler's failure
(recorded, acked: the reaction lost for good) nor the agent's end: the same
event is handled again once the server answers.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.aio.msg import Msg

from callsheet.agents import Agent, AgentRuntime, HandlerContext, on
from callsheet.events.catalog import ContextUpdated, ContextUpdatedData, GoalSubmitted
from callsheet.events.store import EventStore
from tests.integration.agent_support import of_type, submitted, wait_for_type


class Asker(Agent):
    """Asks a service about each goal (a request that may time out), then notes it."""

    durable = "asker"

    def __init__(self, nc: Client, subject: str) -> None:
        super().__init__("asker")
        self.nc, self.subject = nc, subject
        self.tries = 0

    @on()
    async def note(self, event: GoalSubmitted, ctx: HandlerContext) -> None:
        self.tries += 1
        reply = await self.nc.request(self.subject, event.goal_id.encode(), timeout=0.3)
        data = ContextUpdatedData(key="seen", kind="note", value=reply.data.decode(), author="a")
        ctx.emit(ContextUpdated, data)


async def test_a_handler_that_meets_a_timeout_is_run_again_and_reacts_once(
    nc: Client, store: EventStore
) -> None:
    subject = f"{store.config.root}.test.service"
    asked: list[str] = []

    async def service(msg: Msg) -> None:
        asked.append(msg.data.decode())
        if len(asked) > 1:  # the first request is lost, as in a failover
            await msg.respond(b"answered")

    sub = await nc.subscribe(subject, cb=service)
    agent = Asker(nc, subject)
    try:
        async with AgentRuntime(store, [agent]) as runtime:
            await store.append(submitted("g1"))
            await store.append(submitted("g2"))
            notes = await wait_for_type(store, "context.updated", 2)
            assert all(not t.done() for t in runtime._tasks)  # the agent still runs
    finally:
        await sub.unsubscribe()
    assert [getattr(n, "data").value for n in notes] == ["answered", "answered"]  # noqa: B009
    assert [n.goal_id for n in notes] == ["g1", "g2"]
    assert agent.tries == 3
    assert await of_type(store, "agent.error") == []
