"""The event store against a real nats-server."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.errors import (
    AppendError,
    BatchTooLargeError,
    ConcurrencyConflict,
    DuplicateEventIdError,
    EventDecodeError,
    StreamConfigError,
)
from callsheet.events.store import CorruptEventError, EventStore
from callsheet.events.stream import StoreConfig
from callsheet.events.wire import H_BLOB

GOAL = "goal one.*>~ünï"


def submitted(goal: str = GOAL, title: str = "build auth") -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title=title), goal_id=goal, producer="cli")


def started(task: str, goal: str = GOAL, worker: str = "w1") -> TaskStarted:
    return TaskStarted.new(
        data=TaskStartedData(worker=worker), goal_id=goal, task_id=task, producer=worker
    )


def progress(task: str, percent: float, goal: str = GOAL) -> TaskProgress:
    return TaskProgress.new(
        data=TaskProgressData(worker="w1", percent=percent),
        goal_id=goal,
        task_id=task,
        producer="w1",
    )


async def count(store: EventStore) -> int:
    return await store.stream_last_seq()


async def test_append_and_read_back_with_unsafe_ids(store: EventStore) -> None:
    events = [
        submitted(),
        TaskAssigned.new(
            data=TaskAssignedData(role="back end.dev"),
            goal_id=GOAL,
            task_id="task 1.a*b>c",
            producer="sup",
        ),
        started("task 1.a*b>c"),
    ]
    seqs = [(await store.append(e)).seq for e in events]
    assert seqs == [1, 2, 3]
    stored = [s async for s in store.read(goal_id=GOAL)]
    assert [s.event for s in stored] == events
    assert [s.seq for s in stored] == [1, 2, 3]
    assert stored[1].event.route_role == "back end.dev"
    assert [s.pending for s in stored] == [2, 1, 0]
    assert (await store.get(2)).event == events[1]


async def test_retried_append_never_duplicates(store: EventStore) -> None:
    event = submitted()
    first = await store.append(event)
    again = await store.append(event)
    assert (again.seq, again.duplicate) == (first.seq, True)
    assert not first.duplicate
    assert await count(store) == 1


async def test_forged_duplicate_id_with_other_body_is_refused(store: EventStore) -> None:
    original = submitted(title="the real one")
    await store.append(original)
    forged = msgspec.structs.replace(original, data=GoalSubmittedData(title="forged"))
    with pytest.raises(DuplicateEventIdError, match="different body"):
        await store.append(forged)
    assert await count(store) == 1
    assert (await store.get(1)).event == original


async def test_invalid_event_is_refused_before_sending(store: EventStore) -> None:
    bad = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=150.0), goal_id=GOAL, task_id="t", producer="w"
    )
    with pytest.raises(EventDecodeError, match=r"\$\.data\.percent"):
        await store.append(bad)
    assert await count(store) == 0


async def test_optimistic_concurrency_per_entity(store: EventStore) -> None:
    await store.append(started("t1"), expected_last_seq=0)
    assert await store.last_seq(GOAL, "t1") == 1
    # Another entity is independent of t1's position.
    await store.append(started("t2"), expected_last_seq=0)
    await store.append(progress("t1", 10), expected_last_seq=1)
    with pytest.raises(ConcurrencyConflict) as info:
        await store.append(progress("t1", 20), expected_last_seq=1)
    assert info.value.expected == 1
    assert info.value.actual == 3
    with pytest.raises(ConcurrencyConflict):
        await store.append(started("t2"), expected_last_seq=0)
    assert await count(store) == 3
    assert await store.last_seq(GOAL, "nope") == 0


async def test_lost_ack_is_not_reported_as_conflict(store: EventStore) -> None:
    event = started("t1")
    first = await store.append(event, expected_last_seq=0)
    # The client never saw that ack and retries with the same expectation.
    retry = await store.append(event, expected_last_seq=0)
    assert retry == type(retry)(first.seq, event.id, duplicate=True)
    # Someone else's event with the same stale expectation is a real conflict.
    with pytest.raises(ConcurrencyConflict):
        await store.append(started("t1", worker="w2"), expected_last_seq=0)
    assert await count(store) == 1


async def test_atomic_batch_is_all_or_nothing(store: EventStore) -> None:
    await store.append(started("t1"))
    batch = [progress(f"t{i % 3}", float(i)) for i in range(9)]
    with pytest.raises(ConcurrencyConflict):
        await store.append_batch(batch, expected={(GOAL, "t1"): 0})
    assert await count(store) == 1
    # The expectation is on the first event of t1 only; t1 has three events here.
    result = await store.append_batch(batch, expected={(GOAL, "t1"): 1, (GOAL, "t2"): 0})
    assert [r.seq for r in result] == list(range(2, 11))
    assert [s.event async for s in store.read(from_seq=2)] == batch


async def test_atomic_batch_retry_after_lost_ack(store: EventStore) -> None:
    batch = [progress("t1", float(i)) for i in range(5)]
    first = await store.append_batch(batch)
    again = await store.append_batch(batch)
    assert [a.seq for a in again] == [f.seq for f in first]
    assert all(a.duplicate for a in again)
    again_expected = await store.append_batch(batch, expected={(GOAL, "t1"): 0})
    assert [a.seq for a in again_expected] == [f.seq for f in first]
    assert await count(store) == 5


async def test_batch_limits(nc: Client, store: EventStore, store_config: StoreConfig) -> None:
    too_many = [progress("t", 1.0) for _ in range(store_config.max_batch + 1)]
    with pytest.raises(BatchTooLargeError, match="over the server's limit of 1000"):
        await store.append_batch(too_many)
    # Without our own check, the server refuses it too (the same error), and stores nothing.
    unchecked = EventStore(nc, dataclasses.replace(store_config, max_batch=5000))
    with pytest.raises(BatchTooLargeError, match="over the server's limit: split"):
        await unchecked.append_batch(too_many)
    dup = progress("t", 1.0)
    with pytest.raises(AppendError, match="more than once"):
        await store.append_batch([dup, dup])
    assert await count(store) == 0
    full = await store.append_batch(too_many[:1000])
    assert len(full) == 1000


async def test_large_event_goes_to_object_store(nc: Client, store: EventStore) -> None:
    big_output = "transcript line\n" * 400_000  # 6.4 MB, over the 1 MB message limit
    event = TaskResult.new(
        data=TaskResultData(worker="w1", output=big_output),
        goal_id=GOAL,
        task_id="t",
        producer="w1",
    )
    appended = await store.append(event)
    assert (await store.get(appended.seq)).event == event
    assert [s.event async for s in store.read(goal_id=GOAL)] == [event]
    raw = await nc.jetstream().get_msg(store.config.stream, appended.seq)
    assert raw.headers is not None and H_BLOB in raw.headers
    pointer = msgspec.json.decode(raw.data or b"")
    assert pointer["id"] == event.id
    assert pointer["data_ref"]["digest"].startswith("sha256:")
    assert len(raw.data or b"") < 2000
    # Idempotent as any other append.
    assert (await store.append(event)).duplicate


async def test_read_filters(store: EventStore) -> None:
    other = "other goal"
    events = [
        submitted(),
        started("t1"),
        progress("t1", 50),
        submitted(goal=other),
        started("t2"),
        progress("t2", 10),
    ]
    for event in events:
        await store.append(event)

    async def ids(**kwargs: object) -> list[int]:
        return [s.seq async for s in store.read(**kwargs)]  # type: ignore[arg-type]

    assert await ids() == [1, 2, 3, 4, 5, 6]
    assert await ids(goal_id=other) == [4]
    assert await ids(task_id="t1") == [2, 3]
    assert await ids(goal_id=GOAL, types=["task.progress"]) == [3, 6]
    assert await ids(types=["task.*"]) == [2, 3, 5, 6]
    assert await ids(types=["goal.submitted", "task.started"]) == [1, 2, 4, 5]
    assert await ids(from_seq=3, until_seq=5) == [3, 4, 5]
    assert await ids(goal_id="no such goal") == []
    assert await ids(from_seq=7) == []
    stored = [s async for s in store.read()]
    cut = stored[2].stored_at
    assert await ids(until=cut) == [s.seq for s in stored if s.stored_at <= cut]
    assert await ids(since=datetime.now(UTC) + timedelta(hours=1)) == []
    with pytest.raises(ValueError, match=r"category\.action"):
        await ids(types=["nodot"])


async def test_subscribe_catches_up_then_continues_live_without_gap(store: EventStore) -> None:
    for i in range(200):
        await store.append(progress("t", float(i % 100)))
    seen: list[int] = []

    async def writer() -> None:
        for i in range(300):
            await store.append(progress("u", float(i % 100)))

    async with store.subscribe() as sub:
        task = asyncio.create_task(writer())
        async for stored in sub:
            seen.append(stored.seq)
            if len(seen) == 500:
                break
        await task
    assert seen == list(range(1, 501))


async def test_subscribe_from_position_and_filter(store: EventStore) -> None:
    for i in range(5):
        await store.append(started(f"t{i}"))
    got: list[str | None] = []
    async with store.subscribe(from_seq=3, types=["task.started", "task.progress"]) as sub:
        await store.append(progress("t9", 1.0))
        async for stored in sub:
            got.append(stored.event.task_id)
            if len(got) == 4:
                break
    assert got == ["t2", "t3", "t4", "t9"]


async def test_stream_denies_delete_and_purge(nc: Client, store: EventStore) -> None:
    await store.append(submitted())
    js = nc.jetstream()
    with pytest.raises(APIError):
        await js.delete_msg(store.config.stream, 1)
    with pytest.raises(APIError):
        await js.purge_stream(store.config.stream)
    assert await count(store) == 1
    info = await js.stream_info(store.config.stream)
    assert info.config.deny_delete and info.config.deny_purge and info.config.allow_atomic


async def test_existing_stream_with_unsafe_config_is_refused(
    nc: Client, store_config: StoreConfig
) -> None:
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(name=store_config.stream, subjects=[f"{store_config.root}.ev.>"], max_msgs=10)
    )
    try:
        with pytest.raises(StreamConfigError, match="deny_delete is off") as info:
            await EventStore.open(nc, store_config)
        assert "drops history" in str(info.value)
    finally:
        await js.delete_stream(store_config.stream)


async def test_a_log_whose_subjects_another_stream_holds_is_refused(
    nc: Client, store_config: StoreConfig
) -> None:
    js = nc.jetstream()
    other = f"{store_config.stream}_OTHER"
    await js.add_stream(StreamConfig(name=other, subjects=[f"{store_config.root}.ev.>"]))
    try:
        with pytest.raises(StreamConfigError, match="overlap those of another stream"):
            await EventStore.open(nc, store_config)
    finally:
        await js.delete_stream(other)


async def test_garbage_written_around_the_store_is_reported(nc: Client, store: EventStore) -> None:
    await store.append(submitted())
    subject = f"{store.config.root}.ev.g.goal.g.~.goal.submitted"
    await nc.jetstream().publish(subject, b'{"type":"goal.submitted"}')
    with pytest.raises(CorruptEventError, match=r"message 2 .* is required but missing"):
        [s async for s in store.read()]
    assert (await store.get(1)).event.event_type == "goal.submitted"


async def test_append_many_pipelines_and_dedups(store: EventStore) -> None:
    events = [progress("t", float(i % 100)) for i in range(300)]
    result = await store.append_many(events)
    assert [r.seq for r in result] == list(range(1, 301))
    again = await store.append_many(events[:10])
    assert all(r.duplicate for r in again)
    assert await count(store) == 300
