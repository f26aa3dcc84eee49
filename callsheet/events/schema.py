"""Documents generated from the catalog: a JSON Schema and an AsyncAPI description.

Both are derived from the code (``EVENT_TYPES``, the msgspec types and the
subject taxonomy), never written by hand, so they cannot drift from what the
codec accepts. ``dumps`` renders either one as stable, indented JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import msgspec

from callsheet import __version__
from callsheet.events.catalog import EVENT_TYPES, TASK_LEVEL_TYPES, AnyEvent
from callsheet.events.envelope import SCHEMA_VERSION, Event
from callsheet.events.ids import EVENT_ID_PATTERN
from callsheet.events.subjects import DEFAULT_ROOT, MAX_ID_BYTES, NONE_TOKEN, stream_filter
from callsheet.events.wire import (
    H_BLOB,
    H_CAUSATION,
    H_CORRELATION,
    H_MSG_ID,
    H_TRACEPARENT,
    H_TYPE,
    BlobPointer,
)

__all__ = [
    "ASYNCAPI_VERSION",
    "JSON_SCHEMA_DIALECT",
    "SCHEMA_ID",
    "asyncapi",
    "catalog_components",
    "dumps",
    "json_schema",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID: Final = "https://callsheet.dev/schema/events.json"
ASYNCAPI_VERSION: Final = "3.0.0"

_TYPE_DESCRIPTION = "The event type, `category.action`; selects the shape of `data`."
_ENCODING = (
    "encoded as one subject token: each byte of its UTF-8 form outside [A-Za-z0-9_-] "
    f"becomes ~XX (two upper-case hex digits); at most {MAX_ID_BYTES} bytes before encoding"
)


_BASE64: Final = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$(?!\n)"
"""What the codec decodes as bytes: standard base64, padded."""


def _base64_patterns(schema: Any) -> None:
    """Give every base64 string schema the pattern the codec enforces.

    ``contentEncoding`` is an annotation in JSON Schema 2020-12, not a check: without
    the pattern a validator (or a fuzzer) takes any string there.
    """
    if isinstance(schema, dict):
        if schema.get("contentEncoding") == "base64" and schema.get("type") == "string":
            schema.setdefault("pattern", _BASE64)
        for value in schema.values():
            _base64_patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            _base64_patterns(value)


def _catalog(
    ref_prefix: str, *extra: Any
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, str]]:
    """Return the union schema, the component schemas and each type's component name.

    msgspec generates everything; this only adds what it cannot express: the
    ``type`` tag as a described ``const``, a description of ``data``, and the
    ``task_id`` that task-level types require.
    """
    (union, *_), defs = msgspec.json.schema_components(
        [AnyEvent, *extra], ref_template=ref_prefix + "{name}"
    )
    names = {
        tag: ref.removeprefix(ref_prefix) for tag, ref in union["discriminator"]["mapping"].items()
    }
    if set(names) != set(EVENT_TYPES):
        raise RuntimeError("the schema's discriminator does not cover EVENT_TYPES")
    for tag, name in names.items():
        variant = defs[name]
        props = variant["properties"]
        props["type"] = {"const": tag, "description": _TYPE_DESCRIPTION}
        props["data"] = {**props["data"], "description": f"The payload of a `{tag}` event."}
        if tag in TASK_LEVEL_TYPES:
            present = next(s for s in props["task_id"]["anyOf"] if s.get("type") != "null")
            props["task_id"] = {
                **present,
                "description": "The task this event is about (required for task events).",
            }
            variant["required"] = [*variant["required"], "task_id"]
    _base64_patterns(defs)
    return union, defs, names


def catalog_components(
    ref_prefix: str, *extra: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The catalog's schemas for a document of another kind (OpenAPI), and each type's name.

    Args:
        ref_prefix: Where the document keeps its schemas (``#/components/schemas/``).
        extra: More msgspec types whose schemas the document needs too.

    Returns:
        The schemas by name (every event variant, every ``extra`` type and all they
        refer to) and, for each event type, the name of its schema.
    """
    _, defs, names = _catalog(ref_prefix, *extra)
    return defs, names


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of every event of the catalog.

    The top level is a ``oneOf`` over the event types, with a ``discriminator``
    on ``type`` (OpenAPI style; JSON Schema validators ignore it).
    """
    union, defs, _ = _catalog("#/$defs/")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "Callsheet events",
        "description": (
            "Every event of the callsheet log: a JSON envelope whose `type` selects the "
            f"typed `data`. Envelope schema version {SCHEMA_VERSION}. Generated from the "
            "catalog; do not edit."
        ),
        "oneOf": union["anyOf"],
        "discriminator": union["discriminator"],
        "$defs": defs,
    }


def _camel(event_type: str) -> str:
    words = re.split(r"[._]", event_type)
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _headers(*, trusted: bool) -> dict[str, Any]:
    """The NATS headers of a message, as a schema."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            H_MSG_ID: {
                "type": "string",
                "pattern": EVENT_ID_PATTERN,
                "description": (
                    "The event id. JetStream drops a second message with the same id "
                    "inside the stream's duplicate window."
                ),
            },
            H_TYPE: {
                "type": "string",
                "description": "The event type, repeating the body's `type`.",
            },
            H_CORRELATION: {
                "type": "string",
                "description": "The correlation id (the goal): every event of one goal shares it.",
            },
            H_CAUSATION: {
                "type": "string",
                "pattern": EVENT_ID_PATTERN,
                "description": "Id of the event this one reacts to; absent when none.",
            },
            H_TRACEPARENT: {
                "type": "string",
                "description": "W3C Trace Context of the producer, when it traces.",
            },
            H_BLOB: {
                "type": "string",
                "description": (
                    "Set when the event was larger than the server's message limit: the body "
                    "is then a BlobPointer (envelope without `data`), and the full event is in "
                    "the object store under this digest."
                ),
            },
        },
    }
    if trusted:
        schema["required"] = [H_MSG_ID, H_TYPE, H_CORRELATION]
    else:
        schema["description"] = "Producers should set them; the gatekeeper does not trust them."
    return schema


def _summary(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0]


def _address(root: str, event_type: str, *, task_level: bool, routed: bool) -> str:
    scope = "task.{task}" if task_level else "{kind}.{entity}"
    role = "{role}" if routed else NONE_TOKEN
    return f"{root}.ev.{{goal}}.{scope}.{role}.{event_type}"


def _parameters(cls: type[Event], *, task_level: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "goal": {
            "description": f"The goal id, {_ENCODING}.",
            "location": "$message.payload#/goal_id",
        }
    }
    if task_level:
        params["task"] = {
            "description": f"The task id, {_ENCODING}.",
            "location": "$message.payload#/task_id",
        }
    else:
        params["kind"] = {
            "enum": ["goal", "task"],
            "description": "`task` when the event has a `task_id`, `goal` when it has none.",
        }
        params["entity"] = {
            "description": (
                f"The task id when kind is `task`; the goal token again when kind is `goal`; "
                f"{_ENCODING}."
            )
        }
    if cls.route_role_field is not None:
        params["role"] = {
            "description": f"The role the event is routed to, `data.{cls.route_role_field}`, "
            f"{_ENCODING}.",
            "location": f"$message.payload#/data/{cls.route_role_field}",
        }
    return params


def asyncapi(*, root: str = DEFAULT_ROOT) -> dict[str, Any]:
    """Return an AsyncAPI 3.0 document of the event log's subjects and messages.

    One channel, message and ``send`` operation per event type, addressed by the
    subject taxonomy of ``callsheet.events.subjects``; plus the untrusted ingress
    (``{root}.in.>``) and the dead letters (``{root}.dlq.>``).

    Args:
        root: The deployment's subject prefix.
    """
    stream_filter(root)  # validates the root
    _, schemas, names = _catalog("#/components/schemas/", BlobPointer)
    for name in ("AnyEvent", "EventHeaders", "SubmittedHeaders"):
        if name in schemas:
            raise RuntimeError(f"the catalog already has a schema named {name!r}")
    schemas["EventHeaders"] = _headers(trusted=True)
    schemas["SubmittedHeaders"] = _headers(trusted=False)
    schemas["AnyEvent"] = {
        "description": "Any event of the catalog; `type` selects the variant.",
        "oneOf": [{"$ref": f"#/components/schemas/{names[tag]}"} for tag in EVENT_TYPES],
        "discriminator": "type",
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def add(key: str, channel: dict[str, Any], message: dict[str, Any], summary: str) -> None:
        if key in channels:
            raise RuntimeError(f"two channels are named {key!r}")
        messages[key] = message
        channels[key] = {**channel, "messages": {key: {"$ref": f"#/components/messages/{key}"}}}
        operations["send" + key[0].upper() + key[1:]] = {
            "action": "send",
            "summary": summary,
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }

    for event_type, cls in EVENT_TYPES.items():
        task_level = event_type in TASK_LEVEL_TYPES
        routed = cls.route_role_field is not None
        add(
            _camel(event_type),
            {
                "address": _address(root, event_type, task_level=task_level, routed=routed),
                "title": event_type,
                "summary": _summary(cls),
                "description": (
                    f"Where `{event_type}` events are stored. "
                    + ("The role token is the routed role. " if routed else "")
                    + (
                        "Task events always carry a task_id."
                        if task_level
                        else "Carries a task's id when the event has a task_id, else the goal's."
                    )
                ),
                "parameters": _parameters(cls, task_level=task_level),
            },
            {
                "name": event_type,
                "title": cls.__name__,
                "summary": _summary(cls),
                "contentType": "application/json",
                "correlationId": {"$ref": "#/components/correlationIds/goal"},
                "headers": {
                    "allOf": [
                        {"$ref": "#/components/schemas/EventHeaders"},
                        {"properties": {H_TYPE: {"const": event_type}}},
                    ]
                },
                "payload": {"$ref": f"#/components/schemas/{names[event_type]}"},
            },
            f"Append a {event_type} event to the log.",
        )
    add(
        "ingress",
        {
            "address": f"{root}.in.>",
            "title": "Ingress",
            "summary": "Untrusted submissions, validated by the gatekeeper.",
            "description": (
                "External producers publish any event envelope here. The gatekeeper decodes "
                "it strictly; a valid event is appended to the log on its event subject, "
                f"anything else goes to {root}.dlq.> with the reason."
            ),
        },
        {
            "name": "ingress",
            "title": "Submitted envelope",
            "summary": "Any event envelope; not trusted until the gatekeeper validated it.",
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/SubmittedHeaders"},
            "payload": {"$ref": "#/components/schemas/AnyEvent"},
        },
        "Submit an event for validation.",
    )
    add(
        "deadLetter",
        {
            "address": f"{root}.dlq.>",
            "title": "Dead letters",
            "summary": "Messages the gatekeeper refused.",
            "description": (
                "The gatekeeper republishes here what it could not accept, unchanged, so "
                "that nothing submitted is lost silently."
            ),
        },
        {
            "name": "deadLetter",
            "title": "Refused message",
            "summary": "The refused body as received: maybe not JSON, not UTF-8 or not an event.",
            "contentType": "application/octet-stream",
            "headers": {"$ref": "#/components/schemas/SubmittedHeaders"},
            "payload": {"description": "The body as received, byte for byte."},
        },
        "Dead-letter a refused submission.",
    )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:callsheet:events",
        "info": {
            "title": "Callsheet event log",
            "version": __version__,
            "description": (
                "The subjects and messages of a callsheet deployment on NATS JetStream. "
                f"Event subjects are `{root}.ev.{{goal}}.{{kind}}.{{entity}}.{{role}}"
                ".{category}.{action}`. Generated from the catalog; do not edit."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                "goal": {
                    "description": "The goal a message belongs to.",
                    "location": f"$message.header#/{H_CORRELATION}",
                }
            },
        },
    }


def dumps(doc: dict[str, Any]) -> str:
    """Render a document as stable JSON: sorted keys, two-space indent, no final newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)
