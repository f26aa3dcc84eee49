"""``callsheet events`` lines: library events show their version, topic and state."""

from __future__ import annotations

from datetime import UTC, datetime

from callsheet.cli.events_cmd import format_line
from callsheet.events.catalog import AggregateRecorded, AggregateRecordedData
from callsheet.events.store import StoredEvent


def _line(state: bytes) -> str:
    event = AggregateRecorded.new(
        data=AggregateRecordedData(originator_version=3, topic="app:Ticket.Closed", state=state),
        goal_id="helpdesk",
        task_id="t-1",
        producer="esdb-helpdesk",
    )
    return format_line(StoredEvent(7, "s", datetime(2026, 1, 1, tzinfo=UTC), event))


def test_a_library_event_shows_its_state_as_text() -> None:
    line = _line(b'{"title":"printer on fire"}')
    assert "helpdesk/t-1" in line
    assert line.endswith('v3 app:Ticket.Closed {"title":"printer on fire"}')


def test_a_binary_state_shows_its_size() -> None:
    assert _line(b"\x78\x9c\xff\x00").endswith("v3 app:Ticket.Closed <4 bytes>")
