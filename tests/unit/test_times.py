"""One parser for every time a command takes: ISO 8601 with Z or an offset, naive is local."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from callsheet.events.times import TimeFormatError, parse_time
from callsheet.replay import Until, UntilError, parse_until

T0 = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T10:42:00Z",
        "2026-11-23T11:42:00+01:00",
        "2026-11-23T05:42-05:00",
        " 2026-11-23T10:42Z ",
    ],
)
def test_times_with_z_or_an_offset_are_that_instant(text: str) -> None:
    assert parse_time(text) == T0


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time 9 hours ahead of UTC (a POSIX TZ rule: no tz database needed)."""
    monkeypatch.setenv("TZ", "XST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo")
@pytest.mark.parametrize("text", ["2026-11-23T19:42:00", "2026-11-23 19:42", "2026-11-23T19:42"])
def test_a_time_without_an_offset_is_local(text: str) -> None:
    parsed = parse_time(text)
    assert parsed == T0
    assert parsed.utcoffset() == timedelta(hours=9)


@pytest.mark.usefixtures("tokyo")
def test_a_date_is_local_midnight() -> None:
    assert parse_time("2026-11-24") == datetime(2026, 11, 24, tzinfo=timezone(timedelta(hours=9)))


@pytest.mark.parametrize("text", ["soon", "", "23/11/2026", "2026-13-01T00:00:00Z", "10:42"])
def test_anything_else_is_refused_with_examples(text: str) -> None:
    with pytest.raises(
        TimeFormatError, match=r"is not an ISO 8601 time \(e\.g\. 2026-11-23T10:42:00Z"
    ):
        parse_time(text)


@pytest.mark.usefixtures("tokyo")
def test_replay_until_takes_the_same_times() -> None:
    assert parse_until("2026-11-23T10:42:00Z") == Until("time", time=T0)
    assert parse_until("2026-11-23T19:42:00") == Until("time", time=T0)
    with pytest.raises(UntilError, match="not a sequence, an event id or an ISO 8601 time"):
        parse_until("soon")
