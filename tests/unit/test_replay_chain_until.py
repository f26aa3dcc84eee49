"""The pure parts of replay: parsing ``--until``, cutting a log, causal chains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from callsheet.events.catalog import (
    AnyEvent,
    GoalAccepted,
    GoalAcceptedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.store import StoredEvent
from callsheet.replay import UnknownEventError, Until, UntilError, causal_chain, cut, parse_until

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _stored(events: list[AnyEvent]) -> list[StoredEvent]:
    return [
        StoredEvent(seq, f"s.{seq}", T0 + timedelta(seconds=seq), event, 0)
        for seq, event in enumerate(events, start=1)
    ]


def _log() -> list[StoredEvent]:
    submitted = GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g", producer="u")
    accepted = GoalAccepted.new(
        data=GoalAcceptedData(supervisor="s"), goal_id="g", producer="c", causation_id=submitted.id
    )
    unrelated = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=5), goal_id="g", producer="w", task_id="x"
    )
    progress = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=10),
        goal_id="g",
        producer="w",
        task_id="a",
        causation_id=accepted.id,
    )
    return _stored([submitted, accepted, unrelated, progress])


def test_parse_until_forms() -> None:
    event_id = str(ULID())
    assert parse_until("12") == Until("seq", seq=12)
    assert parse_until("0" * 26) == Until("event", event_id="0" * 26)
    assert parse_until(event_id) == Until("event", event_id=event_id)
    assert parse_until("2026-11-23T10:00:02Z") == Until("time", time=T0 + timedelta(seconds=2))
    assert parse_until("2026-11-23T11:00:02+01:00").time == T0 + timedelta(seconds=2)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("0", "start at 1"),
        ("soon", "not a sequence, an event id or an ISO 8601 time"),
        ("-3", "not a sequence"),
    ],
)
def test_parse_until_refuses(text: str, needle: str) -> None:
    with pytest.raises(UntilError, match=needle):
        parse_until(text)


def test_cut_by_seq_event_and_time_agree() -> None:
    log = _log()
    by_seq = cut(log, Until("seq", seq=2))
    assert [s.seq for s in by_seq] == [1, 2]
    assert cut(log, Until("event", event_id=log[1].event.id)) == by_seq
    assert cut(log, Until("time", time=T0 + timedelta(seconds=2))) == by_seq
    assert cut(log, None) == log
    assert cut(log, Until("time", time=T0)) == []


def test_cut_by_unknown_event_raises() -> None:
    missing = str(ULID())
    with pytest.raises(UnknownEventError, match=missing):
        cut(_log(), Until("event", event_id=missing))


def test_chain_goes_back_to_the_root() -> None:
    log = _log()
    chain, missing = causal_chain(log, log[3].event.id)
    assert [s.seq for s in chain] == [1, 2, 4]
    assert missing is None
    assert causal_chain(log, log[0].event.id) == ([log[0]], None)


def test_chain_reports_a_cause_outside_the_events() -> None:
    log = _log()
    chain, missing = causal_chain(log[1:], log[3].event.id)
    assert [s.seq for s in chain] == [2, 4]
    assert missing == log[0].event.id


def test_chain_of_unknown_event_raises() -> None:
    with pytest.raises(UnknownEventError):
        causal_chain(_log(), str(ULID()))


def test_chain_stops_on_a_cycle() -> None:
    a_id, b_id = str(ULID()), str(ULID())
    data = GoalAcceptedData(supervisor="s")
    a = GoalAccepted.new(data=data, goal_id="g", producer="p", event_id=a_id, causation_id=b_id)
    b = GoalAccepted.new(data=data, goal_id="g", producer="p", event_id=b_id, causation_id=a_id)
    chain, missing = causal_chain(_stored([a, b]), b_id)
    assert [s.event.id for s in chain] == [a_id, b_id]
    assert missing is None
