"""Rules every catalog type follows: names, descriptions, shape and pinned exports."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator

import msgspec
import msgspec.inspect as mi
import pytest

import callsheet.events.catalog as catalog
from callsheet.events.catalog import EVENT_TYPES, TASK_LEVEL_TYPES
from callsheet.events.envelope import Event, Payload

TYPE_RE = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")

PINNED_TYPES = {
    "agent.error",
    "aggregate.recorded",
    "analysis.skipped",
    "artifact.published",
    "budget.exceeded",
    "conflict.detected",
    "conflict.resolved",
    "context.updated",
    "finding.reported",
    "finding.verified",
    "goal.accepted",
    "goal.cancelled",
    "goal.completed",
    "goal.rejected",
    "goal.scope_changed",
    "goal.submitted",
    "model.called",
    "patch.proposed",
    "plan.proposed",
    "plan.replanned",
    "review.completed",
    "review.requested",
    "task.answered",
    "task.assigned",
    "task.blocked",
    "task.cancelled",
    "task.checkpoint",
    "task.failed",
    "task.heartbeat",
    "task.planned",
    "task.progress",
    "task.question",
    "task.reassigned",
    "task.result",
    "task.started",
    "tool.called",
    "usage.recorded",
}
"""The public contract: adding, renaming or removing a type must be deliberate."""


def structs_in(t: mi.Type) -> Iterator[type[msgspec.Struct]]:
    """Every Struct class reachable from a msgspec type description."""
    if isinstance(t, mi.Metadata):
        yield from structs_in(t.type)
    elif isinstance(t, mi.StructType):
        yield t.cls
        for field in t.fields:
            yield from structs_in(field.type)
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            yield from structs_in(member)
    elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        yield from structs_in(t.item_type)
    elif isinstance(t, mi.DictType):
        yield from structs_in(t.key_type)
        yield from structs_in(t.value_type)


DATA_CLASSES: set[type[msgspec.Struct]] = {
    cls for event in EVENT_TYPES.values() for cls in structs_in(mi.type_info(event))
} - set(EVENT_TYPES.values())
"""Every payload class, nested ones (``PlannedTask``, ``Budget``...) included."""


def data_class(event: type[Event]) -> type[msgspec.Struct]:
    info = mi.type_info(event)
    assert isinstance(info, mi.StructType)
    (field,) = (f for f in info.fields if f.name == "data")
    assert isinstance(field.type, mi.StructType), f"{event.__name__}.data is not a Struct"
    return field.type.cls


def test_types_are_pinned() -> None:
    assert set(EVENT_TYPES) == PINNED_TYPES


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_type_names(event_type: str) -> None:
    cls = EVENT_TYPES[event_type]
    assert TYPE_RE.fullmatch(event_type), f"{event_type!r} is not category.action, lower case"
    assert cls.__struct_config__.tag == event_type
    assert cls.__struct_config__.tag_field == "type"
    assert issubclass(cls, Event)


def test_task_level_types() -> None:
    # Task events, the events of an application's aggregates (keyed by originator id), and
    # the review's findings and skipped analyses (keyed by the task that reported them).
    expected = {t for t in EVENT_TYPES if t.startswith("task.")} | {
        "aggregate.recorded",
        "finding.reported",
        "finding.verified",
        "analysis.skipped",
        "patch.proposed",
    }
    assert expected == TASK_LEVEL_TYPES
    assert "task.assigned" in TASK_LEVEL_TYPES
    assert "goal.submitted" not in TASK_LEVEL_TYPES


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_event_shape(event_type: str) -> None:
    cls = EVENT_TYPES[event_type]
    data = data_class(cls)
    assert issubclass(data, Payload)
    assert data.__name__ == f"{cls.__name__}Data"
    for struct in (cls, data):
        config = struct.__struct_config__
        assert config.frozen, f"{struct.__name__} must be frozen"
        assert config.forbid_unknown_fields, f"{struct.__name__} must forbid unknown fields"
        # Keyword-only, but for the one field an event class adds: `data`.
        params = inspect.signature(struct).parameters.values()
        positional = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
        assert positional == ([] if struct is data else ["data"][: len(positional)]), positional
    if cls.route_role_field is not None:
        info = mi.type_info(data)
        assert isinstance(info, mi.StructType)
        (field,) = (f for f in info.fields if f.name == cls.route_role_field)
        assert field.required, "a routed role must always be present"


def test_every_data_class_is_a_payload() -> None:
    assert len(DATA_CLASSES) > len(EVENT_TYPES)
    for cls in DATA_CLASSES:
        assert issubclass(cls, Payload), cls.__name__
        assert cls.__struct_config__.frozen, cls.__name__
        assert cls.__struct_config__.forbid_unknown_fields, cls.__name__


def test_every_class_and_field_has_a_description() -> None:
    """Our "docstring on every field" rule, checked on the generated schema."""
    _, defs = msgspec.json.schema_components(list(EVENT_TYPES.values()))
    classes = {cls.__name__: cls for cls in (*EVENT_TYPES.values(), *DATA_CLASSES)}
    assert set(classes) <= set(defs)
    missing: list[str] = []
    for name, cls in sorted(classes.items()):
        schema = defs[name]
        if not schema.get("description"):
            missing.append(f"{name} (class)")
        if issubclass(cls, Event):
            # The envelope's own fields; `type` and `data` are generated per class.
            fields = set(schema["properties"]) - {"type", "data"}
        else:
            fields = set(schema["properties"])
        missing += [
            f"{name}.{field}"
            for field in sorted(fields)
            if not schema["properties"][field].get("description")
        ]
    assert not missing, "missing descriptions: " + ", ".join(missing)


def test_exports_are_complete() -> None:
    exported = set(catalog.__all__)
    assert len(catalog.__all__) == len(exported), "duplicates in __all__"
    expected = {cls.__name__ for cls in (*EVENT_TYPES.values(), *DATA_CLASSES)}
    missing = expected - exported
    assert not missing, f"not exported: {sorted(missing)}"
    others = exported - expected
    assert others == {
        "AnyEvent",
        "EVENT_TYPES",
        "TASK_LEVEL_TYPES",
        # The review's vocabulary: literal types and their values in order.
        "PERSPECTIVES",
        "Perspective",
        "SEVERITIES",
        "Severity",
        # What makes a supervisor replan (plan.replanned's trigger).
        "ReplanTrigger",
    }, sorted(others)
    for name in exported:
        assert hasattr(catalog, name), f"__all__ names {name!r}, which does not exist"


def test_exported_classes_are_the_catalog_classes() -> None:
    for cls in (*EVENT_TYPES.values(), *DATA_CLASSES):
        assert getattr(catalog, cls.__name__) is cls
