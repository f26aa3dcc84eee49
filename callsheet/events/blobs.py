"""Large event bodies in the JetStream Object Store, addressed by their digest."""

from __future__ import annotations

import hashlib

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from callsheet.events.errors import StoreError
from callsheet.events.wire import BlobRef

__all__ = ["BlobStore", "blob_ref", "digest_of"]


def digest_of(data: bytes) -> str:
    """Return ``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_ref(bucket: str, data: bytes) -> BlobRef:
    """The reference ``data`` has in ``bucket`` (content-addressed: the same for the same bytes)."""
    digest = digest_of(data)
    return BlobRef(bucket=bucket, name=digest.replace(":", "-"), digest=digest, size=len(data))


class BlobStore:
    """Content-addressed blobs: putting the same bytes twice stores them once."""

    def __init__(self, js: JetStreamContext, bucket: str, *, replicas: int = 1) -> None:
        self._js = js
        self._bucket = bucket
        self._replicas = replicas
        self._obs: ObjectStore | None = None

    async def _store(self) -> ObjectStore:
        if self._obs is None:
            try:
                self._obs = await self._js.object_store(self._bucket)
            except (BucketNotFoundError, NotFoundError):
                self._obs = await self._js.create_object_store(
                    self._bucket,
                    config=ObjectStoreConfig(
                        description="callsheet: bodies of events over the message size limit",
                        storage=StorageType.FILE,
                        replicas=self._replicas,
                    ),
                )
        return self._obs

    async def put(self, data: bytes) -> BlobRef:
        """Store ``data`` (idempotent) and return its reference.

        A blob already stored under the digest is read back and checked: one that
        was overwritten with other bytes (the bucket is writable by every agent
        user) is written again, so the writer of the right bytes restores it.
        """
        ref = blob_ref(self._bucket, data)
        name = ref.name
        obs = await self._store()
        try:
            info = await obs.get_info(name)
            present = info.size == len(data) and not info.deleted
        except (ObjectNotFoundError, NotFoundError):
            present = False
        if present:
            stored = await obs.get(name)
            present = digest_of(stored.data or b"") == ref.digest
        if not present:
            await obs.put(name, data)
        return ref

    async def get(self, ref: BlobRef) -> bytes:
        """Fetch a blob and check its digest.

        Raises:
            StoreError: The blob is missing or its content does not match the digest.
        """
        obs = await self._store() if ref.bucket == self._bucket else None
        if obs is None:
            obs = await self._js.object_store(ref.bucket)
        try:
            result = await obs.get(ref.name)
        except (ObjectNotFoundError, NotFoundError) as exc:
            raise StoreError(f"blob {ref.name} is missing from bucket {ref.bucket}") from exc
        data = result.data or b""
        if digest_of(data) != ref.digest:
            raise StoreError(f"blob {ref.name} does not match its digest {ref.digest}")
        return data
