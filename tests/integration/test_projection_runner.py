"""The projection runner against a real nats-server: snapshots, live state, quarantine."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import nats
import pytest
from hypothesis import given, settings
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError

from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
    TaskHeartbeat,
    TaskHeartbeatData,
    TaskPlanned,
    TaskPlannedData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.projections import PROJECTIONS, Projection, replay
from callsheet.projections.quarantine import Quarantine
from callsheet.projections.runner import ProjectionRunner
from callsheet.projections.snapshots import (
    Snapshot,
    SnapshotStore,
    decode_state,
    encode_state,
    entry_key,
    state_type,
)
from tests.unit.test_projections_support import Script, histories

NAMES = sorted(PROJECTIONS)
GOAL = "goal one.*>~ünï"


def _work(goal: str = GOAL, task: str = "a", worker: str = "w1") -> list[Event]:
    """A goal's worth of events touching every projection's maps (incl. tuple-keyed ones)."""
    s = Script(goal=goal)
    s.add(GoalSubmitted, GoalSubmittedData(title="Ship it"))
    s.add(TaskPlanned, TaskPlannedData(title="Build", role="dev"), task=task)
    s.add(TaskAssigned, TaskAssignedData(role="dev", lease_seconds=30.0), task=task)
    s.add(TaskStarted, TaskStartedData(worker=worker), task=task, producer=worker)
    s.add(TaskHeartbeat, TaskHeartbeatData(worker=worker), task=task, producer=worker)
    s.add(
        ContextUpdated,
        ContextUpdatedData(key=f"api.{task}", kind="decision", value={"v": 1}, author=worker),
        producer=worker,
    )
    s.add(TaskProgress, TaskProgressData(worker=worker, percent=50.0), task=task, producer=worker)
    s.add(TaskResult, TaskResultData(worker=worker, output={"ok": True}), task=task)
    return s.events


def _renumbered(events: list[Event], offset: int) -> list[Event]:
    """Events with fresh ids, so that the log does not drop them as duplicates."""
    return [
        msgspec.structs.replace(e, id=f"01J9Z6N3V6E2K1X4W0M9{offset + i:06d}")
        for i, e in enumerate(events)
    ]


@pytest.fixture
async def snapshots(nc: Client, store: EventStore) -> AsyncIterator[SnapshotStore]:
    """The test stream's snapshot store; its bucket and the quarantine's are dropped after."""
    snaps = SnapshotStore(nc, store.config.stream)
    yield snaps
    quarantine = Quarantine(nc, store.config.stream, "any")
    await snaps.drop_bucket()
    await quarantine.drop_bucket()
    for bucket in (snaps.bucket, quarantine.bucket):
        with pytest.raises(BucketNotFoundError):
            await nc.jetstream().key_value(bucket)


def _run(runner: ProjectionRunner[Any]) -> asyncio.Task[None]:
    return asyncio.create_task(runner.run())


# -- codec ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(history=histories())
def test_every_projection_state_round_trips_through_the_snapshot_codec(
    name: str, history: list[Event]
) -> None:
    projection = PROJECTIONS[name]
    state = replay(projection, history)
    codec, data = encode_state(state)
    assert decode_state(data, state_type(projection), codec) == state


def test_integers_msgpack_cannot_hold_fall_back_to_json() -> None:
    board = PROJECTIONS["board"]
    s = Script()
    s.add(TaskAssigned, TaskAssignedData(role="dev", max_attempts=2**70), task="a")
    state = replay(board, s.events)
    codec, data = encode_state(state)
    assert codec == "json"
    assert decode_state(data, state_type(board), codec) == state


def test_keys_escape_what_kv_keys_cannot_hold() -> None:
    assert entry_key("board") == "board"
    assert entry_key("board", "g1") == "board.g1"
    key = entry_key("board", GOAL)
    assert set(key) <= set("-/_=.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    assert entry_key("a.b") != entry_key("a", "b")
    assert entry_key("board", "a=2E") != entry_key("board", "a.")


# -- runner --------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
async def test_live_state_equals_a_full_replay_at_the_same_seq(
    name: str, store: EventStore, snapshots: SnapshotStore
) -> None:
    projection = PROJECTIONS[name]
    before = _work(GOAL, "a")
    await store.append_many(before)
    runner = ProjectionRunner(store, projection, snapshots=snapshots, snapshot_every=3)
    task = _run(runner)
    await runner.wait_for_seq(len(before))
    assert runner.state == replay(projection, [s async for s in store.read()])

    live = _renumbered(_work("g2", "b", "w2"), 0)
    appended = await store.append_many(live)
    last = appended[-1].seq
    state = await runner.wait_for_seq(last)
    stored = [s async for s in store.read()]
    assert runner.seq == last
    assert state == replay(projection, stored)

    runner.stop()
    await asyncio.wait_for(task, 10)
    snapshot = await snapshots.get(name)
    assert snapshot is not None and snapshot.seq == last  # saved on stop
    assert runner.quarantine.entries == []


async def test_wait_for_seq_times_out_with_a_deadline(store: EventStore) -> None:
    runner = ProjectionRunner(store, PROJECTIONS["board"])
    task = _run(runner)
    with pytest.raises(TimeoutError, match="not 5"):
        await runner.wait_for_seq(5, timeout=0.2)
    runner.stop()
    await asyncio.wait_for(task, 10)


async def test_stop_before_the_runner_is_live_is_not_lost(
    store: EventStore, snapshots: SnapshotStore
) -> None:
    await store.append_many(_work())
    runner = ProjectionRunner(store, PROJECTIONS["costs"], snapshots=snapshots)
    task = _run(runner)
    runner.stop()
    await asyncio.wait_for(task, 10)
    assert runner.seq == len(_work())  # the catch-up finished, then the runner stopped
    saved = await snapshots.get("costs")
    assert saved is not None and saved.seq == runner.seq


async def test_a_cold_start_with_a_snapshot_reads_only_the_tail(
    store: EventStore, snapshots: SnapshotStore
) -> None:
    projection = PROJECTIONS["liveness"]
    head = await store.append_many(_work(GOAL, "a"))
    first = ProjectionRunner(store, projection, snapshots=snapshots)
    await first.catch_up()
    assert await first.snapshot()
    tail = await store.append_many(_renumbered(_work(GOAL, "b", "w2"), 0))

    cold = ProjectionRunner(store, projection, snapshots=snapshots)
    state = await cold.catch_up()
    assert cold.started_from == head[-1].seq
    assert cold.events_read == len(tail)  # nothing before the snapshot was read
    assert state == replay(projection, [s async for s in store.read()])


async def test_a_snapshot_of_another_version_is_ignored_and_rebuilt(
    store: EventStore, snapshots: SnapshotStore
) -> None:
    old = PROJECTIONS["board"]
    appended = await store.append_many(_work())
    first = ProjectionRunner(store, old, snapshots=snapshots)
    await first.catch_up()
    assert await first.snapshot()

    new = dataclasses.replace(old, version=old.version + 1)
    runner = ProjectionRunner(store, new, snapshots=snapshots)
    state = await runner.catch_up()
    assert runner.started_from == 0
    assert runner.events_read == len(appended)
    assert [(s.name, s.version) for s in snapshots.stale] == [("board", old.version)]
    assert state == replay(new, [s async for s in store.read()])
    assert await runner.snapshot()
    saved = await snapshots.get("board")
    assert saved is not None and saved.version == new.version


async def test_a_goal_scoped_runner_keeps_its_own_snapshot(
    store: EventStore, snapshots: SnapshotStore
) -> None:
    projection = PROJECTIONS["progress"]
    await store.append_many(_work(GOAL) + _renumbered(_work("other"), 0))
    runner = ProjectionRunner(store, projection, snapshots=snapshots, goal_id=GOAL)
    state = await runner.catch_up()
    assert await runner.snapshot()
    assert set(state.goals) == {GOAL}
    assert await snapshots.get("progress") is None
    again = ProjectionRunner(store, projection, snapshots=snapshots, goal_id=GOAL)
    assert await again.catch_up() == state
    assert again.events_read == 0


def _breakable(base: Projection[Any], broken: set[str]) -> Projection[Any]:
    """``base`` with a fold that raises on the event ids in ``broken`` (a fold bug)."""

    def fold(state: Any, event: Event) -> Any:
        if event.id in broken:
            raise ValueError(f"cannot fold {event.event_type}")
        return base.fold(state, event)

    return Projection(base.name, base.version, base.initial, fold)


async def test_a_failing_fold_quarantines_the_event_and_goes_on(
    nc: Client, nats_url: str, store: EventStore, snapshots: SnapshotStore
) -> None:
    board = PROJECTIONS["board"]
    s = Script(goal=GOAL)
    s.add(GoalSubmitted, GoalSubmittedData(title="Ship it"))
    s.add(TaskPlanned, TaskPlannedData(title="A", role="dev"), task="a")
    s.add(TaskPlanned, TaskPlannedData(title="B", role="dev"), task="b")
    bad = s.add(TaskProgress, TaskProgressData(worker="w1", percent=40.0), task="b")
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="a")
    s.add(TaskResult, TaskResultData(worker="w1", output=1), task="a")
    await store.append_many(s.events)
    broken = {bad.id}
    runner = ProjectionRunner(store, _breakable(board, broken), snapshots=snapshots)
    state = await runner.catch_up()

    others = [e for e in s.events if e.id != bad.id]
    assert state == replay(board, others)  # every other event was folded
    assert runner.seq == len(s.events)
    [entry] = runner.quarantine.entries
    assert (entry.seq, entry.event_id, entry.event_type) == (4, bad.id, "task.progress")
    assert (entry.error_type, entry.error, entry.projection) == (
        "ValueError",
        "cannot fold task.progress",
        "board",
    )

    # Another process sees it, through the bucket.
    other = await nats.connect(nats_url)
    try:
        seen = await Quarantine(other, store.config.stream, "board").load()
    finally:
        await other.close()
    assert [(e.seq, e.event_id) for e in seen] == [(4, bad.id)]

    # Still broken: the retry keeps it.
    assert await runner.retry_quarantined() == []
    assert len(runner.quarantine.entries) == 1

    broken.clear()  # the fold is fixed
    assert [e.seq for e in await runner.retry_quarantined()] == [4]
    assert runner.state == replay(board, s.events)
    assert runner.quarantine.entries == []
    assert await Quarantine(nc, store.config.stream, "board").load() == []


async def test_a_restarted_runner_remembers_the_quarantine(
    store: EventStore, snapshots: SnapshotStore
) -> None:
    board = PROJECTIONS["board"]
    events = _work()
    await store.append_many(events)
    broken = {events[3].id}
    first = ProjectionRunner(store, _breakable(board, broken), snapshots=snapshots)
    await first.catch_up()
    assert await first.snapshot()

    broken.clear()
    second = ProjectionRunner(store, _breakable(board, broken), snapshots=snapshots)
    await second.catch_up()
    assert second.events_read == 0  # started from the snapshot past the bad event
    assert [e.seq for e in second.quarantine.entries] == [4]
    assert [e.seq for e in await second.retry_quarantined()] == [4]


async def test_corrupt_messages_in_the_log_are_quarantined_not_fatal(
    nc: Client, store: EventStore, snapshots: SnapshotStore
) -> None:
    board = PROJECTIONS["board"]
    subject = f"{store.config.root}.ev.g.goal.g.~.goal.submitted"
    events = _work()
    await store.append_many(events[:2])
    await nc.jetstream().publish(subject, b'{"type":"goal.submitted"}')  # seq 3
    await store.append_many(events[2:4])

    runner = ProjectionRunner(store, board, snapshots=snapshots)
    task = _run(runner)
    await asyncio.wait_for(runner.live.wait(), 10)
    assert runner.seq == 5 and [e.seq for e in runner.quarantine.entries] == [3]
    await nc.jetstream().publish(subject, b"not even json")  # seq 6, read live
    appended = await store.append_many(events[4:])
    state = await runner.wait_for_seq(appended[-1].seq)

    assert state == replay(board, events)
    entries = runner.quarantine.entries
    assert [(e.seq, e.error_type, e.event_id) for e in entries] == [
        (3, "CorruptEventError", None),
        (6, "CorruptEventError", None),
    ]
    assert all(e.subject == subject for e in entries)
    assert await runner.retry_quarantined() == []  # still not events
    runner.stop()
    await asyncio.wait_for(task, 10)


class _Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _TimedSnapshots(SnapshotStore):
    """The real snapshot store, whose saves take ``cost`` seconds of a test clock."""

    def __init__(self, nc: Client, stream: str, clock: _Clock, cost: float) -> None:
        super().__init__(nc, stream)
        self.clock = clock
        self.cost = cost

    async def save(
        self, name: str, version: int, seq: int, state: object, *, scope: str | None = None
    ) -> Snapshot:
        saved = await super().save(name, version, seq, state, scope=scope)
        self.clock.now += self.cost
        return saved


async def test_snapshots_are_taken_every_n_events_while_they_are_cheap(
    nc: Client, store: EventStore, snapshots: SnapshotStore
) -> None:
    events = await store.append_many(_work(GOAL, "a") + _renumbered(_work(GOAL, "b"), 0))
    clock = _Clock()
    timed = _TimedSnapshots(nc, store.config.stream, clock, cost=0.0)
    runner = ProjectionRunner(
        store, PROJECTIONS["board"], snapshots=timed, snapshot_every=2, clock=clock
    )
    await runner.catch_up()
    assert runner.snapshots_saved == len(events) // 2


async def test_a_slow_snapshot_delays_the_next_one(
    nc: Client, store: EventStore, snapshots: SnapshotStore
) -> None:
    first = await store.append_many(_work(GOAL, "a"))
    clock = _Clock()
    # Each save takes 1 s: at a 5 % share, the next may come 19 s later.
    timed = _TimedSnapshots(nc, store.config.stream, clock, cost=1.0)
    board = PROJECTIONS["board"]
    runner = ProjectionRunner(store, board, snapshots=timed, snapshot_every=2, clock=clock)
    await runner.catch_up()
    assert len(first) >= 6 and runner.snapshots_saved == 1
    await store.append_many(_renumbered(_work(GOAL, "b"), 0))
    clock.now += 18.5
    await runner.catch_up()
    assert runner.snapshots_saved == 1  # still within the 19 s
    clock.now += 1.0
    more = await store.append_many(_renumbered(_work(GOAL, "c"), 100))
    await runner.catch_up()
    assert runner.snapshots_saved == 2
    # What was saved is a valid snapshot: a cold start reads only what came after it.
    cold = ProjectionRunner(store, board, snapshots=timed)
    state = await cold.catch_up()
    assert 0 < cold.started_from < more[-1].seq
    assert state == runner.state == replay(board, [s async for s in store.read()])
    # ``snapshot()`` itself (as on stop) is never held back, only skipped with nothing new.
    assert await runner.snapshot()
    assert runner.snapshots_saved == 3
    assert await runner.snapshot() is False
    with pytest.raises(ValueError, match="snapshot_share"):
        ProjectionRunner(store, board, snapshot_share=0)
