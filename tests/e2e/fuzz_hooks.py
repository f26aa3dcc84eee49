"""schemathesis hooks for the fuzzing of the HTTP ingress (``SCHEMATHESIS_HOOKS``).

JSON Schema counts ``7.0`` an integer; callsheet's codec (msgspec, strict) refuses
it where the catalog says ``int`` and takes ``7`` only, as the OpenAPI document's
description says. The generator writes some integers as integral floats, so every
integral float of a generated body is written as an integer: float fields take
integers, so no body changes meaning, and each still tests what it was made for.

Likewise an id is at most 128 UTF-8 bytes (what a subject token holds, as the
document's descriptions say), which JSON Schema cannot count: its ``maxLength`` is in
characters. Every generated string of at most 128 characters, in a body, a query or a
path, is cut to at most 128 bytes (whole characters), which leaves it as valid for any
field as it was.
"""

from __future__ import annotations

from typing import Any

import schemathesis

MAX_ID_BYTES = 128


def within_id_bytes(text: str) -> str:
    if len(text) > MAX_ID_BYTES or len(text.encode("utf-8", "surrogatepass")) <= MAX_ID_BYTES:
        return text
    out, size = [], 0
    for char in text:
        size += len(char.encode("utf-8", "surrogatepass"))
        if size > MAX_ID_BYTES:
            break
        out.append(char)
    return "".join(out) or text[:1]


def integral_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str):
        return within_id_bytes(value)
    if isinstance(value, dict):
        return {k: integral_as_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_as_int(v) for v in value]
    return value


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    return integral_as_int(body)


def strings_within_id_bytes(values: Any) -> Any:
    if isinstance(values, dict):
        return {k: within_id_bytes(v) if isinstance(v, str) else v for k, v in values.items()}
    return values


@schemathesis.hook
def map_query(ctx: Any, query: Any) -> Any:
    return strings_within_id_bytes(query)


@schemathesis.hook
def map_path_parameters(ctx: Any, path_parameters: Any) -> Any:
    # /v1/goals/{goal}/board: the goal is an id, as in a body or a query.
    return strings_within_id_bytes(path_parameters)
