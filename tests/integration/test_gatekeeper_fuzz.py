"""Fuzzing the gatekeeper through a real nats-server: no input stops it or alters the log.

Hypothesis makes the cases (random bytes, catalog events of any type, valid events
with one field made hostile, forged and honest duplicates, the codec's corpus of nasty
bodies), each sent on a producer's ingress subject or its api subject, under the
right producer's name or another's. Afterwards the gatekeeper is still running,
every message was settled (stored, deduplicated or dead-lettered; every request
answered), the events stored before are byte for byte unchanged, and every event
stored since is one its producer was allowed to publish.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
import nats.errors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from callsheet.events import codec
from callsheet.events.catalog import (
    ContextUpdated,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.ingress.gatekeeper import Gatekeeper, dead_letter_stream, ingress_stream
from callsheet.ingress.policy import Policy
from tests.support import assert_eventually
from tests.unit.strategies import event_of, events
from tests.unit.test_codec_fuzz import NASTY, mutate

EXAMPLES = 200
PRODUCERS = ["svc", "mallory", "a~2Eb", "~", "svc.more.tokens"]


@dataclass(frozen=True)
class Case:
    body: bytes
    token: str
    api: bool


BASELINE = [
    GoalSubmitted.new(data=GoalSubmittedData(title="kept"), goal_id="g1", producer="svc"),
    TaskProgress.new(
        data=TaskProgressData(worker="w", percent=7),  # an int in a float field
        goal_id="g1",
        task_id="t1",
        producer="w",
    ),
    GoalCompleted.new(data=GoalCompletedData(outcome="failed"), goal_id="g1", producer="sup"),
]


def as_svc(event: msgspec.Struct) -> bytes:
    return codec.encode(msgspec.structs.replace(event, producer="svc"))  # type: ignore[arg-type]


def forged(event: Event) -> bytes:
    """A stored event's id with another body."""
    return codec.encode(
        msgspec.structs.replace(event, occurred_at=event.occurred_at.replace(year=2001))
    )


bodies = st.one_of(
    st.binary(max_size=600),
    events().map(as_svc),
    st.one_of(event_of(GoalSubmitted), event_of(ContextUpdated)).map(as_svc),  # often allowed
    st.composite(lambda draw: msgspec.json.encode(mutate(codec.to_dict(draw(events())), draw)))(),
    st.sampled_from(BASELINE).map(codec.encode),  # honest retries (duplicates)
    st.sampled_from(BASELINE).map(  # forged: a stored id with another body
        lambda e: codec.encode(
            msgspec.structs.replace(e, occurred_at=e.occurred_at.replace(year=2001))
        )
    ),
    st.sampled_from(sorted(NASTY)).map(NASTY.__getitem__),
)
tokens = st.just("svc") | st.sampled_from(PRODUCERS)  # the right producer half the time
cases = st.builds(Case, bodies, tokens, st.booleans())


def generated() -> list[Case]:
    found: list[Case] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(cases)
    def collect(case: Case) -> None:
        found.append(case)

    collect()
    return found


async def test_no_input_stops_the_gatekeeper_or_alters_the_log(
    nc: Client, store: EventStore
) -> None:
    root = store.config.root
    js = nc.jetstream()
    for event in BASELINE:
        await store.append(event)
    before = [await js.get_msg(store.config.stream, seq) for seq in (1, 2, 3)]
    gate = Gatekeeper(nc, store)
    ready = asyncio.Event()
    runner = asyncio.create_task(gate.run(ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    all_cases = generated()
    answers = []
    try:
        queued = 0
        for case in all_cases:
            if case.api:
                reply = await nc.request(f"{root}.api.publish.{case.token}", case.body, timeout=10)
                answers.append(msgspec.json.decode(reply.data))
            else:
                await js.publish(f"{root}.in.{case.token}", case.body)
                queued += 1
        await assert_eventually(
            lambda: (
                gate.stats.accepted + gate.stats.duplicates + gate.stats.dead_lettered == queued
            ),
            timeout=60,
            message="the gatekeeper did not settle every message",
        )
        assert not runner.done(), "the gatekeeper stopped"
        info = await js.stream_info(ingress_stream(root).name or "")
        assert info.state.messages == 0  # nothing left to loop on
    finally:
        gate.stop()
        await asyncio.wait_for(runner, 10)
    assert all(set(a) in ({"id", "seq", "duplicate"}, {"error", "field"}) for a in answers)
    after = [await js.get_msg(store.config.stream, seq) for seq in (1, 2, 3)]
    assert [(m.subject, m.data) for m in after] == [(m.subject, m.data) for m in before]
    stored_since = [s.event async for s in store.read(from_seq=4)]
    api_stored = sum(1 for a in answers if "seq" in a and not a["duplicate"])
    assert len(stored_since) == gate.stats.accepted + api_stored
    policy = Policy()
    for event in stored_since:
        assert event.producer in PRODUCERS
        assert policy.check(event.producer, event) is None
    print(
        f"gatekeeper fuzz: {len(all_cases)} cases ({queued} ingress, {len(answers)} api); "
        f"{gate.stats.accepted} accepted, {gate.stats.duplicates} duplicates, "
        f"{gate.stats.dead_lettered} dead-lettered ({gate.stats.forbidden} forbidden, "
        f"{gate.stats.errors} errors); {len(stored_since)} new events stored"
    )
    for config in (ingress_stream(root), dead_letter_stream(root)):
        assert config.name is not None
        await js.delete_stream(config.name)


async def test_bodies_at_and_over_the_message_limit(nc: Client, store: EventStore) -> None:
    """Over the limit the broker refuses it (the gatekeeper never reads it); at the limit
    it is refused by size or shape, and only 64 KiB of it is kept in the dead letter."""
    root = store.config.root
    js = nc.jetstream()
    gate = Gatekeeper(nc, store)
    ready = asyncio.Event()
    runner = asyncio.create_task(gate.run(ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        with pytest.raises(nats.errors.MaxPayloadError):
            await js.publish(f"{root}.in.svc", b"[" * (50 * 1024 * 1024))
        near = nc.max_payload - 4096
        for body in (b"[" * near, b'{"type": "goal.submitted", "x": "' + b"\x00" * near + b'"}'):
            await js.publish(f"{root}.in.svc", body)
        await assert_eventually(lambda: gate.stats.dead_lettered == 2, timeout=30)
        assert not runner.done()
        name = dead_letter_stream(root).name or ""
        for seq in (1, 2):
            raw = (await js.get_msg(name, seq)).data or b""
            assert len(raw) < 200 * 1024  # the body is kept truncated, not whole
        assert await store.stream_last_seq() == 0
    finally:
        gate.stop()
        await asyncio.wait_for(runner, 10)
        for config in (ingress_stream(root), dead_letter_stream(root)):
            assert config.name is not None
            await js.delete_stream(config.name)
