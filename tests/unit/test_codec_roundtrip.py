"""Property tests: every catalog event survives the codec unchanged.

One drawn event per example is checked three ways (bytes, dict, validate) so
that the suite stays fast; each check has its own assertion message.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callsheet.events import codec
from callsheet.events.catalog import EVENT_TYPES, TASK_LEVEL_TYPES
from callsheet.events.envelope import Event
from callsheet.events.ids import is_event_id
from tests.unit.strategies import event_of, events


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_codec_roundtrips(cls: type[Event], data: st.DataObject) -> None:
    event = data.draw(event_of(cls))
    assert is_event_id(event.id)
    if event.event_type in TASK_LEVEL_TYPES:
        assert event.task_id is not None

    decoded = codec.decode(codec.encode(event))
    assert type(decoded) is cls, "decode(encode(e)) changed the type"
    assert decoded == event, "decode(encode(e)) != e"

    as_dict = codec.to_dict(event)
    assert as_dict["type"] == event.event_type
    rebuilt = codec.from_dict(as_dict)
    assert type(rebuilt) is cls, "from_dict(to_dict(e)) changed the type"
    assert rebuilt == event, "from_dict(to_dict(e)) != e"

    assert codec.validate(event) == event, "validate(e) != e"


@settings(max_examples=50, deadline=None)
@given(event=events())
def test_encoding_is_deterministic(event: Event) -> None:
    body = codec.encode(event)
    assert codec.encode(codec.decode(body)) == body
