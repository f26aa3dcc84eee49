"""Untrusted input through the gatekeeper, against a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalAccepted,
    GoalAcceptedData,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.codec import decode, encode
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.ingress.gatekeeper import Gatekeeper, dead_letter_stream, ingress_stream
from callsheet.ingress.policy import Policy, ProducerRules
from callsheet.ingress.records import DeadLetter
from tests.support import assert_eventually


@pytest.fixture
async def keeper(nc: Client, store: EventStore) -> AsyncIterator[Gatekeeper]:
    gate = Gatekeeper(nc, store)
    ready = asyncio.Event()
    task = asyncio.create_task(gate.run(ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    yield gate
    gate.stop()
    await asyncio.wait_for(task, 10)
    js = nc.jetstream()
    for config in (ingress_stream(store.config.root), dead_letter_stream(store.config.root)):
        assert config.name is not None
        await js.delete_stream(config.name)


async def dead_letters(nc: Client, store: EventStore) -> list[DeadLetter]:
    name = dead_letter_stream(store.config.root).name
    assert name is not None
    js = nc.jetstream()
    info = await js.stream_info(name)
    records = []
    for seq in range(1, info.state.last_seq + 1):
        raw = await js.get_msg(name, seq)
        records.append(msgspec.json.decode(raw.data or b"", type=DeadLetter))
    return records


def sample(title: str = "from a service") -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title=title), goal_id="g1", producer="svc")


async def test_garbage_is_dead_lettered_with_reason_and_valid_events_pass(
    nc: Client, store: EventStore, keeper: Gatekeeper
) -> None:
    js = nc.jetstream()
    good = sample()
    body = encode(good)
    missing = msgspec.json.encode(
        {k: v for k, v in msgspec.json.decode(body).items() if k != "producer"}
    )
    forged = encode(msgspec.structs.replace(good, data=GoalSubmittedData(title="forged")))
    inputs = [
        body,
        b"this is not json",
        missing,
        body.replace(b'"goal.submitted"', b'"goal.exploded"'),
        b'{"type": "goal.submitted", "title": "\xff\xfe"}',
        forged,
        body,  # an honest retry: deduplicated, not dead-lettered
    ]
    root = store.config.root
    for payload in inputs:
        await js.publish(f"{root}.in.svc", payload)

    await assert_eventually(
        lambda: (
            keeper.stats.accepted + keeper.stats.duplicates + keeper.stats.dead_lettered
            == len(inputs)
        ),
        message="gatekeeper did not process every message",
    )
    assert (keeper.stats.accepted, keeper.stats.duplicates, keeper.stats.dead_lettered) == (1, 1, 5)
    stored = [s.event async for s in store.read()]
    assert stored == [good]

    records = await dead_letters(nc, store)
    reasons = [(r.reason, r.field) for r in records]
    assert reasons == [
        ("invalid_event", "$"),
        ("invalid_event", "$.producer"),
        ("invalid_event", "$.type"),
        ("invalid_event", "$"),
        ("duplicate_id", "$.id"),
    ]
    assert "not valid JSON" in records[0].error
    assert records[0].body_text == "this is not json"
    assert "not a known event type" in records[2].error
    assert "UTF-8" in records[3].error and records[3].body_base64 is not None
    assert "different body" in records[4].error
    # The ingress is a work queue: everything handled is gone from it.
    name = ingress_stream(root).name
    assert name is not None
    assert (await js.stream_info(name)).state.messages == 0


async def test_oversize_body_is_refused_at_the_door(
    nc: Client, store: EventStore, keeper: Gatekeeper
) -> None:
    with pytest.raises(nats.errors.MaxPayloadError):
        await nc.jetstream().publish(f"{store.config.root}.in.svc", b"x" * (50 * 1024 * 1024))
    assert await store.stream_last_seq() == 0


async def ask(nc: Client, subject: str, body: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = msgspec.json.decode((await nc.request(subject, body, 5)).data)
    return answer


async def test_request_reply_endpoint_answers(
    nc: Client, store: EventStore, keeper: Gatekeeper
) -> None:
    good = sample("sync")
    api = f"{keeper.api_subject}.svc"  # the producer's own request subject
    answer = await ask(nc, api, encode(good))
    assert answer == {"id": good.id, "seq": 1, "duplicate": False}
    again = await ask(nc, api, encode(good))
    assert again["duplicate"] is True
    bad = await ask(nc, api, b"{}")
    assert bad["field"] == "$.type"
    assert "required" in bad["error"]
    # The bare subject names no producer: answered, refused, nothing stored.
    anonymous = await ask(nc, keeper.api_subject, encode(sample("anonymous")))
    assert anonymous["field"] == "$.producer" and "names no producer" in anonymous["error"]
    assert await store.stream_last_seq() == 1


async def test_what_is_published_before_any_gatekeeper_ran_is_kept_and_admitted_later(
    nc: Client, store: EventStore
) -> None:
    # The log was opened (as `callsheet up`, any command or an agent does): the ingress exists.
    js = nc.jetstream()
    root = store.config.root
    early = sample("published while no gatekeeper had ever run")
    ack = await js.publish(f"{root}.in.svc", encode(early))
    assert ack.stream == ingress_stream(root).name
    gate = Gatekeeper(nc, store)
    ready = asyncio.Event()
    task = asyncio.create_task(gate.run(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await assert_eventually(
            lambda: gate.stats.accepted == 1, message="the early message was not admitted"
        )
        stored = [s.event async for s in store.read(goal_id="g1")]
        assert [e.id for e in stored] == [early.id]
    finally:
        gate.stop()
        await asyncio.wait_for(task, 10)


def hostile_bodies() -> dict[str, bytes]:
    """Bodies that crashed or looped the gatekeeper before: valid JSON, schema-valid shapes."""
    emoji = encode(
        GoalSubmitted.new(
            data=GoalSubmittedData(title="t"), goal_id="\U0001f600" * 65, producer="svc"
        )
    )
    note = ContextUpdated.new(
        data=ContextUpdatedData(key="k", kind="note", value=1, author="svc"),
        goal_id="g1",
        producer="svc",
    )
    deep = encode(note).replace(b'"value":1', b'"value":' + b"[" * 1000 + b"]" * 1000)
    assert deep != encode(note)
    return {"emoji_id": emoji, "deep_nesting": deep}


@pytest.mark.parametrize("name", ["emoji_id", "deep_nesting"])
async def test_hostile_bodies_are_dead_lettered_and_the_gatekeeper_lives_on(
    nc: Client, store: EventStore, keeper: Gatekeeper, name: str
) -> None:
    body = hostile_bodies()[name]
    js = nc.jetstream()
    await js.publish(f"{store.config.root}.in.svc", body)
    good = sample("after the poison")
    await js.publish(f"{store.config.root}.in.svc", encode(good))
    await assert_eventually(
        lambda: keeper.stats.accepted == 1 and keeper.stats.dead_lettered == 1,
        message="the gatekeeper did not survive the hostile body",
    )
    assert [s.event async for s in store.read()] == [good]
    (record,) = await dead_letters(nc, store)
    assert record.reason == "invalid_event"
    assert ("over the limit of 128 bytes" if name == "emoji_id" else "nested too deeply") in (
        record.error
    )
    # The api answers too, with the same refusal.
    answer = await ask(nc, f"{keeper.api_subject}.svc", body)
    assert answer["error"] == record.error
    assert await store.stream_last_seq() == 1


@contextlib.asynccontextmanager
async def running(gate: Gatekeeper) -> AsyncIterator[Gatekeeper]:
    ready = asyncio.Event()
    task = asyncio.create_task(gate.run(ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield gate
    finally:
        gate.stop()
        await asyncio.wait_for(task, 10)


async def test_a_restarted_gatekeeper_gets_past_a_poison_message(
    nc: Client, store: EventStore
) -> None:
    root = store.config.root
    js = nc.jetstream()
    try:
        async with running(Gatekeeper(nc, store)) as first:
            await js.publish(f"{root}.in.svc", hostile_bodies()["emoji_id"])
            await assert_eventually(lambda: first.stats.dead_lettered == 1)
        good = sample("after a restart")
        async with running(Gatekeeper(nc, store)) as second:
            await js.publish(f"{root}.in.svc", encode(good))
            await assert_eventually(lambda: second.stats.accepted == 1)
            assert second.stats.dead_lettered == 0  # the poison was settled once, for good
        assert [s.event async for s in store.read()] == [good]
    finally:
        for config in (ingress_stream(root), dead_letter_stream(root)):
            assert config.name is not None
            await js.delete_stream(config.name)


async def test_a_message_delivered_too_often_is_dead_lettered_not_retried(
    nc: Client, store: EventStore
) -> None:
    """As if it had killed gatekeepers mid-handling: its deliveries are bounded."""
    root = store.config.root
    js = nc.jetstream()
    gate = Gatekeeper(nc, store, max_deliveries=3)
    await gate.ensure_streams()
    try:
        killer = sample("kills gatekeepers")
        await js.publish(f"{root}.in.svc", encode(killer))
        sub = await js.pull_subscribe(
            f"{root}.in.>",
            durable="gatekeeper",
            stream=ingress_stream(root).name,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=-1),
        )
        for _ in range(3):  # three gatekeepers took it and died before settling it
            (msg,) = await sub.fetch(1, timeout=5)
            await msg.nak()
        await sub.unsubscribe()
        good = sample("next")
        await js.publish(f"{root}.in.svc", encode(good))
        async with running(gate):
            await assert_eventually(lambda: gate.stats.accepted == 1)
            await assert_eventually(lambda: gate.stats.dead_lettered == 1)
        assert [s.event async for s in store.read()] == [good]
        (record,) = await dead_letters(nc, store)
        assert record.reason == "redelivered" and "4 times" in record.error
    finally:
        for config in (ingress_stream(root), dead_letter_stream(root)):
            assert config.name is not None
            await js.delete_stream(config.name)


async def test_crew_events_and_another_producers_name_are_forbidden(
    nc: Client, store: EventStore, keeper: Gatekeeper
) -> None:
    """An external service cannot finish, accept or plan goals; nor speak for someone else."""
    root = store.config.root
    js = nc.jetstream()
    completed = GoalCompleted.new(
        data=GoalCompletedData(outcome="succeeded"), goal_id="g1", producer="svc"
    )
    accepted = GoalAccepted.new(data=GoalAcceptedData(supervisor="s"), goal_id="g1", producer="svc")
    impostor = sample("in another's name")  # producer "svc", published under "mallory"
    good = sample("allowed")
    await js.publish(f"{root}.in.svc", encode(completed))
    await js.publish(f"{root}.in.svc.any.tokens", encode(accepted))
    await js.publish(f"{root}.in.mallory", encode(impostor))
    await js.publish(f"{root}.in.svc", encode(good))
    await assert_eventually(lambda: keeper.stats.accepted == 1 and keeper.stats.forbidden == 3)
    assert [s.event async for s in store.read()] == [good]
    records = await dead_letters(nc, store)
    assert [(r.reason, r.field) for r in records] == [
        ("forbidden", "$.type"),
        ("forbidden", "$.type"),
        ("forbidden", "$.producer"),
    ]
    assert "may not publish goal.completed" in records[0].error
    answer = await ask(nc, f"{keeper.api_subject}.svc", encode(completed))
    assert answer["field"] == "$.type" and "goal.completed" in answer["error"]
    answer = await ask(nc, f"{keeper.api_subject}.mallory", encode(sample("api impostor")))
    assert answer["field"] == "$.producer"
    assert await store.stream_last_seq() == 1


async def test_a_policy_file_widens_one_producer(
    nc: Client, store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[producers.ops]\ntypes = ["goal.*"]\ngoals = ["ops-*"]\n')
    root = store.config.root
    gate = Gatekeeper(nc, store, policy=Policy.load(path))
    done = GoalCompleted.new(
        data=GoalCompletedData(outcome="failed"), goal_id="ops-1", producer="ops"
    )
    elsewhere = GoalCompleted.new(
        data=GoalCompletedData(outcome="failed"), goal_id="sales-1", producer="ops"
    )
    try:
        async with running(gate):
            assert (await ask(nc, f"{root}.api.publish.ops", encode(done)))["seq"] == 1
            refused = await ask(nc, f"{root}.api.publish.ops", encode(elsewhere))
            assert refused["field"] == "$.goal_id"
    finally:
        for config in (ingress_stream(root), dead_letter_stream(root)):
            assert config.name is not None
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_stream(config.name)
    assert [s.event async for s in store.read()] == [done]


BROKER_USERS = """
authorization { users = [
  { user: admin, password: pw-admin }
  { user: billing, password: pw-billing, permissions: {
      publish: { allow: ["pk.in.billing.>", "pk.api.publish.billing"] }
      subscribe: { allow: ["_INBOX.>"] } } }
] }
"""


async def test_the_broker_binds_the_subject_to_the_user(tmp_path: Path) -> None:
    """With one user per producer, a producer can only publish under its own name."""
    config = tmp_path / "server.conf"
    config.write_text(BROKER_USERS)
    proc = NatsServerProcess(store_dir=tmp_path / "store", config_file=config)
    proc.start()
    try:
        admin = await nats.connect(proc.url, user="admin", password="pw-admin")
        billing = await nats.connect(
            proc.url, user="billing", password="pw-billing", error_cb=_ignore
        )
        store = await EventStore.open(admin, StoreConfig(stream="PK_EVENTS", root="pk"))
        gate = Gatekeeper(admin, store)
        async with running(gate):
            own = sample("own name")
            own = msgspec.structs.replace(own, producer="billing")
            bjs = billing.jetstream()
            await bjs.publish("pk.in.billing.goal", encode(own))
            stolen = msgspec.structs.replace(sample("stolen"), producer="ops")
            with pytest.raises(nats.errors.Error):
                await bjs.publish("pk.in.ops.goal", encode(stolen), timeout=1)
            with pytest.raises(nats.errors.Error):
                await billing.request("pk.api.publish.ops", encode(stolen), timeout=1)
            answer = msgspec.json.decode(
                (await billing.request("pk.api.publish.billing", encode(sample("x")), 5)).data
            )
            assert answer["field"] == "$.producer"  # the body says "svc": not the user
            await assert_eventually(lambda: gate.stats.accepted == 1)
        assert [s.event async for s in store.read()] == [own]
        await billing.close()
        await admin.close()
    finally:
        proc.stop()


async def _ignore(exc: Exception) -> None:
    """Permission violations arrive here; the test looks at the publish itself."""


async def test_an_identical_retry_is_a_duplicate_whatever_its_spelling(
    nc: Client, store: EventStore
) -> None:
    """An int in a float field is stored as ``7``; its decoded copy says ``7.0``."""
    root = store.config.root
    progress = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=7),  # an int, as JSON has it
        goal_id="g1",
        task_id="t1",
        producer="w",
    )
    await store.append(progress)
    stored = (await nc.jetstream().get_msg(store.config.stream, 1)).data or b""
    assert b'"percent":7,' in stored or b'"percent":7}' in stored
    copy = encode(decode(stored))
    assert copy != stored
    forged = encode(msgspec.structs.replace(progress, data=TaskProgressData(worker="w", percent=8)))
    gate = Gatekeeper(nc, store, policy=Policy({"w": ProducerRules(types=("task.*",))}))
    try:
        async with running(gate):
            for body in (copy, stored):
                assert await ask(nc, f"{root}.api.publish.w", body) == {
                    "id": progress.id,
                    "seq": 1,
                    "duplicate": True,
                }
            await nc.jetstream().publish(f"{root}.in.w", stored)
            await nc.jetstream().publish(f"{root}.in.w", forged)
            await assert_eventually(
                lambda: gate.stats.duplicates == 1 and gate.stats.dead_lettered == 1
            )
        (record,) = await dead_letters(nc, store)
        assert record.reason == "duplicate_id"
    finally:
        for config in (ingress_stream(root), dead_letter_stream(root)):
            assert config.name is not None
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_stream(config.name)
    assert await store.stream_last_seq() == 1


async def test_an_unexpected_failure_is_dead_lettered_counted_and_answered(
    nc: Client, store: EventStore, keeper: Gatekeeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever breaks on one message (here the log raising a bug), the gatekeeper goes on."""
    calls = 0
    real_append = store.append

    async def broken_once(event: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug\nover two lines")
        return await real_append(event, **kwargs)

    monkeypatch.setattr(store, "append", broken_once)
    js = nc.jetstream()
    await js.publish(f"{store.config.root}.in.svc", encode(sample("hits the bug")))
    good = sample("next")
    await js.publish(f"{store.config.root}.in.svc", encode(good))
    await assert_eventually(lambda: keeper.stats.accepted == 1 and keeper.stats.errors == 1)
    (record,) = await dead_letters(nc, store)
    assert (record.reason, record.error) == ("internal_error", "RuntimeError: a bug over two lines")
    calls = 0
    answer = await ask(nc, f"{keeper.api_subject}.svc", encode(sample("api bug")))
    assert answer == {"error": "internal error: RuntimeError: a bug over two lines", "field": None}
    assert [s.event async for s in store.read()] == [good]
