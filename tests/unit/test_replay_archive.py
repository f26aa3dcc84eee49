"""Export files: round trip, and every kind of damage refused with the line named."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.envelope import Event
from callsheet.replay import ArchiveError, dump_archive, load_archive


def _events(goal: str = "g") -> list[Event]:
    return [
        GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id=goal, producer="u"),
        TaskProgress.new(
            data=TaskProgressData(worker="w", percent=10), goal_id=goal, producer="w", task_id="a"
        ),
    ]


def _lines(events: list[Event] | None = None) -> list[bytes]:
    return dump_archive(events or _events(), stream="S", goal="g").splitlines()


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def test_round_trip() -> None:
    events = _events()
    content = dump_archive(events, stream="S", goal="g")
    header, loaded = load_archive(content)
    assert (header.format, header.version, header.stream, header.goal) == (
        "callsheet.export",
        1,
        "S",
        "g",
    )
    assert header.count == 2 and header.digest.startswith("sha256:")
    assert loaded == events
    assert load_archive(content.rstrip(b"\n"))[1] == events


def test_empty_goal_round_trips() -> None:
    header, loaded = load_archive(dump_archive([], stream="S", goal="g"))
    assert header.count == 0 and loaded == []


def _header_with(lines: list[bytes], **changes: object) -> list[bytes]:
    header = json.loads(lines[0])
    header.update(changes)
    return [json.dumps(header).encode(), *lines[1:]]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda ls: [], "line 1: empty file"),
        (lambda ls: [b"{not json", *ls[1:]], "line 1: not a callsheet export header"),
        (lambda ls: _header_with(ls, format="other"), "line 1: format is 'other'"),
        (lambda ls: _header_with(ls, version=9), "line 1: format version 9"),
        (lambda ls: _header_with(ls, extra=1), "line 1: not a callsheet export header"),
        (lambda ls: _header_with(ls, count=3), "line 1: header says 3 events, the file has 2"),
        (lambda ls: [*ls, ls[2]], "line 4: event id"),
        (lambda ls: [ls[0], ls[1].replace(b'"t"', b'"T"'), ls[2]], "line 1: digest mismatch"),
        (lambda ls: [ls[0], b"{}", ls[2]], "line 2: invalid event"),
        (lambda ls: [ls[0], ls[1], b""], "line 3: invalid event"),
    ],
)
def test_damage_is_refused(damage: Callable[[list[bytes]], list[bytes]], message: str) -> None:
    with pytest.raises(ArchiveError) as info:
        load_archive(_join(damage(_lines())))
    assert message in str(info.value)


def test_event_of_another_goal_is_refused() -> None:
    lines = _lines()
    other = dump_archive(_events("h"), stream="S", goal="h").splitlines()
    with pytest.raises(ArchiveError, match="line 3: event of goal 'h'"):
        load_archive(_join([lines[0], lines[1], other[2]]))
