"""Export files: a goal's events as JSON Lines, after a header with a digest.

Line 1 is the header (format, version, source stream, goal, count and the
SHA-256 of every following line, each with its newline); each other line is one
event's JSON envelope, in log order. ``load_archive`` checks everything before
returning, so an importer can refuse a damaged file before appending anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import msgspec

from callsheet.events.catalog import AnyEvent
from callsheet.events.codec import decode, encode
from callsheet.events.envelope import Event
from callsheet.events.errors import EventDecodeError

__all__ = ["FORMAT", "VERSION", "ArchiveError", "ArchiveHeader", "dump_archive", "load_archive"]

FORMAT: Final = "callsheet.export"
"""The header's ``format``."""
VERSION: Final = 1
"""The header's ``version``: files of another version are refused."""


class ArchiveError(ValueError):
    """An export file that cannot be imported; the message names the line."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


class ArchiveHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The first line of an export file.

    Attributes:
        format: Always ``callsheet.export``.
        version: Format version.
        stream: The stream the events were read from.
        goal: The goal exported.
        count: Number of event lines.
        digest: ``sha256:<hex>`` of the event lines, each with its newline.
    """

    format: str
    version: int
    stream: str
    goal: str
    count: int
    digest: str


def _digest(lines: Sequence[bytes]) -> str:
    sha = hashlib.sha256()
    for line in lines:
        sha.update(line + b"\n")
    return f"sha256:{sha.hexdigest()}"


def dump_archive(events: Sequence[Event], *, stream: str, goal: str) -> bytes:
    """Return the export file's content for ``events`` (in log order); pure."""
    lines = [encode(event) for event in events]
    header = ArchiveHeader(FORMAT, VERSION, stream, goal, len(lines), _digest(lines))
    return b"".join(line + b"\n" for line in [msgspec.json.encode(header), *lines])


def _header(line: bytes) -> ArchiveHeader:
    try:
        header = msgspec.json.decode(line, type=ArchiveHeader)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ArchiveError(1, f"not a callsheet export header ({exc})") from None
    if header.format != FORMAT:
        raise ArchiveError(1, f"format is {header.format!r}, expected {FORMAT!r}")
    if header.version != VERSION:
        raise ArchiveError(1, f"format version {header.version} is not supported")
    return header


def load_archive(content: bytes) -> tuple[ArchiveHeader, list[AnyEvent]]:
    """Parse and check an export file; pure.

    Raises:
        ArchiveError: A bad header, an invalid event line, an event of another goal,
            a repeated event id, a count or a digest that does not match.
    """
    lines = content.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines or not lines[0].strip():
        raise ArchiveError(1, "empty file: no export header")
    header = _header(lines[0])
    body = lines[1:]
    events: list[AnyEvent] = []
    seen: set[str] = set()
    for number, line in enumerate(body, start=2):
        try:
            event = decode(line)
        except EventDecodeError as exc:
            raise ArchiveError(number, f"invalid event: {exc}") from None
        if event.goal_id != header.goal:
            raise ArchiveError(number, f"event of goal {event.goal_id!r}, not {header.goal!r}")
        if event.id in seen:
            raise ArchiveError(number, f"event id {event.id} repeated")
        seen.add(event.id)
        events.append(event)
    if len(body) != header.count:
        raise ArchiveError(1, f"header says {header.count} events, the file has {len(body)}")
    digest = _digest(body)
    if digest != header.digest:
        raise ArchiveError(1, f"digest mismatch: header {header.digest}, content {digest}")
    return header, events
