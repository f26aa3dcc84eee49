"""schemathesis hooks for the fuzzing of the HTTP ingress (``SCHEMATHESIS_HOOKS``).

JSON Schema counts ``7.0`` an integer; callsheet's codec (msgspec, strict) refuses
it where the catalog says ``int`` and takes ``7`` only, as the OpenAPI document's
description says. The generator writes some integers as integral floats, so every
integral float of a generated body is written as an integer: float fields take
integers, so no body changes meaning, and each still tests what it was made for.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def integral_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: integral_as_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_as_int(v) for v in value]
    return value


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    return integral_as_int(body)
