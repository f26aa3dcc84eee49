"""The subject taxonomy of the event log.

Every event is stored on one subject::

    {root}.ev.{goal}.{kind}.{entity}.{role}.{category}.{action}

========  =================================================================
token     meaning
========  =================================================================
root      deployment prefix, ``cs`` by default (tests use one per test)
ev        the event log (``in`` is the untrusted ingress, ``dlq`` dead letters)
goal      the goal id, encoded (also the correlation of a goal's events)
kind      ``task`` for events about one task, ``goal`` for the rest
entity    the task id, or the goal id again for goal-level events, encoded
role      the role that should act on the event (``task.assigned`` carries the
          worker role), or ``~`` when the event is not routed to a role
category  first half of the event type, e.g. ``task``
action    second half of the event type, e.g. ``assigned``
========  =================================================================

Useful filters (see the helpers below):

- one goal: ``cs.ev.{goal}.>``
- one entity (also the range checked for optimistic concurrency):
  ``cs.ev.{goal}.task.{task}.>``
- one type everywhere: ``cs.ev.*.*.*.*.task.assigned``; a category: ``cs.ev.*.*.*.*.task.*``
- work for a role: ``cs.ev.*.task.*.{role}.task.assigned``

Ids are encoded into tokens so that ``.``, ``*``, ``>``, spaces, ``~`` and any
non-ASCII character cannot break a subject: bytes outside ``[A-Za-z0-9_-]`` of
the id's UTF-8 form become ``~XX`` (two upper-case hex digits). A lone ``~`` is
the "none" placeholder, which no encoded id can equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callsheet.events.errors import SubjectError
from callsheet.events.ids import MAX_ID_BYTES as MAX_ID_BYTES  # re-exported: the token limit

__all__ = [
    "DEFAULT_ROOT",
    "NONE_TOKEN",
    "ParsedSubject",
    "decode_token",
    "encode_token",
    "entity_filter",
    "event_subject",
    "goal_filter",
    "parse_subject",
    "role_work_filter",
    "stream_filter",
    "type_filter",
]

DEFAULT_ROOT = "cs"
NONE_TOKEN = "~"

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_PLAIN_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_BYTES}}}")
_ENCODED_RE = re.compile(r"^(?:[A-Za-z0-9_-]|~[0-9A-F]{2})+$")
_ROOT_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def encode_token(value: str) -> str:
    """Encode an id so that it is exactly one safe subject token.

    Args:
        value: Any non-empty id of at most ``MAX_ID_BYTES`` (128) UTF-8 bytes.

    Returns:
        The token; ``decode_token`` gives ``value`` back.

    Raises:
        SubjectError: The id is empty, too long or not valid Unicode.
    """
    if _PLAIN_RE.fullmatch(value):
        return value  # ASCII-safe already: its own UTF-8, within the length limit
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SubjectError(f"id {value!r} is not valid Unicode (lone surrogate)") from exc
    if not raw:
        raise SubjectError("an id used in a subject cannot be empty")
    if len(raw) > MAX_ID_BYTES:
        raise SubjectError(f"id is {len(raw)} bytes long, over the limit of {MAX_ID_BYTES}")
    if all(b in _SAFE for b in raw):
        return value
    return "".join(chr(b) if b in _SAFE else f"~{b:02X}" for b in raw)


def decode_token(token: str) -> str:
    """Decode a token made by ``encode_token``.

    Raises:
        SubjectError: The token is not a valid encoding.
    """
    if not _ENCODED_RE.match(token):
        raise SubjectError(f"{token!r} is not an encoded id token")
    if "~" not in token:
        return token
    out = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "~":
            out.append(int(token[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(token[i]))
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubjectError(f"{token!r} does not decode to UTF-8") from exc


def _check_root(root: str) -> str:
    if not _ROOT_RE.match(root):
        raise SubjectError(f"subject root {root!r} must match [A-Za-z0-9_-]+")
    return root


def _type_tokens(event_type: str) -> str:
    if not _TYPE_RE.match(event_type):
        raise SubjectError(f"event type {event_type!r} must look like 'category.action'")
    return event_type


def event_subject(
    goal_id: str,
    task_id: str | None,
    event_type: str,
    role: str | None = None,
    *,
    root: str = DEFAULT_ROOT,
) -> str:
    """Return the subject an event is stored on."""
    goal = encode_token(goal_id)
    if task_id is None:
        kind, entity = "goal", goal
    else:
        kind, entity = "task", encode_token(task_id)
    role_token = NONE_TOKEN if role is None else encode_token(role)
    return f"{_check_root(root)}.ev.{goal}.{kind}.{entity}.{role_token}.{_type_tokens(event_type)}"


def stream_filter(root: str = DEFAULT_ROOT) -> str:
    """Return the filter that matches every event of the log."""
    return f"{_check_root(root)}.ev.>"


def goal_filter(goal_id: str, *, root: str = DEFAULT_ROOT) -> str:
    """Return the filter matching every event of one goal."""
    return f"{_check_root(root)}.ev.{encode_token(goal_id)}.>"


def entity_filter(goal_id: str, task_id: str | None = None, *, root: str = DEFAULT_ROOT) -> str:
    """Return the subject range of one entity: a task, or the goal itself.

    This range is what optimistic concurrency checks (expected last sequence).
    """
    goal = encode_token(goal_id)
    if task_id is None:
        return f"{_check_root(root)}.ev.{goal}.goal.{goal}.>"
    return f"{_check_root(root)}.ev.{goal}.task.{encode_token(task_id)}.>"


def type_filter(event_type: str, *, goal_id: str | None = None, root: str = DEFAULT_ROOT) -> str:
    """Return the filter for one event type (``task.assigned``) or category (``task.*``)."""
    category, _, action = event_type.partition(".")
    if action == "*":
        _type_tokens(f"{category}.x")
    else:
        _type_tokens(event_type)
    goal = "*" if goal_id is None else encode_token(goal_id)
    return f"{_check_root(root)}.ev.{goal}.*.*.*.{category}.{action}"


def role_work_filter(role: str, *, root: str = DEFAULT_ROOT) -> str:
    """Return the filter a role's work-dispatch consumer uses: its task assignments."""
    return f"{_check_root(root)}.ev.*.task.*.{encode_token(role)}.task.assigned"


@dataclass(frozen=True, slots=True)
class ParsedSubject:
    """The parts of an event subject, decoded."""

    root: str
    goal_id: str
    task_id: str | None
    role: str | None
    event_type: str


def parse_subject(subject: str) -> ParsedSubject:
    """Parse an event subject made by ``event_subject``.

    Raises:
        SubjectError: The subject is not an event subject.
    """
    parts = subject.split(".")
    if len(parts) != 8 or parts[1] != "ev" or parts[3] not in ("goal", "task"):
        raise SubjectError(f"{subject!r} is not an event subject")
    root, _, goal, kind, entity, role, category, action = parts
    _check_root(root)
    goal_id = decode_token(goal)
    task_id = decode_token(entity) if kind == "task" else None
    if kind == "goal" and entity != goal:
        raise SubjectError(f"{subject!r}: a goal-level entity must repeat the goal token")
    return ParsedSubject(
        root=root,
        goal_id=goal_id,
        task_id=task_id,
        role=None if role == NONE_TOKEN else decode_token(role),
        event_type=_type_tokens(f"{category}.{action}"),
    )
