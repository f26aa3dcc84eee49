"""Event ids: ULIDs that sort by time; derived ids are deterministic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callsheet.events.ids import EVENT_ID_PATTERN, derived_event_id, is_event_id, new_event_id

ID_RE = re.compile(EVENT_ID_PATTERN)
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
CAUSES = TIMES.map(new_event_id)
HANDLERS = st.text(max_size=20)
INDEXES = st.integers(min_value=0, max_value=10_000)


def test_new_ids_match_the_pattern() -> None:
    for _ in range(200):
        event_id = new_event_id()
        assert ID_RE.fullmatch(event_id), event_id
        assert is_event_id(event_id)


def test_new_ids_are_unique() -> None:
    assert len({new_event_id() for _ in range(1000)}) == 1000


@settings(max_examples=100, deadline=None)
@given(at=TIMES, gap_ms=st.integers(min_value=1, max_value=10**9))
def test_new_ids_sort_by_time(at: datetime, gap_ms: int) -> None:
    later = at + timedelta(milliseconds=gap_ms)
    first, second = new_event_id(at), new_event_id(later)
    assert is_event_id(first)
    assert is_event_id(second)
    assert first < second


def test_stamped_ids_carry_the_millisecond() -> None:
    at = datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert new_event_id(at)[:10] == new_event_id(at + timedelta(microseconds=500))[:10]
    assert new_event_id(at)[:10] != new_event_id(at + timedelta(milliseconds=1))[:10]


@settings(max_examples=100, deadline=None)
@given(cause=CAUSES, handler=HANDLERS, index=INDEXES)
def test_derived_ids_are_deterministic_ids(cause: str, handler: str, index: int) -> None:
    derived = derived_event_id(cause, handler, index)
    assert is_event_id(derived), derived
    assert derived == derived_event_id(cause, handler, index)
    assert derived[:10] == cause[:10], "keeps the cause's time prefix"
    assert derived != cause


@settings(max_examples=100, deadline=None)
@given(cause=CAUSES, handler=HANDLERS, other=HANDLERS, index=INDEXES)
def test_derived_ids_differ_by_handler(cause: str, handler: str, other: str, index: int) -> None:
    if handler != other:
        assert derived_event_id(cause, handler, index) != derived_event_id(cause, other, index)


@settings(max_examples=100, deadline=None)
@given(cause=CAUSES, handler=HANDLERS, index=INDEXES, other=INDEXES)
def test_derived_ids_differ_by_index(cause: str, handler: str, index: int, other: int) -> None:
    if index != other:
        assert derived_event_id(cause, handler, index) != derived_event_id(cause, handler, other)


def test_derived_ids_differ_by_cause_and_handler_boundary() -> None:
    cause = new_event_id()
    ids = {
        derived_event_id(cause, handler, index)
        for handler in ("a", "a\x001", "b", "")
        for index in range(50)
    }
    assert len(ids) == 200
    other = new_event_id(datetime(2030, 1, 1, tzinfo=UTC))
    assert derived_event_id(cause, "h", 0) != derived_event_id(other, "h", 0)


def test_derived_ids_sort_near_their_cause() -> None:
    early = new_event_id(datetime(2025, 1, 1, tzinfo=UTC))
    late = new_event_id(datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert derived_event_id(early, "h", 9) < late


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-an-id",
        "01jnbz6n3v6e2k1x4w0m8qh7r5",
        "81JNBZ6N3V6E2K1X4W0M8QH7R5",
        "01JNBZ6N3V6E2K1X4W0M8QH7R",
        "01JNBZ6N3V6E2K1X4W0M8QH7R55",
        "01JNBZ6N3V6E2K1X4W0M8QH7RI",
        "01JNBZ6N3V6E2K1X4W0M8QH7R5\n",
    ],
)
def test_derived_ids_reject_non_ids(bad: str) -> None:
    assert not is_event_id(bad)
    with pytest.raises(ValueError, match="not an event id"):
        derived_event_id(bad, "handler", 0)
