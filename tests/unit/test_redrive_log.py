"""The log a re-driven work handler reads: the recorded goal, as of its delivery's start."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callsheet.events.catalog import AnyEvent, GoalSubmitted, GoalSubmittedData, TaskProgress
from callsheet.events.catalog import TaskProgressData as Progress
from callsheet.events.errors import StoreError
from callsheet.events.store import StoredEvent
from callsheet.replay.redrive_work import RedriveError, _RecordedLog

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _log() -> list[StoredEvent]:
    first = GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g", producer="p")
    reports = [
        TaskProgress.new(
            data=Progress(worker="w", percent=p), goal_id="g", task_id="a", producer="w"
        )
        for p in (10.0, 20.0, 30.0, 40.0)
    ]
    made: list[AnyEvent] = [first, *reports]
    return [StoredEvent(i + 1, "s", AT, e) for i, e in enumerate(made)]


async def test_reads_see_only_what_was_stored_before_the_delivery_started() -> None:
    events = _log()
    log = _RecordedLog(events, horizon=4)
    assert [s.seq async for s in log.read()] == [1, 2, 3]
    assert [s.seq async for s in log.read(task_id="a", types=["task.*"])] == [2, 3]
    assert [s.seq async for s in log.read(from_seq=2, until_seq=2)] == [2]
    assert (await log.get(2)).event == events[1].event
    with pytest.raises(StoreError, match="no event at sequence 4"):
        await log.get(4)
    last = await log.last("g", "a")
    assert last is not None and last.seq == 3
    assert await log.last_seq("g") == 1 and await log.stream_last_seq() == 3
    assert await log.find(events[2].event) == events[2]
    assert await log.find(events[4].event) is None


async def test_writes_and_live_reads_are_refused_clearly() -> None:
    log = _RecordedLog(_log(), horizon=4)
    with pytest.raises(RedriveError, match="cannot append to the log"):
        await log.append(_log()[0].event)
    with pytest.raises(RedriveError, match="cannot follow the log live"):
        log.subscribe(goal_id="g")
    with pytest.raises(RedriveError, match="no NATS connection"):
        _ = log.nc
