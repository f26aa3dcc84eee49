"""Untrusted input through the gatekeeper, against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import nats.errors
import pytest
from nats.aio.client import Client

from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.codec import encode
from callsheet.events.store import EventStore
from callsheet.ingress.gatekeeper import Gatekeeper, dead_letter_stream, ingress_stream
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


async def test_request_reply_endpoint_answers(
    nc: Client, store: EventStore, keeper: Gatekeeper
) -> None:
    good = sample("sync")
    answer = msgspec.json.decode((await nc.request(keeper.api_subject, encode(good), 5)).data)
    assert answer == {"id": good.id, "seq": 1, "duplicate": False}
    again = msgspec.json.decode((await nc.request(keeper.api_subject, encode(good), 5)).data)
    assert again["duplicate"] is True
    bad = msgspec.json.decode((await nc.request(keeper.api_subject, b"{}", 5)).data)
    assert bad["field"] == "$.type"
    assert "required" in bad["error"]
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
