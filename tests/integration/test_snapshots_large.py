"""Snapshots larger than a message go to the Object Store, checked by digest."""

from __future__ import annotations

import os

from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.store import EventStore
from callsheet.projections import PROJECTIONS, replay
from callsheet.projections.snapshots import SnapshotStore


def many_goals(n: int) -> list[GoalSubmitted]:
    # Random titles: even compressed, the state stays larger than a message.
    return [
        GoalSubmitted.new(
            data=GoalSubmittedData(title=os.urandom(100).hex()), goal_id=f"g{i}", producer="t"
        )
        for i in range(n)
    ]


async def test_a_large_snapshot_round_trips_through_the_object_store(store: EventStore) -> None:
    board = PROJECTIONS["board"]
    state = replay(board, many_goals(20000))
    snapshots = SnapshotStore(store.nc, store.config.stream)
    saved = await snapshots.save(board.name, board.version, 20000, state)
    assert saved.compression == "zlib"
    assert len(saved.state) > store.nc.max_payload  # too big for the Key-Value entry
    loaded = await snapshots.load(board)
    assert loaded is not None
    restored, seq = loaded
    assert seq == 20000 and restored == state
    # A smaller one replaces it in the Key-Value entry itself.
    small = replay(board, many_goals(3))
    await snapshots.save(board.name, board.version, 3, small)
    again = await snapshots.load(board)
    assert again is not None and again[0] == small
    await snapshots.drop_bucket()


async def test_a_tampered_large_snapshot_is_ignored(store: EventStore) -> None:
    board = PROJECTIONS["board"]
    state = replay(board, many_goals(20000))
    snapshots = SnapshotStore(store.nc, store.config.stream)
    await snapshots.save(board.name, board.version, 20000, state)
    objects = await store.nc.jetstream().object_store(snapshots.blob_bucket)
    await objects.put("board", b"not the snapshot")  # replaced behind the store's back
    assert await snapshots.load(board) is None
    await snapshots.drop_bucket()


async def test_a_compressible_state_is_stored_compressed(store: EventStore) -> None:
    board = PROJECTIONS["board"]
    events = [
        GoalSubmitted.new(data=GoalSubmittedData(title="x" * 200), goal_id=f"g{i}", producer="t")
        for i in range(8000)
    ]
    state = replay(board, events)
    snapshots = SnapshotStore(store.nc, store.config.stream)
    saved = await snapshots.save(board.name, board.version, 8000, state)
    assert saved.compression == "zlib" and len(saved.state) < store.nc.max_payload
    loaded = await snapshots.load(board)
    assert loaded is not None and loaded[0] == state
    await snapshots.drop_bucket()
