"""The store across a nats-server restart (file storage): nothing lost, no duplicate."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callsheet.broker.connect import connect
from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import TaskProgress, TaskProgressData
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from tests.support import assert_eventually


def progress(i: int) -> TaskProgress:
    return TaskProgress.new(
        data=TaskProgressData(worker="w", percent=float(i % 100)),
        goal_id="g",
        task_id="t",
        producer="w",
    )


async def test_subscription_and_appends_survive_a_restart(tmp_path: Path) -> None:
    server = NatsServerProcess(store_dir=tmp_path / "store").start()
    try:
        nc = await connect(server.url)
        store = await EventStore.open(nc, StoreConfig())
        for i in range(50):
            await store.append(progress(i))
        seen: list[int] = []

        async def follow() -> None:
            async with store.subscribe() as sub:
                async for stored in sub:
                    seen.append(stored.seq)
                    if len(seen) == 100:
                        return

        follower = asyncio.create_task(follow())
        await assert_eventually(lambda: len(seen) == 50, message="catch-up did not finish")
        server.restart()

        appended: list[int] = []
        later = [progress(i) for i in range(50)]

        async def append_next() -> bool:
            # Retrying the same event is safe: a lost ack comes back as a duplicate.
            try:
                appended.append((await store.append(later[len(appended)], timeout=1)).seq)
            except Exception:
                return False
            return len(appended) == 50

        await assert_eventually(append_next, timeout=30, message="appends did not resume")
        await asyncio.wait_for(follower, 30)
        assert appended == list(range(51, 101))
        assert seen == list(range(1, 101))
        await nc.close()
    finally:
        server.stop()
