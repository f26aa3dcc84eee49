"""Group commit against a real server: batches for many callers, a position and error each."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from callsheet.events.catalog import TaskProgress, TaskProgressData
from callsheet.events.errors import DuplicateEventIdError
from callsheet.events.group_commit import GroupCommit
from callsheet.events.store import EventStore


def _progress(i: int) -> TaskProgress:
    return TaskProgress.new(
        data=TaskProgressData(worker="w", percent=1.0, note=f"n{i}"),
        goal_id="g",
        task_id=f"t{i % 5}",
        producer="test",
    )


async def test_concurrent_appends_share_batches_and_each_gets_its_position(
    store: EventStore,
) -> None:
    committer = GroupCommit(store)
    events = [_progress(i) for i in range(400)]
    appended = await asyncio.gather(*(committer.append(e) for e in events))
    assert [a.event_id for a in appended] == [e.id for e in events]
    assert len({a.seq for a in appended}) == 400
    assert committer.batches < 400 // 4  # grouped, not one commit per event
    stored = {s.seq: s.event.id async for s in store.read()}
    assert all(stored[a.seq] == a.event_id for a in appended)


async def test_one_bad_event_fails_only_its_caller(store: EventStore) -> None:
    first = _progress(0)
    await store.append(first)
    clash = msgspec.structs.replace(first, data=TaskProgressData(worker="w", percent=2.0))
    committer = GroupCommit(store)
    events = [_progress(i) for i in range(1, 50)]
    results = await asyncio.gather(
        *(committer.append(e) for e in [*events[:20], clash, *events[20:]]),
        return_exceptions=True,
    )
    assert isinstance(results[20], DuplicateEventIdError)
    good = [r for i, r in enumerate(results) if i != 20]
    assert all(not isinstance(r, BaseException) for r in good)
    ids = [s.event.id async for s in store.read()]
    assert ids.count(first.id) == 1 and all(e.id in ids for e in events)


async def test_a_batch_limit_below_one_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        GroupCommit(store, max_batch=0)
