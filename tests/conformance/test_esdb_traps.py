"""The known traps of recording library events on JetStream, one test each."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import nats.errors
import pytest
from eventsourcing.persistence import (
    DataError,
    InfrastructureFactory,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.utils import Environment
from nats.aio.msg import Msg
from ulid import ULID

from callsheet.esdb import (
    BatchTooLargeError,
    BridgeCallError,
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamFactory,
    LoopBridge,
)
from callsheet.events import batch as batch_module
from callsheet.events import store as store_module
from callsheet.events.catalog import (
    AggregateRecorded,
    AggregateRecordedData,
    GoalSubmitted,
    GoalSubmittedData,
)
from callsheet.events.codec import encode
from callsheet.events.ids import new_event_id
from callsheet.events.subjects import event_subject
from tests.conformance.esdb_support import GOAL, Recorders, delete_streams, unique_config


@pytest.fixture
def recorders(nats_url: str) -> Iterator[Recorders]:
    made = Recorders(nats_url)
    yield made
    made.close()


def _events(originator: UUID | str, versions: range, topic: str = "topic") -> list[StoredEvent]:
    return [
        StoredEvent(originator_id=originator, originator_version=v, topic=topic, state=b"{}")
        for v in versions
    ]


def _lose_first_ack(
    monkeypatch: pytest.MonkeyPatch, recorder: JetStreamAggregateRecorder, size: int
) -> list[int]:
    """Make the first write commit but report no ack; return the attempt counter."""
    attempts = [0]
    if size == 1:
        js = recorder.store._js
        original: Callable[..., Awaitable[Any]] = js.publish
        owner: Any = js
        name = "publish"
    else:
        original = batch_module.publish_atomic
        owner = store_module  # which imported it by name
        name = "publish_atomic"

    async def lossy(*args: Any, **kwargs: Any) -> Any:
        attempts[0] += 1
        result = await original(*args, **kwargs)
        if attempts[0] == 1:
            raise nats.errors.TimeoutError
        return result

    monkeypatch.setattr(owner, name, lossy)
    return attempts


@pytest.mark.parametrize("size", [1, 3])
def test_lost_ack_is_not_a_conflict_on_retry(
    recorders: Recorders, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    recorder = recorders.application()
    recorder.insert_events(_events(uuid4(), range(1, 3)))  # something before
    attempts = _lose_first_ack(monkeypatch, recorder, size)
    originator = uuid4()
    ids = recorder.insert_events(_events(originator, range(1, size + 1)))
    assert attempts[0] == 2  # the retry was refused by the server, then found as ours
    assert list(ids or []) == list(range(3, 3 + size))
    assert [e.originator_version for e in recorder.select_events(originator)] == list(
        range(1, size + 1)
    )
    assert recorder.max_notification_id() == 2 + size  # stored once


def test_conflict_is_integrity_error_and_records_nothing(recorders: Recorders) -> None:
    recorder = recorders.application()
    originator = uuid4()
    recorder.insert_events(_events(originator, range(1, 3)))
    other = uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events(_events(other, range(1, 3)) + _events(originator, range(2, 4)))
    assert recorder.select_events(other) == []
    assert recorder.max_notification_id() == 2


def test_concurrent_writers_of_one_version_exactly_one_wins(recorders: Recorders) -> None:
    recorder = recorders.application()
    originator = uuid4()
    recorder.insert_events(_events(originator, range(1, 2)))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def write(n: int) -> None:
        barrier.wait()
        try:
            recorder.insert_events(_events(originator, range(2, 4), topic=f"t{n}"))
        except IntegrityError:
            outcomes.append("conflict")
        else:
            outcomes.append("ok")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert [e.originator_version for e in recorder.select_events(originator)] == [1, 2, 3]


def test_many_concurrent_atomic_batches(recorders: Recorders) -> None:
    recorder = recorders.application()
    barrier = threading.Barrier(120)
    errors: list[Exception] = []

    def write() -> None:
        barrier.wait()
        try:
            recorder.insert_events(_events(uuid4(), range(1, 4)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(120)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    notes = recorder.select_notifications(None, 1000)
    assert [n.id for n in notes] == list(range(1, 361))
    # Each batch is contiguous: one originator's three events are neighbours.
    for index in range(0, 360, 3):
        assert len({n.originator_id for n in notes[index : index + 3]}) == 1


def test_expectation_only_on_first_message_of_each_subject(recorders: Recorders) -> None:
    recorder = recorders.application()
    bridge = recorder.bridge
    seen: list[Msg] = []

    async def on_msg(msg: Msg) -> None:
        seen.append(msg)

    async def watch() -> Any:
        sub = await bridge.nc.subscribe(recorder.notification_filter, cb=on_msg)
        await bridge.nc.flush()
        return sub

    sub = bridge.run(watch)
    a, b = uuid4(), uuid4()
    batch = _events(a, range(1, 4)) + _events(b, range(1, 3)) + _events(a, range(4, 5))
    assert list(recorder.insert_events(batch) or []) == [1, 2, 3, 4, 5, 6]
    bridge.run(bridge.nc.flush)
    bridge.run(sub.unsubscribe)
    expecting = [
        bool(m.headers and "Nats-Expected-Last-Subject-Sequence" in m.headers) for m in seen
    ]
    assert expecting == [True, False, False, True, False, False]
    # And the next write to both still succeeds against the right expectations.
    assert list(
        recorder.insert_events(_events(b, range(3, 4)) + _events(a, range(5, 6))) or []
    ) == [
        7,
        8,
    ]


def test_batch_limit_is_refused_before_sending(recorders: Recorders) -> None:
    recorder = recorders.application()
    with pytest.raises(BatchTooLargeError):
        recorder.insert_events(_events(uuid4(), range(1001)))
    assert recorder.max_notification_id() is None
    assert len(recorder.insert_events(_events(uuid4(), range(1000))) or []) == 1000


def test_server_batch_limit_maps_to_batch_too_large(recorders: Recorders) -> None:
    recorder = recorders.application(max_batch=5000)  # the client limit set too high
    with pytest.raises(BatchTooLargeError):
        recorder.insert_events(_events(uuid4(), range(1001)))
    assert recorder.max_notification_id() is None


@pytest.mark.parametrize(
    "originator",
    ["a.b", "*", ">", "with space", "~", "été", "x.*.>", "a\nb", "Nats-Msg-Id: x"],
)
def test_ids_and_topics_that_are_not_subject_tokens(recorders: Recorders, originator: str) -> None:
    recorder = recorders.application()
    topic = "my.app.domainmodel:World.Created"
    events = _events(originator, range(1, 3), topic=topic)
    recorder.insert_events(events)
    recorder.insert_events(_events(originator + "x", range(1, 2), topic=topic))
    assert recorder.select_events(originator) == events
    notes = recorder.select_notifications(None, 10, topics=[topic])
    assert [(n.originator_id, n.topic) for n in notes] == [(originator, topic)] * 2 + [
        (originator + "x", topic)
    ]
    with pytest.raises(IntegrityError):
        recorder.insert_events(events[1:])


@pytest.mark.parametrize("originator", ["", "x" * 257])
def test_ids_that_cannot_be_stored_are_data_errors(recorders: Recorders, originator: str) -> None:
    recorder = recorders.application()
    with pytest.raises(DataError):
        recorder.insert_events(_events(originator, range(1, 2)))
    assert recorder.max_notification_id() is None


def test_unreachable_server_is_an_operational_error() -> None:
    with pytest.raises(OperationalError):
        LoopBridge(["nats://127.0.0.1:1"], connect_wait=1.0)


def _factory(nats_url: str, **extra: str) -> JetStreamFactory:
    uid = str(ULID()).lower()
    env = Environment(
        "App",
        {
            InfrastructureFactory.PERSISTENCE_MODULE: "callsheet.esdb",
            "NATS_URL": nats_url,
            "ESDB_STREAM": f"ES_{uid}",
            "ESDB_ROOT": f"t{uid}",
            "ESDB_BLOB_BUCKET": f"ES_{uid}_BLOBS",
            **extra,
        },
    )
    factory = InfrastructureFactory.construct(env)
    assert isinstance(factory, JetStreamFactory)
    return factory


def _drop_streams(factory: JetStreamFactory) -> None:
    for purpose in ("events", "snapshots"):
        delete_streams(factory.bridge, factory.store_config(purpose))


def test_snapshots_are_not_notifications(nats_url: str) -> None:
    factory = _factory(nats_url)
    try:
        events = factory.application_recorder()
        snapshots = factory.aggregate_recorder("snapshots")
        originator = uuid4()
        events.insert_events(_events(originator, range(1, 3)))
        snapshots.insert_events(_events(originator, range(2, 3), topic="snapshot"))
        ids = events.insert_events(_events(originator, range(3, 4)))
        assert list(ids or []) == [3]
        assert events.max_notification_id() == 3
        assert [n.topic for n in events.select_notifications(None, 10)] == ["topic"] * 3
        assert [e.topic for e in snapshots.select_events(originator, desc=True, limit=1)] == [
            "snapshot"
        ]
    finally:
        _drop_streams(factory)
        factory.close()


def test_close_twice_then_calls_fail_clearly(nats_url: str) -> None:
    factory = _factory(nats_url)
    recorder = factory.application_recorder()
    _drop_streams(factory)
    factory.close()
    factory.close()
    with pytest.raises(InterfaceError):
        recorder.max_notification_id()


def test_call_from_bridge_loop_fails_instead_of_hanging(recorders: Recorders) -> None:
    recorder = recorders.application()

    async def inside() -> int | None:
        return recorder.max_notification_id()

    with pytest.raises(BridgeCallError, match="own event loop"):
        recorder.bridge.run(inside, timeout=5.0)
    # The bridge still works afterwards.
    assert recorder.max_notification_id() is None


def test_call_from_an_agent_loop_fails_instead_of_blocking_it(recorders: Recorders) -> None:
    recorder = recorders.application()

    async def agent() -> int | None:
        return recorder.max_notification_id()

    async def agent_done_right() -> int | None:
        return await asyncio.to_thread(recorder.max_notification_id)

    with pytest.raises(BridgeCallError, match="to_thread"):
        asyncio.run(agent())
    assert asyncio.run(agent_done_right()) is None


def test_subscription_wakes_on_commit_only(recorders: Recorders) -> None:
    recorder: JetStreamApplicationRecorder = recorders.application()
    bridge = recorder.bridge
    received: list[int] = []
    with recorder.subscribe(gt=None) as subscription:
        # Two messages of a batch that is never committed: nothing may be delivered.
        originator = str(uuid4())
        subject = event_subject(GOAL, originator, "aggregate.recorded", root=recorder.config.root)

        async def open_batch() -> None:
            for n in (1, 2):
                headers = {
                    "Nats-Batch-Id": "never-committed",
                    "Nats-Batch-Sequence": str(n),
                    "Nats-Msg-Id": new_event_id(),
                }
                body = encode(_recorded(originator, n, headers["Nats-Msg-Id"]))
                await bridge.nc.publish(subject, body, headers=headers)
            await bridge.nc.flush()

        bridge.run(open_batch)

        def consume() -> None:
            for notification in subscription:
                received.append(notification.id)
                if len(received) == 3:
                    break

        thread = threading.Thread(target=consume)
        thread.start()
        recorder.insert_events(_events(uuid4(), range(1, 4)))
        thread.join(10)
        assert not thread.is_alive()
    assert received == [1, 2, 3]
    assert [n.topic for n in recorder.select_notifications(None, 10)] == ["topic"] * 3


def _recorded(originator: str, version: int, event_id: str) -> AggregateRecorded:
    return AggregateRecorded(
        id=event_id,
        occurred_at=datetime.now(UTC),
        producer="test",
        correlation_id=GOAL,
        goal_id=GOAL,
        task_id=originator,
        data=AggregateRecordedData(originator_version=version, topic="uncommitted", state=b"{}"),
    )


def test_close_ends_calls_in_flight_instead_of_leaving_them_hanging(nats_url: str) -> None:
    bridge = LoopBridge(nats_url.split(","))
    outcome: list[BaseException] = []
    started = threading.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    def call() -> None:
        try:
            bridge.run(slow, timeout=None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    assert started.wait(5)
    bridge.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], InterfaceError)


def test_an_event_over_the_message_size_is_kept_whole(recorders: Recorders) -> None:
    recorder = recorders.application()
    originator = uuid4()
    big = bytes(range(256)) * (3 * 1024 * 1024 // 256)  # 3 MiB, over the 1 MB max_payload
    ids = recorder.insert_events(
        [StoredEvent(originator, 1, "topic", big), StoredEvent(originator, 2, "topic", b"{}")]
    )
    assert list(ids or []) == [1, 2]
    assert [e.state for e in recorder.select_events(originator)] == [big, b"{}"]
    assert [n.state for n in recorder.select_notifications(None, 10)] == [big, b"{}"]
    with recorder.subscribe(gt=None) as subscription:
        assert next(subscription).state == big


def test_library_events_share_the_log_with_other_events(recorders: Recorders) -> None:
    recorder = recorders.application()
    bridge = recorder.bridge
    # A second application recording in the same log, under another goal.
    other = JetStreamApplicationRecorder(bridge, recorder.config, goal="other-app")
    store = recorder.store

    async def crew_event() -> int:
        event = GoalSubmitted.new(
            data=GoalSubmittedData(title="something else"), goal_id="g1", producer="test"
        )
        return (await store.append(event)).seq

    originator = uuid4()
    assert list(recorder.insert_events(_events(originator, range(1, 2))) or []) == [1]
    assert bridge.run(crew_event) == 2
    assert list(other.insert_events(_events(originator, range(1, 2))) or []) == [3]
    assert list(recorder.insert_events(_events(originator, range(2, 3))) or []) == [4]
    # Notification ids are the log's sequences: the other events are gaps.
    assert [n.id for n in recorder.select_notifications(None, 10)] == [1, 4]
    assert [n.id for n in recorder.select_notifications(2, 10)] == [4]
    assert recorder.max_notification_id() == 4
    assert [n.id for n in other.select_notifications(None, 10)] == [3]
    assert [e.originator_version for e in other.select_events(originator)] == [1]

    async def log_types() -> list[tuple[str, str]]:
        return [(s.event.goal_id, s.event.event_type) async for s in store.read()]

    assert bridge.run(log_types) == [
        (GOAL, "aggregate.recorded"),
        ("g1", "goal.submitted"),
        ("other-app", "aggregate.recorded"),
        (GOAL, "aggregate.recorded"),
    ]


def test_a_goal_that_cannot_be_an_id_is_refused(recorders: Recorders) -> None:
    bridge = recorders.bridge()
    for goal in ("", "g" * 129):
        with pytest.raises(ProgrammingError, match="goal id"):
            JetStreamApplicationRecorder(bridge, unique_config(), goal=goal)
