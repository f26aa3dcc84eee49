"""Strict JSON encoding and decoding of catalog events.

Every failure raises one ``EventDecodeError`` naming the field (a JSON path)
and the problem: not JSON, not UTF-8, too large, nested too deep, unknown type,
unknown or missing field, wrong type, a value out of its range, or an id over
``MAX_ID_BYTES`` UTF-8 bytes. Nothing else escapes ``decode``: it is the
gatekeeper's first line and must not fail in any other way on any input.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from callsheet.events.catalog import EVENT_TYPES, TASK_LEVEL_TYPES, AnyEvent
from callsheet.events.envelope import Event
from callsheet.events.errors import EventDecodeError
from callsheet.events.idbytes import check_id_bytes, may_hold_non_ascii

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "decode",
    "decode_trusted",
    "encode",
    "encode_validated",
    "from_dict",
    "to_dict",
    "validate",
]

DEFAULT_MAX_EVENT_BYTES: Final = 64 * 1024 * 1024
"""Largest encoded event accepted; events over the server's message limit are stored
in the object store, so this bounds memory, not what the log can hold."""

_encoder = msgspec.json.Encoder()
_EVENT_CLASSES: Final = frozenset(EVENT_TYPES.values())
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
_PATH_RE = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD_RE = re.compile(r"field `(?P<name>[^`]*)`")


def encode(event: Event) -> bytes:
    """Encode an event as its JSON envelope (the body stored in the log)."""
    return _encoder.encode(event)


def _explain(exc: msgspec.ValidationError | msgspec.DecodeError) -> EventDecodeError:
    text = str(exc)
    match = _PATH_RE.match(text)
    message = match.group("msg") if match else text
    path = (match.group("path") if match else None) or "$"
    if not isinstance(exc, msgspec.ValidationError):
        return EventDecodeError("$", f"not valid JSON ({message})")
    field = _FIELD_RE.search(message)
    if field and ("missing required field" in message or "unknown field" in message):
        # msgspec reports the object's path; name the field itself.
        path = f"{path}.{field.group('name')}"
        problem = "is required but missing" if "missing" in message else "is not a known field"
        return EventDecodeError(path, problem)
    if path == "$.type" and message.startswith("Invalid value"):
        return EventDecodeError(
            "$.type", f"{message.removeprefix('Invalid value ')} is not a known event type"
        )
    return EventDecodeError(path, message[0].lower() + message[1:] if message else message)


_TOO_DEEP = "is nested too deeply"


def _check_semantics(event: Event, *, ids: bool = True) -> Event:
    """Checks that the schema alone cannot express."""
    if event.event_type in TASK_LEVEL_TYPES and event.task_id is None:
        raise EventDecodeError("$.task_id", f"is required for {event.event_type} events")
    if ids:
        check_id_bytes(event)
    return event


def decode(
    data: bytes | bytearray | memoryview | str, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> AnyEvent:
    """Decode untrusted bytes into a catalog event, strictly.

    Args:
        data: The JSON envelope.
        max_bytes: Inputs larger than this are refused before parsing.

    Raises:
        EventDecodeError: The input is not a valid event; the error names the field.
    """
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError as exc:
        problem = f"not valid UTF-8 (lone surrogate at index {exc.start})"
        raise EventDecodeError("$", problem) from None
    if len(raw) > max_bytes:
        raise EventDecodeError("$", f"event is {len(raw)} bytes, over the limit of {max_bytes}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventDecodeError("$", f"not valid UTF-8 (bad byte at offset {exc.start})") from None
    if not raw.lstrip().startswith(b"{"):
        try:
            msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise _explain(exc) from None
        except RecursionError:
            raise EventDecodeError("$", _TOO_DEEP) from None
        raise EventDecodeError("$", "must be a JSON object (the event envelope)")
    try:
        event = _decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _explain(exc) from None
    except RecursionError:
        raise EventDecodeError("$", _TOO_DEEP) from None
    # Pure ASCII without \u escapes: max_length (characters) already bounds the bytes.
    return _check_semantics(event, ids=may_hold_non_ascii(raw))  # type: ignore[return-value]


def decode_trusted(data: bytes | memoryview) -> AnyEvent:
    """Decode bytes read back from the log, which were validated when appended.

    Skips the size and UTF-8 checks of ``decode``; still raises ``EventDecodeError``
    on anything msgspec refuses.
    """
    try:
        return _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _explain(exc) from None
    except RecursionError:
        raise EventDecodeError("$", _TOO_DEEP) from None


def from_dict(obj: Any) -> AnyEvent:
    """Build an event from already-parsed JSON (a dict with ``type``), strictly.

    Raises:
        EventDecodeError: ``obj`` is not a valid event.
    """
    if not isinstance(obj, dict):
        raise EventDecodeError("$", "must be a JSON object (the event envelope)")
    try:
        event = msgspec.convert(obj, AnyEvent, strict=True)
    except msgspec.ValidationError as exc:
        raise _explain(exc) from None
    except RecursionError:
        raise EventDecodeError("$", _TOO_DEEP) from None
    return _check_semantics(event)  # type: ignore[return-value]


def to_dict(event: Event) -> dict[str, Any]:
    """Return the event as plain JSON-compatible builtins."""
    result: dict[str, Any] = msgspec.to_builtins(event)
    return result


def validate(event: Event) -> Event:
    """Re-check a constructed event against the catalog's constraints.

    msgspec checks constraints when decoding, not when a Struct is built in
    code, so the store validates what it appends with this round trip.

    Raises:
        EventDecodeError: The event breaks a constraint (or holds a value JSON cannot
            carry); the error names the field.
    """
    return decode_trusted(encode_validated(event))


def encode_validated(event: Event) -> bytes:
    """Encode an event after checking it survives the round trip through JSON unchanged.

    Raises:
        EventDecodeError: The event breaks a constraint (an id over its byte limit
            included), is nested too deeply, or JSON would alter it.
    """
    if type(event) not in _EVENT_CLASSES:
        raise EventDecodeError("$.type", f"{type(event).__name__} is not a catalog event")
    try:
        body = encode(event)
    except (msgspec.EncodeError, TypeError, ValueError) as exc:
        raise EventDecodeError("$", f"cannot be encoded as JSON ({exc})") from None
    except RecursionError:
        raise EventDecodeError("$", _TOO_DEEP) from None
    decoded = _check_semantics(decode_trusted(body))
    if decoded != event:
        # JSON would silently change it (NaN or infinity becoming null, a tuple or a
        # non-string key, a sub-minute UTC offset): refuse rather than store altered data.
        raise EventDecodeError(
            "$",
            "would change when stored as JSON (non-finite number, tuple, non-string key "
            "or sub-minute UTC offset)",
        )
    return body
