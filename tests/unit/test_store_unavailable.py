"""During a leader election the log's raw nats-py errors become ``StoreUnavailable``."""

from __future__ import annotations

from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.js.api import PubAck

from callsheet.agents.retry import is_transient
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.errors import AppendError, AppendTimeout, StoreError, StoreUnavailable
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig


class FakeJetStream:
    """Answers each publish with the next outcome: an exception to raise, or a sequence."""

    def __init__(self, outcomes: list[BaseException | int]) -> None:
        self.outcomes = outcomes
        self.calls = 0

    async def publish(self, subject: str, body: bytes, **kwargs: Any) -> PubAck:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else self.outcomes_last
        if isinstance(outcome, BaseException):
            raise outcome
        return PubAck(stream="S", seq=outcome, duplicate=False)

    outcomes_last: BaseException | int = 0


class FakeClient:
    max_payload = 1024 * 1024

    def __init__(self, js: FakeJetStream) -> None:
        self.js = js

    def jetstream(self, **kwargs: Any) -> FakeJetStream:
        return self.js


def store_with(js: FakeJetStream) -> EventStore:
    return EventStore(FakeClient(js), StoreConfig())  # type: ignore[arg-type]


def goal() -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g1", producer="test")


def unavailable() -> list[BaseException]:
    return [
        nats.js.errors.NoStreamResponseError(),
        nats.js.errors.ServiceUnavailableError(code=503, description="no leader"),
        nats.errors.NoRespondersError(),
    ]


@pytest.mark.parametrize("error", unavailable(), ids=lambda e: type(e).__name__)
async def test_an_election_is_waited_out_then_the_append_goes_through(error: Exception) -> None:
    js = FakeJetStream([error, error, 7])
    appended = await store_with(js).append(goal(), timeout=1.0)
    assert appended.seq == 7 and js.calls == 3


@pytest.mark.parametrize("error", unavailable(), ids=lambda e: type(e).__name__)
async def test_a_lasting_outage_is_store_unavailable_and_transient(error: Exception) -> None:
    js = FakeJetStream([])
    js.outcomes_last = error
    with pytest.raises(StoreUnavailable) as caught:
        await store_with(js).append(goal(), timeout=0.2, retries=1)
    assert isinstance(caught.value, StoreError)
    assert is_transient(caught.value)
    assert js.calls > 1  # it was tried again before giving up


async def test_a_closed_connection_is_unavailable_at_once() -> None:
    js = FakeJetStream([nats.errors.ConnectionClosedError()])
    with pytest.raises(StoreUnavailable):
        await store_with(js).append(goal(), timeout=5.0)
    assert js.calls == 1


async def test_timeouts_stay_append_timeouts() -> None:
    js = FakeJetStream([])
    js.outcomes_last = nats.errors.TimeoutError()
    with pytest.raises(AppendTimeout):
        await store_with(js).append(goal(), timeout=0.01, retries=2)
    assert js.calls == 3


async def test_a_real_refusal_is_not_transient() -> None:
    js = FakeJetStream([nats.js.errors.BadRequestError(code=400, description="bad")])
    with pytest.raises(AppendError) as caught:
        await store_with(js).append(goal())
    assert not isinstance(caught.value, StoreUnavailable)
    assert not is_transient(caught.value)


def test_raw_no_stream_response_is_transient_for_agents() -> None:
    assert is_transient(nats.js.errors.NoStreamResponseError())
