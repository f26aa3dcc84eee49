"""Large event bodies in a write-once JetStream Object Store bucket, addressed by their digest.

The bucket keeps the Object Store's layout (``OBJ_{bucket}``: chunks on
``$O.{bucket}.C.{nuid}``, one JSON description per object on
``$O.{bucket}.M.{base64 name}``), so the ``nats`` tools can read it, but nothing
stored in it is ever replaced or removed:

- the stream refuses rollups, deletes and purges (``allow_rollup_hdrs`` off,
  ``deny_delete``, ``deny_purge``; only admin may update a stream), so an agent
  user cannot overwrite a blob the way ``ObjectStore.put`` would (a description
  with a rollup header, then a purge of the old chunks): the broker refuses it;
- a writer only appends: its chunks under a fresh nuid, then a description;
- a reader takes the descriptions of a name in the order they were stored, reads
  the number of chunks each names (the first ones on its subject: chunks
  appended later to that subject are ignored) and returns the first whose bytes
  have the digest the event's pointer gives. A description or chunk published
  by anyone else can only add a candidate that fails the check; if none passes,
  the read fails with ``StoreError`` (the store reports the event as corrupt, and
  reads the rest of the log), and the next put of those bytes appends a good copy.

A bucket made before this version still allows rollups: its stream must be
updated by an admin (``allow_rollup_hdrs: false``, ``deny_delete``,
``deny_purge``) to be write-once; reading and writing it work the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Final

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from nats.nuid import NUID

from callsheet.events.errors import StoreError
from callsheet.events.wire import BlobRef

__all__ = ["CHUNK_SIZE", "BlobStore", "blob_ref", "blob_stream_config", "digest_of"]

CHUNK_SIZE: Final = 128 * 1024
"""Bytes per chunk message (the Object Store's default)."""


def digest_of(data: bytes) -> str:
    """Return ``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_ref(bucket: str, data: bytes) -> BlobRef:
    """The reference ``data`` has in ``bucket`` (content-addressed: the same for the same bytes)."""
    digest = digest_of(data)
    return BlobRef(bucket=bucket, name=digest.replace(":", "-"), digest=digest, size=len(data))


def _stream(bucket: str) -> str:
    return f"OBJ_{bucket}"


def _meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def blob_stream_config(bucket: str, *, replicas: int = 1) -> StreamConfig:
    """The stream of a write-once blob bucket (no rollup, delete or purge)."""
    return StreamConfig(
        name=_stream(bucket),
        description="callsheet: bodies of events over the message size limit (write-once)",
        subjects=[f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"],
        storage=StorageType.FILE,
        num_replicas=replicas,
        discard=DiscardPolicy.NEW,
        max_consumers=0,
        allow_rollup_hdrs=False,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
    )


class BlobStore:
    """Content-addressed, write-once blobs: putting the same bytes twice stores them once."""

    def __init__(self, js: JetStreamContext, bucket: str, *, replicas: int = 1) -> None:
        self._js = js
        self._bucket = bucket
        self._replicas = replicas
        self._ready = False

    async def _ensure(self) -> None:
        """Make the bucket's stream if there is none (admin only, under the shipped permissions)."""
        if self._ready:
            return
        try:
            await self._js.stream_info(_stream(self._bucket))
        except NotFoundError:
            try:
                await self._js.add_stream(blob_stream_config(self._bucket, replicas=self._replicas))
            except BadRequestError:  # made at the same time by another writer
                await self._js.stream_info(_stream(self._bucket))
        self._ready = True

    async def _descriptions(self, bucket: str, name: str) -> list[dict[str, Any]]:
        """Every description stored under ``name``, oldest first (read from the stream leader)."""
        subject, stream = _meta_subject(bucket, name), _stream(bucket)
        found: list[dict[str, Any]] = []
        seq = 1
        while True:
            try:
                msg = await self._js.get_msg(stream, seq=seq, subject=subject, next=True)
            except NotFoundError:
                return found
            try:
                info = json.loads(msg.data or b"")
            except ValueError:
                info = None
            if isinstance(info, dict) and not info.get("deleted"):
                found.append(info)
            assert msg.seq is not None
            seq = msg.seq + 1

    async def _chunks(self, bucket: str, info: dict[str, Any]) -> bytes | None:
        """The bytes a description names (its first ``chunks`` chunks); None if some are missing."""
        nuid, count = info.get("nuid"), info.get("chunks")
        if not isinstance(nuid, str) or not isinstance(count, int) or count < 0:
            return None
        subject, stream = f"$O.{bucket}.C.{nuid}", _stream(bucket)
        parts: list[bytes] = []
        seq = 1
        for _ in range(count):
            try:
                msg = await self._js.get_msg(stream, seq=seq, subject=subject, next=True)
            except NotFoundError:
                return None
            parts.append(msg.data or b"")
            assert msg.seq is not None
            seq = msg.seq + 1
        return b"".join(parts)

    async def _find(self, ref: BlobRef) -> tuple[bytes | None, bool]:
        """The first stored copy with the reference's digest, and whether any copy was found."""
        seen = False
        for info in await self._descriptions(ref.bucket, ref.name):
            seen = True
            if info.get("size") != ref.size:
                continue
            data = await self._chunks(ref.bucket, info)
            if data is not None and digest_of(data) == ref.digest:
                return data, True
        return None, seen

    async def put(self, data: bytes) -> BlobRef:
        """Store ``data`` unless a good copy is stored already; return its reference.

        Nothing is overwritten: when the copies under the digest's name all fail
        the digest check (someone else wrote them), a good one is appended.
        """
        ref = blob_ref(self._bucket, data)
        await self._ensure()
        found, _ = await self._find(ref)
        if found is not None:
            return ref
        nuid = NUID().next().decode()
        stream = _stream(self._bucket)
        chunks = 0
        for start in range(0, len(data), CHUNK_SIZE):
            chunk = data[start : start + CHUNK_SIZE]
            await self._js.publish(f"$O.{self._bucket}.C.{nuid}", chunk, stream=stream)
            chunks += 1
        sha = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
        info = {
            "name": ref.name,
            "bucket": self._bucket,
            "nuid": nuid,
            "size": len(data),
            "mtime": datetime.now(UTC).isoformat(),
            "chunks": chunks,
            "digest": f"SHA-256={sha}",
        }
        meta = json.dumps(info).encode()
        await self._js.publish(_meta_subject(self._bucket, ref.name), meta, stream=stream)
        return ref

    async def get(self, ref: BlobRef) -> bytes:
        """Fetch a blob: the first stored copy whose content has the reference's digest.

        Raises:
            StoreError: The blob is missing, or no stored copy matches the digest.
        """
        try:
            data, seen = await self._find(ref)
        except NotFoundError as exc:  # no such bucket
            raise StoreError(f"blob {ref.name} is missing: no bucket {ref.bucket}") from exc
        if data is not None:
            return data
        if seen:
            raise StoreError(f"blob {ref.name} does not match its digest {ref.digest}")
        raise StoreError(f"blob {ref.name} is missing from bucket {ref.bucket}")
