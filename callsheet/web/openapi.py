"""The OpenAPI 3.1 document of the HTTP ingress, generated, never written by hand.

Its schemas come from the same place as ``callsheet schema``'s JSON Schema
(``callsheet.events.schema.catalog_components``: the catalog's msgspec types,
with the same additions), and from the bodies of ``callsheet.web.bodies`` and
the board projection's types, so what it says is what the server checks.
"""

from __future__ import annotations

from typing import Any, Final

from callsheet import __version__
from callsheet.events.catalog import EVENT_TYPES
from callsheet.events.schema import catalog_components
from callsheet.events.subjects import MAX_ID_BYTES
from callsheet.projections.board import Board
from callsheet.web.bodies import BatchAnswer, BatchRequest, EventPage, Position, Problem
from callsheet.web.ingress import ID_MAX_CHARS

__all__ = ["OPENAPI_VERSION", "openapi"]

OPENAPI_VERSION: Final = "3.1.0"
_REF = "#/components/schemas/"

_REFUSALS: Final = {
    "400": "Not valid: the body names the field at fault.",
    "401": "No valid bearer token.",
    "403": (
        "The token's producer may not publish this event: another producer's name, or a type "
        "or goal its policy does not allow (the body names the rule and the field)."
    ),
    "408": "The body did not arrive in time.",
    "409": "An event id is stored already with another body: nothing was appended.",
    "413": "The body, an event, or the number of events is over the limit.",
    "415": "The body is not application/json.",
    "429": "The producer is over its rate; retry after `Retry-After` seconds.",
    "503": "The log is briefly unavailable; retry after `Retry-After` seconds.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json_content(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _retry_after() -> dict[str, Any]:
    return {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    }


def _responses(ok: dict[str, tuple[str, str]], *refusals: str) -> dict[str, Any]:
    answers: dict[str, Any] = {
        status: {"description": text, "content": _json_content(name)}
        for status, (name, text) in ok.items()
    }
    for status in refusals:
        answers[status] = {"description": _REFUSALS[status], "content": _json_content("Problem")}
        if status in ("429", "503"):
            answers[status]["headers"] = _retry_after()
    return answers


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _id_schema() -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": ID_MAX_CHARS,
        "description": f"An id: at most {ID_MAX_CHARS} characters and {MAX_ID_BYTES} bytes.",
    }


def openapi(*, max_batch: int = 1000, page: int = 1000) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of ``/v1``.

    Args:
        max_batch: Most events of one atomic batch (the store's ``max_batch``).
        page: Most events one read answers.
    """
    schemas, names = catalog_components(
        _REF, Problem, Position, BatchRequest, BatchAnswer, EventPage, Board
    )
    if "AnyEvent" in schemas:
        raise RuntimeError("the catalog already has a schema named 'AnyEvent'")
    schemas["AnyEvent"] = {
        "description": "Any event of the catalog: an envelope whose `type` selects its `data`.",
        "oneOf": [_ref(names[tag]) for tag in EVENT_TYPES],
        "discriminator": {
            "propertyName": "type",
            "mapping": {tag: _REF + names[tag] for tag in EVENT_TYPES},
        },
    }
    schemas["BatchRequest"]["properties"]["events"]["maxItems"] = max_batch
    publish = ("400", "401", "403", "408", "409", "413", "415", "429", "503")
    read = ("400", "401", "429", "503")
    time = {"type": "string", "format": "date-time"}
    seq = {"type": "integer", "minimum": 1, "maximum": 2**64 - 1}
    paths: dict[str, Any] = {
        "/v1/events": {
            "post": {
                "operationId": "publishEvent",
                "summary": "Publish one event, validated as the gatekeeper validates it.",
                "description": (
                    "Idempotent by event id: sending the same event again answers 200 with "
                    "its stored position and `duplicate: true`. The event's `producer` must "
                    "be the token's producer."
                ),
                "requestBody": {"required": True, "content": _json_content("AnyEvent")},
                "responses": _responses(
                    {
                        "201": ("Position", "Appended."),
                        "200": ("Position", "Stored already (a retry): nothing appended."),
                    },
                    *publish,
                ),
            },
            "get": {
                "operationId": "readEvents",
                "summary": "Read the log, oldest first, with the filters of `callsheet events`.",
                "parameters": [
                    _query("goal", _id_schema(), "Only this goal's events."),
                    _query("task", _id_schema(), "Only this task's events."),
                    {
                        **_query(
                            "type",
                            {
                                "type": "array",
                                "maxItems": 32,
                                "items": {
                                    "type": "string",
                                    "pattern": r"^[a-z][a-z0-9_]{0,63}\.([a-z][a-z0-9_]{0,63}|\*)$",
                                },
                            },
                            "Only these types (`task.assigned`) or categories (`task.*`).",
                        ),
                        "style": "form",
                        "explode": True,
                    },
                    _query("from_seq", seq, "First sequence."),
                    _query("until_seq", seq, "Last sequence."),
                    _query("since", time, "Stored at or after this time (with Z or an offset)."),
                    _query("until", time, "Stored at or before this time (with Z or an offset)."),
                    _query(
                        "limit",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": page,
                            "default": min(100, page),
                        },
                        "Events in the page.",
                    ),
                ],
                "responses": _responses({"200": ("EventPage", "A page of events.")}, *read),
            },
        },
        "/v1/events:batch": {
            "post": {
                "operationId": "publishBatch",
                "summary": f"Publish up to {max_batch} events atomically: all of them, or none.",
                "description": (
                    "Each event is validated as one sent alone; a retry of a stored batch "
                    "answers 200 with every position and `duplicate: true`."
                ),
                "requestBody": {"required": True, "content": _json_content("BatchRequest")},
                "responses": _responses(
                    {
                        "201": ("BatchAnswer", "Appended, at consecutive sequences."),
                        "200": ("BatchAnswer", "Stored already (a retry): nothing appended."),
                    },
                    *publish,
                ),
            }
        },
        "/v1/goals/{goal}/board": {
            "get": {
                "operationId": "goalBoard",
                "summary": "A goal's board (its tasks' states), folded from the log.",
                "parameters": [
                    {"name": "goal", "in": "path", "required": True, "schema": _id_schema()}
                ],
                "responses": {
                    **_responses({"200": ("Board", "The board.")}, *read),
                    "404": {"description": "No such goal.", "content": _json_content("Problem")},
                },
            }
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "callsheet HTTP ingress",
            "version": __version__,
            "description": (
                "Publish events to the callsheet log and read it over HTTP. Generated from "
                "the event catalog; do not edit. Integer fields take JSON integers (`7`): "
                "the codec refuses `7.0` there, although JSON Schema counts it an integer."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token made with `callsheet token create PRODUCER`.",
                }
            },
        },
    }
