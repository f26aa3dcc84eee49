"""Turn projection states into JSON: dataclasses become objects, tuple keys strings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Set
from typing import Any

import msgspec

from callsheet.replay.diff import key_token

__all__ = ["state_to_json", "to_jsonable"]

_encoder = msgspec.json.Encoder(order="sorted")


def to_jsonable(value: Any) -> Any:
    """Return ``value`` as builtins msgspec can encode as JSON; pure.

    Dataclasses become dicts of their fields, mapping keys become strings (tuple
    keys joined with ``/``), tuples, lists and sets become lists; msgspec Structs,
    datetimes and scalars are left for msgspec.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key_token(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Set):
        return sorted((to_jsonable(v) for v in value), key=repr)
    return value


def state_to_json(state: Any) -> bytes:
    """Encode a projection state as JSON (keys sorted)."""
    return _encoder.encode(to_jsonable(state))
