"""Work queues and buckets under infra/permissions.conf: each role's own, nobody else's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, KeyValueConfig

from callsheet.agents.consumers import ensure_work_queue
from callsheet.agents.leader import LeaderLease
from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import (
    TaskAssigned,
    TaskAssignedData,
)
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.events.subjects import role_work_filter
from tests.integration.permissions_support import connect, secure_server

STORE = StoreConfig()  # the shipped file names the default stream, root and blob bucket
WORKER = "worker-backend"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServerProcess]:
    yield from secure_server(tmp_path_factory)


@pytest.fixture
async def admin_store(server: NatsServerProcess) -> AsyncIterator[EventStore]:
    async with connect(server, "admin") as nc:
        yield await EventStore.open(nc, STORE)


def assigned(task: str, role: str = "backend") -> TaskAssigned:
    return TaskAssigned.new(
        data=TaskAssignedData(role=role, lease_seconds=2),
        goal_id="g",
        task_id=task,
        producer="x",
    )


# -- the work queues: each worker role's own ----------------------------------------


async def _frontend_queue(admin_store: EventStore) -> str:
    js = admin_store.nc.jetstream(timeout=5.0)
    return await ensure_work_queue(js, STORE.stream, STORE.root, "frontend", lease_seconds=30)


async def _info(js: JetStreamContext, queue: str) -> None:
    await js.consumer_info(STORE.stream, queue)


async def _fetch_queue(js: JetStreamContext, queue: str) -> None:
    sub = await js.pull_subscribe_bind(queue, stream=STORE.stream)
    await sub.fetch(1, timeout=1.0)


async def _pause_queue(js: JetStreamContext, queue: str) -> None:
    await js.pause_consumer(STORE.stream, queue, "2099-01-01T00:00:00Z")


async def _redirect_queue(js: JetStreamContext, queue: str) -> None:
    config = ConsumerConfig(durable_name=queue, ack_policy=AckPolicy.EXPLICIT, filter_subject="x.y")
    await js.add_consumer(STORE.stream, config)


QUEUE_SABOTAGE = {
    "fetch": _fetch_queue,
    "info": _info,
    "pause": _pause_queue,
    "redirect": _redirect_queue,
}


@pytest.mark.parametrize("attempt", sorted(QUEUE_SABOTAGE))
async def test_a_worker_cannot_touch_another_roles_queue(
    server: NatsServerProcess, admin_store: EventStore, attempt: str
) -> None:
    queue = await _frontend_queue(admin_store)
    await admin_store.append(assigned(f"t-front-{attempt}", role="frontend"))
    async with connect(server, WORKER) as nc:
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await QUEUE_SABOTAGE[attempt](nc.jetstream(timeout=1.0), queue)
    info = await admin_store.nc.jetstream().consumer_info(STORE.stream, queue)
    assert info.config.filter_subject == role_work_filter("frontend", root=STORE.root)
    assert not info.paused and not info.num_ack_pending


@pytest.mark.parametrize("role", ["controller", "supervisor", "reviewer", "application"])
async def test_no_other_role_takes_a_workers_tasks(
    server: NatsServerProcess, admin_store: EventStore, role: str
) -> None:
    queue = await _frontend_queue(admin_store)
    await admin_store.append(assigned(f"t-front-{role}", role="frontend"))
    async with connect(server, role) as nc:
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await _fetch_queue(nc.jetstream(timeout=1.0), queue)
    info = await admin_store.nc.jetstream().consumer_info(STORE.stream, queue)
    assert not info.num_ack_pending


async def test_a_worker_fetches_and_acks_its_own_queue(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    await admin_store.append(assigned("t-own", role="frontend"))
    async with connect(server, "worker-frontend") as nc:
        js = nc.jetstream(timeout=5.0)
        queue = await ensure_work_queue(js, STORE.stream, STORE.root, "frontend", lease_seconds=30)
        await js.consumer_info(STORE.stream, queue)
        sub = await js.pull_subscribe_bind(queue, stream=STORE.stream)
        msgs = await sub.fetch(1, timeout=5.0)
        await msgs[0].ack_sync()


# -- the buckets: leader leases, snapshots, exclusive resources ----------------------

BUCKET_CASES = [
    # (user, bucket suffix, key, may write)
    ("controller", "LEADERS", "supervisor", False),
    (WORKER, "LEADERS", "controller", False),
    ("reviewer", "LEADERS", "supervisor", False),
    ("supervisor", "LEADERS", "supervisor", True),
    (WORKER, "SNAPSHOTS", "agent-supervisor", False),
    ("controller", "SNAPSHOTS", "agent-supervisor", False),
    ("supervisor", "SNAPSHOTS", "board", False),
    ("supervisor", "SNAPSHOTS", "agent-supervisor", True),
    (WORKER, "LEASES", "test-suite.abc", False),
    ("controller", "LEASES", "test-suite.abc", False),
    ("worker-analyst", "LEASES", "test-suite.abc", True),
]


@pytest.mark.parametrize(("user", "suffix", "key", "allowed"), BUCKET_CASES)
async def test_each_bucket_entry_is_written_only_by_its_role(
    server: NatsServerProcess,
    admin_store: EventStore,
    user: str,
    suffix: str,
    key: str,
    allowed: bool,
) -> None:
    bucket = f"{STORE.stream}_{suffix}"
    admin_js = admin_store.nc.jetstream(timeout=5.0)
    try:
        admin_kv = await admin_js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        admin_kv = await admin_js.create_key_value(KeyValueConfig(bucket=bucket, history=1))
    before = await admin_kv.put(key, b"admin's")
    async with connect(server, user) as nc:
        kv = await nc.jetstream(timeout=1.0).key_value(bucket)
        if allowed:
            await kv.put(key, user.encode())
        else:
            for attempt in (kv.put(key, b"forged"), kv.delete(key), kv.purge(key)):
                with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
                    await attempt
    entry = await admin_kv.get(key)
    assert entry.value == (user.encode() if allowed else b"admin's")
    assert (entry.revision == before) != allowed


async def test_the_supervisor_takes_its_leader_lease_a_controller_cannot(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    async with connect(server, "admin") as nc:  # admin makes the bucket (or finds it), free
        kv = await LeaderLease(nc, STORE.stream, "supervisor", "admin", ttl=5.0).key_value()
        await kv.purge("supervisor")
    async with connect(server, "supervisor") as nc:
        lease = LeaderLease(nc, STORE.stream, "supervisor", "supervisor-1", ttl=5.0)
        await lease.take_once()
        async with connect(server, "controller") as other:
            usurper = LeaderLease(other, STORE.stream, "supervisor", "controller-1", ttl=5.0)
            kv = await usurper.key_value()
            with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
                await kv.delete("supervisor")
        await lease.release()
