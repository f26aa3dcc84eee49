"""The example helpdesk end to end: JetStream events, a SQLite view, an agent's reader."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
from eventsourcing.persistence import IntegrityError
from eventsourcing.projection import ProjectionRunner

from callsheet.esdb import JetStreamFactory
from callsheet.events.catalog import GoalSubmitted
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.projections import PROJECTIONS, replay_log
from examples.eventsourcing_app.helpdesk import (
    GOAL,
    Helpdesk,
    Ticket,
    TicketCounts,
    TicketCountsView,
    agent_sees,
    settings,
    triage,
)
from tests.conformance.esdb_support import delete_streams, unique_config


async def _agents(
    nats_url: str, config: StoreConfig
) -> tuple[list[tuple[int, str, Any]], list[GoalSubmitted]]:
    nc = await nats.connect(nats_url)
    try:
        store = await EventStore.open(nc, config)
        seen = await agent_sees(store)
        goals = await triage(store, 3)
        # The library's events replay into the log's projections like any others.
        boards, _ = await replay_log(PROJECTIONS["board"], store.read())
        assert boards.goals[GOAL].events == 6
        return seen, goals
    finally:
        await nc.close()


def test_helpdesk_end_to_end(nats_url: str, tmp_path: Path) -> None:
    config = unique_config()
    env = settings(
        nats_url,
        stream=config.stream,
        root=config.root,
        view_db=str(tmp_path / "view.db"),
        blob_bucket=config.blob_bucket,
    )
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

        # In callsheet's log: ordinary events, which agents react to.
        seen, goals = asyncio.run(_agents(nats_url, config))
        assert [seq for seq, _, _ in seen] == [1, 2, 3, 4, 5, 6]
        assert [topic.rpartition(".")[2] for _, topic, _ in seen] == ["Opened"] * 3 + ["Closed"] * 3
        assert seen[0][2]["title"] == "a"
        assert sorted(g.data.title for g in goals) == [f"Resolve ticket: {t}" for t in "abc"]
        opened = {f"ticket-{t}" for t in (first, second, third)}
        assert {g.goal_id for g in goals} == opened
    finally:
        for purpose in ("events", "snapshots"):
            delete_streams(factory.bridge, factory.store_config(purpose))
        writer.close()
        writer.close()  # close() may be called twice
