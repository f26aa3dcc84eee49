"""The generated JSON Schema and AsyncAPI documents cover the whole catalog, correctly."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings

from callsheet.events import codec
from callsheet.events.catalog import EVENT_TYPES, TASK_LEVEL_TYPES, TaskStarted, TaskStartedData
from callsheet.events.envelope import Event
from callsheet.events.errors import SubjectError
from callsheet.events.schema import SCHEMA_ID, asyncapi, dumps, json_schema
from callsheet.events.subjects import NONE_TOKEN, encode_token, event_subject, parse_subject
from callsheet.events.wire import H_CAUSATION, H_CORRELATION, H_MSG_ID, H_TRACEPARENT, H_TYPE
from tests.unit.strategies import events

SCHEMA = json_schema()
DOC = asyncapi()
HEADERS = (H_MSG_ID, H_TYPE, H_CORRELATION, H_CAUSATION, H_TRACEPARENT)

# A small validator for the subset of JSON Schema the catalog uses. Unknown
# keywords fail loudly, so that a new msgspec keyword cannot be ignored silently.

ANNOTATIONS = {"title", "description", "default", "discriminator", "$schema", "$id", "$defs"}
TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", re.ASCII)


def resolve(root: dict[str, Any], ref: str) -> Any:
    """Follow a local reference, and the references it leads to."""
    assert ref.startswith("#/"), ref
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    if isinstance(node, dict) and set(node) == {"$ref"}:
        return resolve(root, node["$ref"])
    return node


def errors(root: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "$") -> list[str]:
    """Return what is wrong with ``value`` under ``schema`` (empty when it is valid)."""
    found: list[str] = []
    for key, want in schema.items():
        if key in ANNOTATIONS:
            continue
        if key == "$ref":
            found += errors(root, resolve(root, want), value, at)
        elif key == "type":
            kinds = TYPES[want]
            bad_bool = isinstance(value, bool) and want in ("integer", "number")
            if not isinstance(value, kinds) or bad_bool:
                found.append(f"{at}: not {want}")
        elif key == "const":
            if value != want:
                found.append(f"{at}: not {want!r}")
        elif key == "enum":
            if value not in want:
                found.append(f"{at}: not one of {want}")
        elif key in ("anyOf", "oneOf"):
            matches = sum(not errors(root, sub, value, at) for sub in want)
            if matches == 0 or (key == "oneOf" and matches > 1):
                found.append(f"{at}: {matches} branches of {key} match")
        elif key == "allOf":
            for sub in want:
                found += errors(root, sub, value, at)
        elif not isinstance(value, dict | list | str | int | float):
            continue
        elif key == "properties":
            if isinstance(value, dict):
                for name, sub in want.items():
                    if name in value:
                        found += errors(root, sub, value[name], f"{at}.{name}")
        elif key == "required":
            if isinstance(value, dict):
                found += [f"{at}.{name}: missing" for name in want if name not in value]
        elif key == "additionalProperties":
            assert want is False
            if isinstance(value, dict):
                extra = set(value) - set(schema.get("properties", {}))
                found += [f"{at}.{name}: not allowed" for name in sorted(extra)]
        elif key == "items":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    found += errors(root, want, item, f"{at}[{i}]")
        elif key in ("minLength", "maxLength", "minItems", "maxItems"):
            if isinstance(value, str | list):
                ok = len(value) >= want if key.startswith("min") else len(value) <= want
                if not ok:
                    found.append(f"{at}: {key} {want}")
        elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                ok = {
                    "minimum": value >= want,
                    "maximum": value <= want,
                    "exclusiveMinimum": value > want,
                    "exclusiveMaximum": value < want,
                }[key]
                if not ok:
                    found.append(f"{at}: {key} {want}")
        elif key == "pattern":
            if isinstance(value, str) and not re.search(want, value):
                found.append(f"{at}: does not match {want}")
        elif key == "format":
            assert want == "date-time", want
            if isinstance(value, str) and not RFC3339.fullmatch(value):
                found.append(f"{at}: not an RFC 3339 date-time")
        elif key == "contentEncoding":
            assert want == "base64", want
            if isinstance(value, str):
                try:
                    base64.b64decode(value, validate=True)
                except binascii.Error:
                    found.append(f"{at}: not base64")
        else:
            raise AssertionError(f"the test validator does not know the keyword {key!r}")
    return found


def variant(event_type: str) -> dict[str, Any]:
    (ref,) = (
        b["$ref"]
        for b in SCHEMA["oneOf"]
        if b["$ref"] == SCHEMA["discriminator"]["mapping"][event_type]
    )
    found = resolve(SCHEMA, ref)
    assert isinstance(found, dict)
    return found


# JSON Schema


def test_json_schema_header() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == SCHEMA_ID
    assert SCHEMA["title"]
    assert "anyOf" not in SCHEMA
    assert SCHEMA["discriminator"]["propertyName"] == "type"


def test_every_type_is_a_variant() -> None:
    consts = {}
    for branch in SCHEMA["oneOf"]:
        target = resolve(SCHEMA, branch["$ref"])
        consts[target["properties"]["type"]["const"]] = branch["$ref"]
        assert "type" in target["required"]
        assert target["additionalProperties"] is False
    assert set(consts) == set(EVENT_TYPES)
    assert len(SCHEMA["oneOf"]) == len(EVENT_TYPES)
    assert SCHEMA["discriminator"]["mapping"] == consts


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_variant_shape(event_type: str) -> None:
    target = variant(event_type)
    required = set(target["required"])
    assert {
        "type",
        "data",
        "id",
        "occurred_at",
        "producer",
        "correlation_id",
        "goal_id",
    } <= required
    assert ("task_id" in required) is (event_type in TASK_LEVEL_TYPES)
    data = resolve(SCHEMA, target["properties"]["data"]["$ref"])
    assert data["type"] == "object"
    assert data["additionalProperties"] is False
    assert data["description"]


@settings(max_examples=150, deadline=None)
@given(event=events())
def test_schema_accepts_generated_events(event: Event) -> None:
    doc = json.loads(codec.encode(event))
    assert errors(SCHEMA, SCHEMA, doc) == []
    assert errors(SCHEMA, variant(event.event_type), doc) == []


@settings(max_examples=50, deadline=None)
@given(event=events())
def test_schema_refuses_what_the_codec_refuses(event: Event) -> None:
    doc = json.loads(codec.encode(event))
    for broken in (
        {k: v for k, v in doc.items() if k != "producer"},
        {**doc, "surprise": 1},
        {**doc, "type": "no.such"},
        {**doc, "occurred_at": "2025-01-01T00:00:00"},
        {**doc, "id": "x" + doc["id"][1:]},
        {**doc, "data": {**doc["data"], "surprise": 1}},
    ):
        assert errors(SCHEMA, SCHEMA, broken), broken
        with pytest.raises(ValueError, match="invalid event"):
            codec.from_dict(broken)


def test_schema_requires_task_id_on_task_events() -> None:
    event = TaskStarted.new(
        data=TaskStartedData(worker="w"), goal_id="g", task_id="t", producer="p"
    )
    doc = json.loads(codec.encode(event))
    assert errors(SCHEMA, SCHEMA, doc) == []
    assert errors(SCHEMA, SCHEMA, {**doc, "task_id": None})
    assert errors(SCHEMA, SCHEMA, {k: v for k, v in doc.items() if k != "task_id"})


def test_validator_can_fail() -> None:
    assert errors(SCHEMA, SCHEMA, {}) != []
    assert errors(SCHEMA, SCHEMA, []) != []
    assert errors(SCHEMA, {"type": "integer"}, True) != []
    with pytest.raises(AssertionError, match="does not know"):
        errors(SCHEMA, {"uniqueItems": True}, [])


# AsyncAPI


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_asyncapi_header() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert DOC["info"]["title"]
    assert DOC["info"]["version"]
    assert DOC["defaultContentType"] == "application/json"


def test_every_ref_resolves() -> None:
    found = list(refs(DOC))
    assert len(found) > 3 * len(EVENT_TYPES)
    for ref in found:
        resolve(DOC, ref)
    for ref in refs(SCHEMA):
        resolve(SCHEMA, ref)


def channel_of(event_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the channel and message documented for a type."""
    found = [
        (channel, resolve(DOC, ref["$ref"]))
        for channel in DOC["channels"].values()
        for ref in channel["messages"].values()
        if resolve(DOC, ref["$ref"])["name"] == event_type
    ]
    assert len(found) == 1, f"{event_type}: {len(found)} channels"
    return found[0]


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_type_has_a_channel_message_and_operation(event_type: str) -> None:
    channel, message = channel_of(event_type)
    assert channel["address"].endswith(f".{event_type}")
    payload = resolve(DOC, message["payload"]["$ref"])
    assert payload["properties"]["type"]["const"] == event_type
    assert message["contentType"] == "application/json"
    (type_header,) = (part for part in message["headers"]["allOf"] if "$ref" not in part)
    assert type_header["properties"][H_TYPE]["const"] == event_type
    key = next(k for k, c in DOC["channels"].items() if c is channel)
    operations = [
        op for op in DOC["operations"].values() if op["channel"]["$ref"] == f"#/channels/{key}"
    ]
    assert len(operations) == 1
    (operation,) = operations
    assert operation["action"] == "send"
    assert [resolve(DOC, m["$ref"]) for m in operation["messages"]] == [message]


def test_headers_are_documented() -> None:
    schemas = DOC["components"]["schemas"]
    for name in ("EventHeaders", "SubmittedHeaders"):
        assert set(HEADERS) <= set(schemas[name]["properties"]), name
        for header in HEADERS:
            assert schemas[name]["properties"][header]["description"]
    assert set(schemas["EventHeaders"]["required"]) == {H_MSG_ID, H_TYPE, H_CORRELATION}


def test_ingress_and_dead_letters() -> None:
    addresses = {c["address"]: c for c in DOC["channels"].values()}
    assert "cs.in.>" in addresses
    assert "cs.dlq.>" in addresses
    (ingress_msg,) = addresses["cs.in.>"]["messages"].values()
    any_event = resolve(DOC, resolve(DOC, ingress_msg["$ref"])["payload"]["$ref"])
    targets = {resolve(DOC, b["$ref"])["properties"]["type"]["const"] for b in any_event["oneOf"]}
    assert targets == set(EVENT_TYPES)
    assert len(DOC["channels"]) == len(EVENT_TYPES) + 2
    assert len(DOC["operations"]) == len(DOC["channels"])


PARAM_RE = re.compile(r"\{([A-Za-z0-9_-]+)\}")
SAMPLES = {"goal": "goal 1.é", "task": "task*1", "role": "code>r"}


def fill(address: str, kind: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "kind":
            return kind
        if name == "entity":
            return encode_token(SAMPLES["goal"] if kind == "goal" else SAMPLES["task"])
        return encode_token(SAMPLES[name])

    return PARAM_RE.sub(value, address)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_addresses_parse_with_the_taxonomy(event_type: str) -> None:
    channel, _ = channel_of(event_type)
    address = channel["address"]
    names = set(PARAM_RE.findall(address))
    assert names == set(channel["parameters"]), "every parameter is documented, and no other"
    for param in channel["parameters"].values():
        assert param["description"]
    routed = EVENT_TYPES[event_type].route_role_field is not None
    assert ("role" in names) is routed
    kinds = ["task"] if event_type in TASK_LEVEL_TYPES else channel["parameters"]["kind"]["enum"]
    assert set(kinds) <= {"goal", "task"}
    for kind in kinds:
        parsed = parse_subject(fill(address, kind))
        assert parsed.root == "cs"
        assert parsed.event_type == event_type
        assert parsed.goal_id == SAMPLES["goal"]
        assert parsed.task_id == (SAMPLES["task"] if kind == "task" else None)
        assert parsed.role == (SAMPLES["role"] if routed else None)


def address_regex(address: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[A-Za-z0-9_-]+\})", address)
    pattern = "".join(
        ("(goal|task)" if p == "{kind}" else r"[^.]+") if PARAM_RE.fullmatch(p) else re.escape(p)
        for p in parts
    )
    return re.compile(pattern)


@settings(max_examples=100, deadline=None)
@given(event=events())
def test_real_subjects_match_their_channel(event: Event) -> None:
    subject = event_subject(event.goal_id, event.task_id, event.event_type, event.route_role)
    matching = [
        c["address"]
        for c in DOC["channels"].values()
        if address_regex(c["address"]).fullmatch(subject)
    ]
    channel, _ = channel_of(event.event_type)
    assert matching == [channel["address"]], subject
    if event.route_role is None:
        assert subject.split(".")[5] == NONE_TOKEN


def test_root_is_configurable() -> None:
    doc = asyncapi(root="t1")
    assert all(c["address"].startswith("t1.") for c in doc["channels"].values())
    with pytest.raises(SubjectError):
        asyncapi(root="a.b")


# dumps


@pytest.mark.parametrize("doc", [SCHEMA, DOC], ids=["json-schema", "asyncapi"])
def test_dumps_is_stable_sorted_and_indented(doc: dict[str, Any]) -> None:
    text = dumps(doc)
    assert text == dumps(json.loads(text))
    assert json.loads(text) == doc
    assert text.startswith("{\n  ")
    assert not text.endswith("\n")
    assert text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)


def test_documents_are_deterministic() -> None:
    assert dumps(json_schema()) == dumps(SCHEMA)
    assert dumps(asyncapi()) == dumps(DOC)


def test_documents_are_fresh_copies() -> None:
    first = json_schema()
    first["$defs"]["TaskStarted"]["properties"].clear()
    assert json_schema()["$defs"]["TaskStarted"]["properties"]


def test_date_time_format_check() -> None:
    assert RFC3339.fullmatch(datetime(2025, 1, 1).isoformat() + "Z")
    assert not RFC3339.fullmatch(datetime(2025, 1, 1).isoformat())
