"""A helpdesk written with the ``eventsourcing`` library, persisted on JetStream.

- ``Helpdesk`` is an ordinary library application; ``PERSISTENCE_MODULE=callsheet.esdb``
  records its events in callsheet's log, as ``aggregate.recorded`` events under the
  goal ``helpdesk`` (snapshots in a stream of their own).
- ``TicketCounts`` is a projection whose materialised view is a SQLite table; a
  ``ProjectionRunner`` keeps it up to date from the JetStream subscription, and the
  view's tracking records sit in the same SQLite transaction as its counts.
- ``Triage`` is a callsheet agent that reacts to the library's events: every ticket
  opened becomes a goal submitted to the crew. ``agent_sees`` reads the events back.

Run ``python -m examples.eventsourcing_app.helpdesk nats://127.0.0.1:4222`` against a
server with JetStream enabled.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Mapping
from functools import singledispatchmethod
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import nats
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import get_topic

from callsheet.agents import Agent, AgentRuntime, HandlerContext, on
from callsheet.esdb import AGGREGATE_TYPE
from callsheet.events.catalog import AggregateRecorded, GoalSubmitted, GoalSubmittedData
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig

__all__ = [
    "GOAL",
    "Helpdesk",
    "Ticket",
    "TicketCounts",
    "TicketCountsView",
    "Triage",
    "agent_sees",
    "settings",
    "triage",
]


class Ticket(Aggregate):
    """A support ticket."""

    class Opened(Aggregate.Created):
        """A ticket was opened."""

        title: str

    class Closed(Aggregate.Event):
        """A ticket was closed."""

    @event(Opened)
    def __init__(self, title: str) -> None:
        self.title = title
        self.status = "open"

    @event(Closed)
    def close(self) -> None:
        """Close the ticket."""
        self.status = "closed"


class Helpdesk(Application[UUID]):
    """Opens and closes tickets; a snapshot every 2 events."""

    snapshotting_intervals = {Ticket: 2}

    def open_tickets(self, *titles: str) -> list[UUID]:
        """Open tickets, saved atomically together (one JetStream atomic batch)."""
        tickets = [Ticket(title) for title in titles]
        self.save(*tickets)
        return [ticket.id for ticket in tickets]

    def close_ticket(self, ticket_id: UUID) -> None:
        """Close a ticket (optimistic concurrency on its version)."""
        ticket: Ticket = self.repository.get(ticket_id)
        ticket.close()
        self.save(ticket)

    def status(self, ticket_id: UUID) -> str:
        """Return a ticket's status."""
        ticket: Ticket = self.repository.get(ticket_id)
        return ticket.status


class TicketCountsView(SQLiteTrackingRecorder):
    """Counts of tickets by status, in SQLite, updated with its tracking record."""

    def construct_create_table_statements(self) -> list[str]:
        """Add the counts table to the tracking table."""
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS ticket_counts (status TEXT PRIMARY KEY, n INTEGER)",
        ]

    def add(self, changes: Mapping[str, int], tracking: Tracking) -> None:
        """Apply count changes and record the tracking object, atomically."""
        with self.datastore.transaction(commit=True) as c:
            for status, delta in changes.items():
                c.execute(
                    "INSERT INTO ticket_counts VALUES (?, ?) "
                    "ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
                    (status, delta),
                )
            self._insert_tracking(c, tracking)

    def count(self, status: str) -> int:
        """Return the number of tickets with a status."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT n FROM ticket_counts WHERE status = ?", (status,))
            row = c.fetchone()
            return int(row[0]) if row else 0


class TicketCounts(Projection[TicketCountsView]):
    """Keeps ``TicketCountsView`` up to date."""

    name = "ticketcounts"
    topics = (get_topic(Ticket.Opened), get_topic(Ticket.Closed))

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Track events this projection ignores."""
        self.view.insert_tracking(tracking)

    @process_event.register
    def _opened(self, domain_event: Ticket.Opened, tracking: Tracking) -> None:
        self.view.add({"open": 1}, tracking)

    @process_event.register
    def _closed(self, domain_event: Ticket.Closed, tracking: Tracking) -> None:
        self.view.add({"open": -1, "closed": 1}, tracking)


def settings(
    nats_url: str, *, stream: str, root: str, view_db: str, blob_bucket: str = "CALLSHEET_BLOBS"
) -> dict[str, str]:
    """Return the environment of the application and of the projection's view."""
    return {
        "PERSISTENCE_MODULE": "callsheet.esdb",
        "NATS_URL": nats_url,
        "ESDB_STREAM": stream,
        "ESDB_ROOT": root,
        "ESDB_GOAL": GOAL,
        "ESDB_BLOB_BUCKET": blob_bucket,
        "IS_SNAPSHOTTING_ENABLED": "yes",
        # The view: the projection's name prefixes its settings.
        "TICKETCOUNTS_PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "TICKETCOUNTS_SQLITE_DBNAME": view_db,
    }


GOAL = "helpdesk"
"""The goal id the helpdesk's events are recorded under in the log."""

OPENED = get_topic(Ticket.Opened)


def _opened(event: AggregateRecorded) -> bool:
    return event.data.topic == OPENED


class Triage(Agent):
    """Turns every ticket opened in the helpdesk into a goal for the crew."""

    kind = "observer"
    durable = "helpdesk-triage"
    start_from = "history"  # every ticket, also those opened before it first ran

    @on(AggregateRecorded, where=_opened)
    async def ticket_opened(self, event: AggregateRecorded, ctx: HandlerContext) -> None:
        """Submit a goal named after the ticket (its id derived: a replay adds nothing)."""
        state = msgspec.json.decode(event.data.state)
        ctx.emit(
            GoalSubmitted,
            GoalSubmittedData(title=f"Resolve ticket: {state['title']}", requested_by=GOAL),
            goal_id=f"ticket-{event.task_id}",
            task_id=None,
        )


async def agent_sees(store: EventStore) -> list[tuple[int, str, Any]]:
    """Read the helpdesk's events back from the log: (sequence, topic, decoded state)."""
    seen: list[tuple[int, str, Any]] = []
    async for stored in store.read(goal_id=GOAL, types=[AGGREGATE_TYPE]):
        event = stored.event
        assert isinstance(event, AggregateRecorded)
        seen.append((stored.seq, event.data.topic, msgspec.json.decode(event.data.state)))
    return seen


async def triage(store: EventStore, tickets: int, *, timeout: float = 10.0) -> list[GoalSubmitted]:
    """Run ``Triage`` until it has submitted a goal per ticket; return those goals."""
    async with AgentRuntime(store, [Triage()]):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            goals = [
                s.event
                async for s in store.read(types=["goal.submitted"])
                if isinstance(s.event, GoalSubmitted) and s.event.data.requested_by == GOAL
            ]
            if len(goals) >= tickets:
                return goals
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"triage submitted {len(goals)} of {tickets} goals")
            await asyncio.sleep(0.05)  # polling the log, bounded by the deadline


def main(nats_url: str) -> None:
    """Open and close tickets; print the view, the log's events and the goals triaged."""
    with tempfile.TemporaryDirectory() as tmp:
        log = StoreConfig()  # callsheet's log, as the crew and the CLI use it
        env = settings(nats_url, stream=log.stream, root=log.root, view_db=str(Path(tmp) / "v.db"))
        writer = Helpdesk(env)
        with ProjectionRunner(
            application_class=Helpdesk,
            projection_class=TicketCounts,
            view_class=TicketCountsView,
            env=env,
        ) as runner:
            first, _second = writer.open_tickets("printer on fire", "no coffee")
            writer.close_ticket(first)
            runner.wait(writer.recorder.max_notification_id(), timeout=10)
            print("open:", runner.view.count("open"), "closed:", runner.view.count("closed"))
        writer.close()

    async def agents() -> None:
        nc = await nats.connect(nats_url)
        try:
            store = await EventStore.open(nc)
            for seq, topic, state in await agent_sees(store):
                print(seq, topic, state)
            for goal in await triage(store, 2):
                print("goal submitted:", goal.goal_id, goal.data.title)
        finally:
            await nc.close()

    asyncio.run(agents())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222")
