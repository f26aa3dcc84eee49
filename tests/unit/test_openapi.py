"""The OpenAPI document of /v1 is generated from the catalog, as the JSON Schema is."""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from callsheet.agents.ratelimit import RateLimit
from callsheet.events.catalog import EVENT_TYPES
from callsheet.events.codec import decode
from callsheet.events.errors import EventDecodeError
from callsheet.events.schema import _BASE64, json_schema
from callsheet.web.bodies import BatchRequest
from callsheet.web.openapi import OPENAPI_VERSION, openapi

DOC = openapi()
SCHEMAS = DOC["components"]["schemas"]


def local_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return (
            [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in local_refs(v)]
        )
    if isinstance(node, list):
        return [r for v in node for r in local_refs(v)]
    return []


def test_every_event_schema_is_the_json_schemas() -> None:
    defs = json_schema()["$defs"]
    mapping = SCHEMAS["AnyEvent"]["discriminator"]["mapping"]
    assert set(mapping) == set(EVENT_TYPES)
    for name, schema in defs.items():
        # The same schema, only its references written for the other document.
        moved = msgspec.json.decode(
            msgspec.json.encode(schema).replace(b"#/$defs/", b"#/components/schemas/")
        )
        assert SCHEMAS[name] == moved, name


def test_every_reference_resolves() -> None:
    refs = local_refs(DOC)
    assert len(refs) > 100
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in SCHEMAS, ref


def test_operations_and_their_answers() -> None:
    assert DOC["openapi"] == OPENAPI_VERSION
    ops = {(path, method): op for path, item in DOC["paths"].items() for method, op in item.items()}
    assert set(ops) == {
        ("/v1/events", "post"),
        ("/v1/events", "get"),
        ("/v1/events:batch", "post"),
        ("/v1/goals/{goal}/board", "get"),
    }
    for (_, method), op in ops.items():
        answers = op["responses"]
        assert {"400", "401", "429", "503"} <= set(answers), op["operationId"]
        assert "Retry-After" in answers["429"]["headers"]
        if method == "post":
            assert {"201", "200", "403", "409", "413"} <= set(answers)
    batch = SCHEMAS["BatchRequest"]["properties"]["events"]
    assert batch["maxItems"] == 1000 and batch["minItems"] == 1
    assert (
        openapi(max_batch=10)["components"]["schemas"]["BatchRequest"]["properties"]["events"][
            "maxItems"
        ]
        == 10
    )
    assert DOC["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # The board's schema is the projection's own type.
    assert "tasks" in SCHEMAS["Board"]["properties"] and "TaskCard" in SCHEMAS


def test_batch_request_is_generated_from_its_struct() -> None:
    (_, *_), defs = msgspec.json.schema_components([BatchRequest])
    assert defs["BatchRequest"]["properties"]["events"]["minItems"] == 1


def test_base64_fields_have_the_pattern_the_codec_enforces() -> None:
    found = [s for s in SCHEMAS.values() if "base64" in msgspec.json.encode(s).decode()]
    assert found, "the catalog has bytes fields (aggregate.recorded's state)"
    pattern = re.compile(_BASE64)
    samples = [base64.b64encode(os.urandom(n)).decode() for n in range(12)]
    samples += ["YWI", "a-_b", "====", "YWJj\n", "ab\n==", "YQ"]
    for text in samples:
        try:
            msgspec.json.decode(msgspec.json.encode(text), type=bytes)
            accepted = True
        except msgspec.ValidationError:
            accepted = False
        assert accepted == bool(pattern.search(text)), text


@pytest.mark.parametrize("value", ["7.0", "7.5"])
def test_integer_fields_take_json_integers_only(value: str) -> None:
    # Said in the document's description: JSON Schema would count 7.0 an integer.
    assert "refuses `7.0`" in DOC["info"]["description"]
    body = (
        '{"type":"task.assigned","id":"01JBX9V6T1Q4N9J2D8ZK0W3M5R","schema_version":1,'
        '"occurred_at":"2026-11-23T10:42:00Z","producer":"p","correlation_id":"g",'
        '"goal_id":"g","task_id":"t","data":{"role":"r","attempt":' + value + "}}"
    )
    with pytest.raises(EventDecodeError) as caught:
        decode(body)
    assert caught.value.field == "$.data.attempt"


def test_rate_limit_retry_after() -> None:
    limit = RateLimit(2, 10)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert limit.retry_after("p", t0) == 0
    limit.record("p", t0)
    limit.record("p", t0 + timedelta(seconds=4))
    assert limit.retry_after("p", t0 + timedelta(seconds=5)) == pytest.approx(5.0)
    assert limit.retry_after("q", t0 + timedelta(seconds=5)) == 0
    assert limit.retry_after("p", t0 + timedelta(seconds=10)) == 0  # the first left the window
