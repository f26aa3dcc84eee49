"""On a 3-node cluster: the stream leader killed during appends, and replicas everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from ulid import ULID

from callsheet.agents.leader import LeaderLease
from callsheet.broker.cluster import LocalCluster
from callsheet.events.catalog import TaskProgress, TaskProgressData
from callsheet.events.errors import StoreError
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.stream import StoreConfig
from tests.e2e.cli_support import Processes, cli, cli_env

pytestmark = pytest.mark.timeout(240)
T = TypeVar("T")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster"), sync="lazy") as running:
        yield running


@pytest.fixture
async def cnc(cluster: LocalCluster) -> AsyncIterator[Client]:
    await cluster.wait_ready()
    client = await nats.connect(
        servers=cluster.url.split(","),
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
    )
    try:
        yield client
    finally:
        await client.close()


async def patiently(call: Callable[[], Awaitable[T]], deadline: float = 30.0) -> T:
    """Run ``call`` until it does not time out: set-up and checks, not what is tested."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        try:
            return await call()
        except nats.errors.TimeoutError:
            if loop.time() >= end:
                raise
        await asyncio.sleep(0.2)  # retry interval, bounded by the deadline


async def leader_of(nc: Client, stream: str, deadline: float = 30.0) -> str:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        try:
            info = await nc.jetstream(timeout=2).stream_info(stream)
            if info.cluster is not None and info.cluster.leader:
                return info.cluster.leader
        except Exception:
            if loop.time() >= end:
                raise
        await asyncio.sleep(0.1)  # retry interval, bounded by the deadline


async def all_replicas_current(nc: Client, stream: str, deadline: float = 30.0) -> None:
    """Wait until every replica of ``stream`` has every message (none lags behind)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        info = await patiently(lambda: nc.jetstream(timeout=2).stream_info(stream))
        replicas = (info.cluster.replicas or []) if info.cluster else []
        if len(replicas) == 2 and all(r.current and not r.lag for r in replicas):
            return
        assert loop.time() < end, f"the replicas of {stream} did not catch up: {replicas}"
        await asyncio.sleep(0.1)  # retry interval, bounded by the deadline


async def test_killing_the_stream_leader_during_appends_loses_and_duplicates_nothing(
    cluster: LocalCluster, cnc: Client
) -> None:
    uid = str(ULID()).lower()
    config = StoreConfig(stream=f"F_{uid}", root=f"f{uid}", blob_bucket=f"FB_{uid}", replicas=3)
    store = await patiently(lambda: EventStore.open(cnc, config))
    acked: dict[str, int] = {}
    store_errors = 0
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        nonlocal store_errors
        i = 0
        while not stop.is_set():
            event = TaskProgress.new(
                data=TaskProgressData(worker="w", percent=float(i % 100)),
                goal_id="g",
                task_id=f"t{n}",
                producer="test",
            )
            while True:  # the caller's retry: same event, same id, so no duplicate
                try:
                    appended = await store.append(event, timeout=2.0)
                    break
                except StoreError:
                    store_errors += 1  # StoreUnavailable or AppendTimeout, never raw
            acked[event.id] = appended.seq
            i += 1

    writers = [asyncio.create_task(writer(n)) for n in range(4)]
    killed = []
    try:
        for _ in range(2):
            before = len(acked)
            while len(acked) < before + 50:
                await asyncio.sleep(0.05)  # appends keep going: polled, bounded by the timeout
                assert all(not w.done() for w in writers), [w.exception() for w in writers]
            name = await leader_of(cnc, config.stream)
            node = cluster.node(name)
            node.kill()
            killed.append(name)
            new_leader = await leader_of(cnc, config.stream)
            node.start()
            assert new_leader != name
            before = len(acked)
            while len(acked) < before + 50:  # appends resume under the new leader
                await asyncio.sleep(0.05)
                assert all(not w.done() for w in writers), [w.exception() for w in writers]
    finally:
        stop.set()
        results = await asyncio.gather(*writers, return_exceptions=True)
    assert [r for r in results if r is not None] == []  # no raw nats error escaped
    assert len(killed) == 2

    async def read_all() -> list[StoredEvent]:
        return [s async for s in store.read()]

    stored = await patiently(read_all)
    ids = [s.event.id for s in stored]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    by_id = {s.event.id: s.seq for s in stored}
    lost = [i for i in acked if i not in by_id]
    assert lost == []
    assert all(by_id[i] == seq for i, seq in acked.items())
    await cnc.jetstream().delete_stream(config.stream)


def test_callsheet_replicas_3_replicates_every_stream_and_bucket(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    asyncio.run(cluster.wait_ready())
    env = cli_env(cluster.url, tmp_path)
    env["CALLSHEET_REPLICAS"] = "3"
    root = env["CALLSHEET_SUBJECT_ROOT"]
    procs = Processes(env)
    try:
        procs.start("gatekeeper")
        procs.start("crew", "--lease", "3", "--step-seconds", "0", "--leader-ttl", "5")
        done = cli(env, "submit", "Build a login", "--timeout", "120", timeout=150)
        assert done.returncode == 0, done.stderr
        assert cli(env, "token", "create", "svc").returncode == 0
    finally:
        procs.stop()

    async def replicas() -> dict[str, int]:
        nc = await nats.connect(servers=cluster.url.split(","))
        try:
            infos = await nc.jetstream().streams_info()
        finally:
            await nc.close()
        stream = env["CALLSHEET_STREAM"]
        mine = (stream, root.upper())
        return {
            i.config.name or "": i.config.num_replicas or 1
            for i in infos
            if any(part in (i.config.name or "") for part in mine)
        }

    found = asyncio.run(replicas())
    # The log, the ingress and dead letters, and the crew's buckets (snapshots, leases,
    # tokens...) are all there, all with three replicas.
    assert env["CALLSHEET_STREAM"] in found
    assert any(name.endswith("_INGRESS") for name in found)
    assert any(name.endswith("_DEADLETTER") for name in found)
    assert any(name.startswith("KV_") for name in found), found
    assert {name: n for name, n in found.items() if n != 3} == {}


async def test_submit_waits_out_a_cluster_without_quorum(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    await cluster.wait_ready()
    env = cli_env(cluster.url, tmp_path)
    env["CALLSHEET_REPLICAS"] = "3"
    first = await asyncio.to_thread(cli, env, "submit", "warm-up", "--no-wait")
    assert first.returncode == 0, first.stderr  # the log exists, with 3 replicas
    down = cluster.nodes[1:]
    for node in down:
        node.kill()  # one node of three left: no quorum, the log's stream has no leader
    try:
        pending = asyncio.create_task(
            asyncio.to_thread(cli, env, "submit", "Outage", "--goal", "g-out", "--no-wait")
        )
        await asyncio.sleep(3)  # the outage lasts a while: submit must be waiting meanwhile
        assert not pending.done()
    finally:
        for node in down:
            node.start()
    done = await pending
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "goal g-out submitted" in done.stdout
    events = await asyncio.to_thread(cli, env, "events", "--goal", "g-out", "--json")
    assert events.returncode == 0, events.stderr
    assert events.stdout.count('"goal.submitted"') == 1


async def test_a_read_waits_out_a_cluster_without_quorum(
    cluster: LocalCluster, cnc: Client
) -> None:
    uid = str(ULID()).lower()
    config = StoreConfig(stream=f"Q_{uid}", root=f"q{uid}", blob_bucket=f"QB_{uid}", replicas=3)
    store = await patiently(lambda: EventStore.open(cnc, config))
    event = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=1.0), goal_id="g", task_id="t", producer="test"
    )
    await store.append(event)
    await all_replicas_current(cnc, config.stream)  # what is tested is the wait, not staleness

    async def read_all() -> list[str]:
        return [s.event.id async for s in store.read(goal_id="g")]

    down = cluster.nodes[1:]
    for node in down:
        node.kill()  # no quorum: creating the read's consumer gets no answer
    try:
        pending = asyncio.create_task(read_all())
        # Longer than one request's timeout (5 s): the read must still be waiting.
        await asyncio.sleep(6)
        assert not pending.done(), pending.exception() if pending.done() else None
    finally:
        for node in down:
            node.start()
    assert await pending == [event.id]
    await patiently(lambda: cnc.jetstream().delete_stream(config.stream))


async def test_a_leader_lease_waits_out_a_cluster_without_quorum(
    cluster: LocalCluster, cnc: Client
) -> None:
    uid = str(ULID()).lower()
    lease = LeaderLease(cnc, f"L_{uid}", "supervisor", "supervisor-1", ttl=5.0, replicas=3)
    stopping = asyncio.Event()
    down = cluster.nodes[1:]
    for node in down:
        node.kill()  # no quorum: the lease's bucket cannot be made yet
    try:
        pending = asyncio.create_task(lease.acquire(stopping))
        # Longer than one request's timeout (5 s): the supervisor must still be waiting.
        await asyncio.sleep(6)
        assert not pending.done(), pending.exception() if pending.done() else None
    finally:
        for node in down:
            node.start()
    try:
        assert await asyncio.wait_for(pending, 60) is True
        assert lease.held
    finally:
        stopping.set()
    await patiently(lambda: cnc.jetstream().delete_key_value(lease.bucket))
