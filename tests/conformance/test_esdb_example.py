"""The example helpdesk end to end: JetStream events, a SQLite view, an agent's reader."""

from __future__ import annotations

import asyncio
from pathlib import Path

from eventsourcing.persistence import IntegrityError
from eventsourcing.projection import ProjectionRunner
from ulid import ULID

from callsheet.esdb import JetStreamFactory
from examples.eventsourcing_app.helpdesk import (
    Helpdesk,
    Ticket,
    TicketCounts,
    TicketCountsView,
    agent_sees,
    settings,
)
from tests.conformance.esdb_support import delete_stream


def test_helpdesk_end_to_end(nats_url: str, tmp_path: Path) -> None:
    uid = str(ULID()).lower()
    stream, root = f"ES_{uid}", f"t{uid}"
    env = settings(nats_url, stream=stream, root=root, view_db=str(tmp_path / "view.db"))
    writer = Helpdesk(env)
    factory = writer.factory
    assert isinstance(factory, JetStreamFactory)
    try:
        with ProjectionRunner(
            application_class=Helpdesk,
            projection_class=TicketCounts,
            view_class=TicketCountsView,
            env=env,
        ) as runner:
            first, second, third = writer.open_tickets("a", "b", "c")  # one atomic batch
            writer.close_ticket(first)
            writer.close_ticket(second)
            runner.wait(writer.recorder.max_notification_id(), timeout=10)
            assert runner.view.count("open") == 1
            assert runner.view.count("closed") == 2

            # A stale copy of an aggregate cannot overwrite a newer version.
            stale: Ticket = writer.repository.get(third)
            fresh: Ticket = writer.repository.get(third)
            fresh.close()
            writer.save(fresh)
            stale.close()
            try:
                writer.save(stale)
            except IntegrityError:
                pass
            else:  # pragma: no cover
                raise AssertionError("a conflicting save was accepted")
            runner.wait(writer.recorder.max_notification_id(), timeout=10)
            assert runner.view.count("closed") == 3

        # Snapshots were taken (every 2 events) but are not notifications.
        assert writer.snapshots is not None
        assert list(writer.snapshots.get(first))
        assert writer.recorder.max_notification_id() == 6
        assert writer.status(first) == "closed"

        # What a callsheet agent reads: the same events, JSON, on {root}.es.{id}.{topic}.
        seen = asyncio.run(agent_sees(nats_url, stream=stream, root=root))
        assert [seq for seq, _, _ in seen] == [1, 2, 3, 4, 5, 6]
        assert all(subject.startswith(f"{root}.es.") for _, subject, _ in seen)
        assert seen[0][1].endswith("Ticket~2EOpened")
        assert seen[0][2]["title"] == "a"
    finally:
        for purpose in ("events", "snapshots"):
            delete_stream(factory.bridge, factory.layout(purpose).stream)
        writer.close()
        writer.close()  # close() may be called twice
