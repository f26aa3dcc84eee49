"""Quarantine: events a projection could not fold, kept aside so the projection goes on.

One bad event (a fold bug, or a message in the log that is not an event at all) must
not stop a view that every agent relies on. The runner records it here and carries
on with the next event; after the fold is fixed, the runner's ``retry_quarantined``
applies the entries again.

Entries are kept in memory and in the KV bucket ``{stream}_QUARANTINE``, so that
another process (the CLI, a second runner) sees what was set aside. Each entry has
its own key, ``{projection}[.{scope}].{seq}``: a fold that fails on every event of a
type can quarantine thousands, and one value holding them all would be rewritten
per event and soon outgrow the server's message limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import msgspec
from nats.aio.client import Client
from nats.js.errors import KeyDeletedError, KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from callsheet.events.store import CorruptEventError, StoredEvent
from callsheet.projections.snapshots import LazyBucket, entry_key

__all__ = ["Quarantine", "QuarantinedEvent"]

_MAX_ERROR: Final = 2000  # characters of an error message kept: enough to diagnose


class QuarantinedEvent(msgspec.Struct, frozen=True):
    """An event set aside by a projection.

    Attributes:
        projection: The projection that could not fold it.
        seq: Its stream sequence.
        event_id: The event's id; ``None`` when the message is not a valid event.
        event_type: The event's type; ``None`` when the message is not a valid event.
        error_type: The exception's class name (``CorruptEventError`` for a bad message).
        error: The exception's message.
        at: When it was quarantined.
        subject: The subject it is stored on.
    """

    projection: str
    seq: int
    event_id: str | None
    event_type: str | None
    error_type: str
    error: str
    at: datetime
    subject: str = ""

    @classmethod
    def fold_failed(
        cls, projection: str, stored: StoredEvent, error: Exception
    ) -> QuarantinedEvent:
        """Return the entry of an event whose fold raised ``error``."""
        return cls(
            projection=projection,
            seq=stored.seq,
            event_id=stored.event.id,
            event_type=stored.event.event_type,
            error_type=type(error).__name__,
            error=str(error)[:_MAX_ERROR],
            at=datetime.now(UTC),
            subject=stored.subject,
        )

    @classmethod
    def corrupt(cls, projection: str, error: CorruptEventError) -> QuarantinedEvent:
        """Return the entry of a message in the log that is not a valid event."""
        return cls(
            projection=projection,
            seq=error.seq,
            event_id=None,
            event_type=None,
            error_type=type(error).__name__,
            error=error.reason[:_MAX_ERROR],
            at=datetime.now(UTC),
            subject=error.subject,
        )


_decoder = msgspec.json.Decoder(QuarantinedEvent)


class Quarantine:
    """The quarantined events of one projection (and scope), in sequence order."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        projection: str,
        *,
        scope: str | None = None,
        bucket: str | None = None,
        replicas: int = 1,
    ) -> None:
        """Use the quarantine bucket of ``stream``; it is created on first write.

        Args:
            nc: A connected client.
            stream: The event stream's name; the bucket is named after it.
            projection: The projection whose entries these are.
            scope: The goal id the projection is restricted to, if any.
            bucket: Another bucket name, instead of ``{stream}_QUARANTINE``.
            replicas: Replicas of the bucket, if it is created.
        """
        self.bucket = bucket or f"{stream}_QUARANTINE"
        self.key = entry_key(projection, scope)
        self._kv = LazyBucket(nc, self.bucket, replicas=replicas)
        self.entries: list[QuarantinedEvent] = []
        """Entries known to this process, by sequence."""

    def _entry_key(self, seq: int) -> str:
        return f"{self.key}.{seq}"

    async def add(self, entry: QuarantinedEvent) -> None:
        """Record ``entry``, replacing an earlier one for the same sequence."""
        kept = [e for e in self.entries if e.seq != entry.seq]
        kept.append(entry)
        self.entries = sorted(kept, key=lambda e: e.seq)
        kv = await self._kv.for_write()
        await kv.put(self._entry_key(entry.seq), msgspec.json.encode(entry))

    async def remove(self, seqs: set[int]) -> None:
        """Forget the entries at ``seqs``, here and in the bucket."""
        self.entries = [e for e in self.entries if e.seq not in seqs]
        if not seqs:
            return
        kv = await self._kv.for_read()
        if kv is None:
            return
        for seq in sorted(seqs):
            await kv.purge(self._entry_key(seq))

    async def _stored_seqs(self, kv: KeyValue) -> list[int]:
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        prefix = f"{self.key}."
        # A scoped projection's keys share the prefix of the unscoped one ("board.g1.4"
        # starts with "board."): only a sequence number may follow the prefix.
        tails = (k[len(prefix) :] for k in keys if k.startswith(prefix))
        return sorted(int(t) for t in tails if t.isdigit())

    async def load(self) -> list[QuarantinedEvent]:
        """Read the stored entries (written by any process) and merge them into ``entries``."""
        kv = await self._kv.for_read()
        if kv is None:  # nothing was ever quarantined in this stream
            return list(self.entries)
        merged = {e.seq: e for e in self.entries}
        for seq in await self._stored_seqs(kv):
            if seq in merged:
                continue
            try:
                entry = await kv.get(self._entry_key(seq))
            except (KeyNotFoundError, KeyDeletedError):  # removed since it was listed
                continue
            if entry.value:
                merged[seq] = _decoder.decode(entry.value)
        self.entries = [merged[seq] for seq in sorted(merged)]
        return list(self.entries)

    async def drop_bucket(self) -> None:
        """Delete the whole bucket, with the entries of every projection."""
        await self._kv.drop()
