"""Blobs under infra/permissions.conf: write-once, whatever an agent user publishes."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Iterator

import nats
import pytest

from callsheet.broker.process import NatsServerProcess
from callsheet.events.blobs import blob_ref
from callsheet.events.catalog import (
    TaskAssigned,
    TaskAssignedData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
)
from callsheet.events.codec import encode
from callsheet.events.store import CorruptEventError, EventStore
from callsheet.events.stream import StoreConfig
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


# -- the blobs: write-once -----------------------------------------------------------


def _meta(name: str) -> str:
    """The subject of a blob's description (the Object Store's layout)."""
    return f"$O.{STORE.blob_bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def _big(goal: str, fill: str = "x") -> TaskResult:
    return TaskResult.new(
        data=TaskResultData(worker="w", output=fill * 1_200_000),
        goal_id=goal,
        task_id="t",
        producer="w",
    )


async def test_an_agent_cannot_overwrite_a_blob(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    goal = "g-blob"
    big = _big(goal)
    await admin_store.append(big)
    ref = await admin_store.put_blob(encode(big))  # the reference the event's pointer has
    stream = f"OBJ_{STORE.blob_bucket}"
    info = await admin_store.nc.jetstream().stream_info(stream)
    assert info.config.deny_delete and info.config.deny_purge
    assert not info.config.allow_rollup_hdrs
    async with connect(server, WORKER) as nc:
        js = nc.jetstream(timeout=2.0)
        objects = await js.object_store(STORE.blob_bucket)
        # The Object Store's own overwrite (a description with a rollup): the broker refuses.
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await objects.put(ref.name, b"y" * ref.size)
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await js.purge_stream(stream)
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await js.delete_msg(stream, 1)
        # A description of other bytes, appended without a rollup: stored, never read.
        forged = dict(name=ref.name, bucket=STORE.blob_bucket, nuid="forged", size=ref.size)
        await js.publish(f"$O.{STORE.blob_bucket}.C.forged", b"y" * 1000, stream=stream)
        await js.publish(_meta(ref.name), json.dumps({**forged, "chunks": 1}).encode())
        await js.publish(_meta(ref.name), b"{not json", stream=stream)
    reported: list[CorruptEventError] = []
    events = [s.event async for s in admin_store.read(goal_id=goal, on_corrupt=reported.append)]
    assert events == [big] and not reported
    assert await admin_store.get_blob(ref) == encode(big)


async def test_a_squatted_blob_name_is_skipped_and_a_good_copy_appended(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    goal = "g-squat"
    big = _big(goal, "z")
    ref = blob_ref(STORE.blob_bucket, encode(big))
    await admin_store.put_blob(b"make the bucket" * 100)
    stream = f"OBJ_{STORE.blob_bucket}"
    async with connect(server, WORKER) as nc:  # a name is claimed before its bytes are written
        js = nc.jetstream(timeout=2.0)
        await js.publish(f"$O.{STORE.blob_bucket}.C.squat", b"y" * 1000, stream=stream)
        squat = dict(name=ref.name, bucket=STORE.blob_bucket, nuid="squat", size=ref.size, chunks=1)
        await js.publish(_meta(ref.name), json.dumps(squat).encode(), stream=stream)
    await admin_store.append(big)
    events = [s.event async for s in admin_store.read(goal_id=goal)]
    assert events == [big]
    assert await admin_store.get_blob(ref) == encode(big)


async def test_a_blob_overwritten_in_an_old_bucket_is_reported_and_restored_by_its_writer(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    # A bucket made before blobs were write-once still takes rollups: the read checks the
    # digest, reports the event and reads on; a retry of the event appends a good copy.
    config = StoreConfig(blob_bucket="OLD_BLOBS")
    await admin_store.nc.jetstream().create_object_store("OLD_BLOBS")
    store = EventStore(admin_store.nc, config)
    goal = "g-old-blob"
    big = _big(goal, "o")
    await store.append(big)
    after = await store.append(
        TaskProgress.new(
            data=TaskProgressData(worker="w", percent=1.0), goal_id=goal, task_id="u", producer="w"
        )
    )
    ref = blob_ref("OLD_BLOBS", encode(big))
    async with connect(server, WORKER) as nc:
        objects = await nc.jetstream(timeout=2.0).object_store("OLD_BLOBS")
        # The purge of the old chunks is refused (the put times out) after the rollup.
        with contextlib.suppress(nats.errors.TimeoutError):
            await objects.put(ref.name, b"y" * ref.size)  # same size: only the digest tells
    reported: list[CorruptEventError] = []
    seqs = [s.seq async for s in store.read(goal_id=goal, on_corrupt=reported.append)]
    assert seqs == [after.seq]  # the rest of the log is read
    assert len(reported) == 1 and "digest" in reported[0].reason
    again = await store.append(big)
    assert again.duplicate
    events = [s.event async for s in store.read(goal_id=goal)]
    assert events[0] == big
