"""Traces as the JSON file Jaeger's UI opens ("Search" → "JSON File").

The file has the shape of the Jaeger query service's ``/api/traces`` answer,
which is what the UI's upload reads: ``{"data": [trace, ...], "total", "limit",
"offset", "errors"}``, each trace ``{"traceID", "spans", "processes",
"warnings"}``, each span with hex ``traceID``/``spanID``, ``operationName``,
``references`` (``CHILD_OF`` its parent, ``FOLLOWS_FROM`` its links),
``startTime`` and ``duration`` in microseconds, typed ``tags``, ``logs`` and the
``processID`` of its service in ``processes``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

__all__ = ["jaeger_document", "jaeger_tag"]

_KINDS = {
    SpanKind.CLIENT: "client",
    SpanKind.SERVER: "server",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
    SpanKind.INTERNAL: "internal",
}


def jaeger_tag(key: str, value: Any) -> dict[str, Any]:
    """One Jaeger tag: ``{"key", "type", "value"}`` with Jaeger's type names; pure."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {"key": key, "type": "string", "value": json.dumps(list(value))}


def _tags(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [jaeger_tag(k, v) for k, v in sorted((attributes or {}).items())]


def _span(span: ReadableSpan, trace_hex: str, process_id: str) -> dict[str, Any]:
    context = span.context
    assert context is not None
    references = []
    if span.parent is not None:
        references.append(
            {"refType": "CHILD_OF", "traceID": trace_hex, "spanID": f"{span.parent.span_id:016x}"}
        )
    for link in span.links:
        references.append(
            {
                "refType": "FOLLOWS_FROM",
                "traceID": f"{link.context.trace_id:032x}",
                "spanID": f"{link.context.span_id:016x}",
            }
        )
    tags = _tags(span.attributes)
    tags.append(jaeger_tag("span.kind", _KINDS[span.kind]))
    if span.status.status_code is StatusCode.ERROR:
        tags.append(jaeger_tag("error", True))
        tags.append(jaeger_tag("otel.status_code", "ERROR"))
        if span.status.description:
            tags.append(jaeger_tag("otel.status_description", span.status.description))
    start = (span.start_time or 0) // 1000
    end = (span.end_time or span.start_time or 0) // 1000
    return {
        "traceID": trace_hex,
        "spanID": f"{context.span_id:016x}",
        "flags": int(context.trace_flags),
        "operationName": span.name,
        "references": references,
        "startTime": start,
        "duration": max(end - start, 0),
        "tags": tags,
        "logs": [],
        "processID": process_id,
        "warnings": None,
    }


def jaeger_document(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The Jaeger UI's JSON file of ``spans``: one entry of ``data`` per trace; pure.

    Traces come in the order their first span comes; within a trace, spans keep
    their order and each service is one process (``p1``, ``p2``, ...).
    """
    traces: dict[str, dict[str, Any]] = {}
    processes: dict[str, dict[tuple[str, tuple[Any, ...]], str]] = {}
    for span in spans:
        if span.context is None:
            continue
        trace_hex = f"{span.context.trace_id:032x}"
        trace = traces.setdefault(
            trace_hex, {"traceID": trace_hex, "spans": [], "processes": {}, "warnings": None}
        )
        attributes = dict(span.resource.attributes)
        service = str(attributes.pop("service.name", "unknown"))
        others = tuple(sorted((k, v) for k, v in attributes.items() if isinstance(v, str)))
        known = processes.setdefault(trace_hex, {})
        process_id = known.get((service, others))
        if process_id is None:
            process_id = f"p{len(known) + 1}"
            known[(service, others)] = process_id
            trace["processes"][process_id] = {
                "serviceName": service,
                "tags": _tags(dict(others)),
            }
        trace["spans"].append(_span(span, trace_hex, process_id))
    return {"data": list(traces.values()), "total": 0, "limit": 0, "offset": 0, "errors": None}
