"""Fuzzing the codec: on any input ``decode`` returns an event or raises EventDecodeError.

Hypothesis feeds it random bytes, random JSON, valid events with one field replaced
by a hostile value, and a corpus of nasty cases; what decodes must encode back to an
event that decodes to itself. ``FUZZ_COUNTS`` records the examples run (printed with -s).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callsheet.events import codec
from callsheet.events.envelope import Event
from callsheet.events.errors import EventDecodeError
from callsheet.events.ids import MAX_ID_BYTES
from callsheet.events.subjects import encode_token, event_subject
from tests.unit.strategies import events

FUZZ_COUNTS: dict[str, int] = {}
EXAMPLES = 200


def _count(name: str) -> None:
    FUZZ_COUNTS[name] = FUZZ_COUNTS.get(name, 0) + 1


def decodes_or_refuses(body: bytes) -> Event | None:
    """The property: an event that can be stored and read back, or the codec's own error."""
    refusal: EventDecodeError | None = None
    try:
        event = codec.decode(body)
    except EventDecodeError as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.field.startswith("$") and str(refusal)
        return None
    again = codec.encode_validated(event)  # what the store would append
    assert codec.decode(again) == event
    # Every id it holds fits a subject token.
    event_subject(event.goal_id, event.task_id, event.event_type, event.route_role)
    return event


hostile_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=300)
    | st.sampled_from(["\x00", "a.b", "*", ">", " ", "~", "\U0001f600" * 40, "é" * 65]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes(body: bytes) -> None:
    _count("random bytes")
    decodes_or_refuses(body)
    decodes_or_refuses(b'{"type":"goal.submitted",' + body)


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile_json)
def test_random_json(value: Any) -> None:
    _count("random JSON")
    decodes_or_refuses(msgspec.json.encode(value))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[head] = _replace(doc[head], tuple(rest), new)
    return copy


def mutate(doc: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """``doc`` with one value (or the whole) replaced by a hostile one."""
    return _replace(doc, draw(st.sampled_from(_paths(doc))), draw(hostile_json))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events(), data=st.data())
def test_valid_events_with_one_field_made_hostile(event: Event, data: st.DataObject) -> None:
    _count("mutated events")
    decodes_or_refuses(msgspec.json.encode(mutate(codec.to_dict(event), data.draw)))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_round_trip(event: Event) -> None:
    _count("round trips")
    body = codec.encode_validated(event)
    assert codec.decode(body) == event
    assert codec.encode(codec.decode(body)) == body


def _goal_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "goal.submitted",
        "id": "01JNBZ6N3V6E2K1X4W0M8QH7R5",
        "occurred_at": "2026-01-01T00:00:00Z",
        "producer": "svc",
        "correlation_id": "g",
        "goal_id": "g",
        "data": {"title": "t"},
    }
    doc.update(changes)
    return doc


def _body(**changes: Any) -> bytes:
    return json.dumps(_goal_doc(**changes)).encode()


NASTY: dict[str, bytes] = {
    "deep array": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "deep data": _body().replace(b'"title": "t"}', b'"title": "t", "x": ' + b"[" * 5000),
    "deep constraints": _body().replace(
        b'"title": "t"', b'"title": "t", "constraints": ' + b"[" * 3000 + b"]" * 3000
    ),
    "huge integer": _body(schema_version=10**400),
    "huge float": _body().replace(b'"title": "t"', b'"title": "t", "budget": {"usd": 1e999}'),
    "huge exponent": _body().replace(b'"svc"', b"1e99999999999"),
    "invalid UTF-8": _body().replace(b'"t"', b'"\xff\xfe"'),
    "overlong UTF-8": _body().replace(b'"t"', b'"\xc0\xaf"'),
    "NUL in id": _body(goal_id="a\x00b", correlation_id="a\x00b"),
    "NUL byte raw": _body().replace(b'"t"', b'"a\x00b"'),
    "lone surrogate": _body().replace(b'"t"', b'"\\ud800"'),
    "lone low surrogate": _body().replace(b'"svc"', b'"\\udc00x"'),
    "id not a token": _body(goal_id="a.b *>~", correlation_id="a.b *>~"),
    "id over the bytes": _body(goal_id="é" * 65, correlation_id="g"),
    "id over the bytes, escaped": json.dumps(_goal_doc(producer="\U0001f600" * 33)).encode(),
    "id exactly at the bytes": _body(goal_id="é" * (MAX_ID_BYTES // 2), correlation_id="g"),
    "empty id": _body(goal_id=""),
    "BOM": b"\xef\xbb\xbf" + _body(),
    "duplicate keys": _body()[:-1] + b', "type": "goal.completed"}',
    "not an object": b'"goal.submitted"',
    "empty": b"",
    "whitespace": b" \n\t ",
    "truncated": _body()[:-5],
}


@pytest.mark.parametrize("name", sorted(NASTY))
def test_nasty_corpus(name: str) -> None:
    _count("nasty corpus")
    event = decodes_or_refuses(NASTY[name])
    if name in ("id exactly at the bytes", "NUL in id", "id not a token"):
        assert event is not None  # valid: ids are encoded into tokens, whatever they hold
        encode_token(event.goal_id)
    elif name not in ("BOM", "duplicate keys", "huge integer"):  # either answer is safe
        assert event is None, name


def test_a_50_mb_body_is_refused_before_parsing() -> None:
    _count("nasty corpus")
    body = b'{"type": "goal.submitted", "data": {"title": "' + b"x" * (50 * 1024 * 1024) + b'"}}'
    with pytest.raises(EventDecodeError, match="over the limit"):
        codec.decode(body, max_bytes=1024 * 1024)


def test_report_counts() -> None:
    """Prints the examples run by this module (run it with -s to see them)."""
    print("codec fuzz examples:", FUZZ_COUNTS)
