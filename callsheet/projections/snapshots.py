"""Snapshots of projection states, in a JetStream Key-Value bucket.

A snapshot is a projection's state as of a stream sequence, with the projection's
``version`` at the time. A runner starts from the newest snapshot and reads only the
events after it; a snapshot of another version is stale (the fold changed), so it is
ignored and the state is rebuilt from the start of the log.

States are encoded with msgpack: several states are maps keyed by tuples
(``(goal_id, task_id)``), which JSON cannot key by, and msgpack keeps floats such as
``inf`` exactly. msgpack cannot hold integers beyond 64 bits, which the catalog allows
(an absurd ``max_attempts``); such a state is encoded as JSON instead, which holds
them. A state neither can encode cannot be snapshotted: ``save`` raises
``SnapshotError`` so that the caller goes on without.

A snapshot larger than the server's message limit (the board of a busy log) goes
to the Object Store bucket ``{stream}_SNAPSHOT_BLOBS`` under the same key (each
save replaces it); the Key-Value entry then holds a pointer with its size and
digest, checked on load.

The bucket is ``{stream}_SNAPSHOTS`` and keeps one revision per key; the key is the
projection's name, plus a scope (a goal id) when the projection runs over one goal.
"""

from __future__ import annotations

import contextlib
import logging
import time
import typing
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType
from nats.js.errors import (
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    NotFoundError,
    ObjectNotFoundError,
)
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from pyrsistent import PMap

from callsheet.events.blobs import digest_of
from callsheet.projections import Projection
from callsheet.projections._common import cycles_paused
from callsheet.projections._ordered import OrderedPMap

__all__ = [
    "Codec",
    "LazyBucket",
    "Snapshot",
    "SnapshotError",
    "SnapshotPacer",
    "SnapshotStore",
    "decode_state",
    "encode_state",
    "entry_key",
    "find_bucket",
    "open_bucket",
    "state_type",
]

S = TypeVar("S")
Codec = Literal["msgpack", "json"]

_log = logging.getLogger(__name__)
_COMPRESS_OVER: Final = 64 * 1024
"""Encoded states larger than this are compressed (zlib, fastest level)."""
_KEY_SAFE: Final = frozenset("-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class SnapshotError(Exception):
    """A state could not be snapshotted (too large, or a value no codec can hold)."""


class Snapshot(msgspec.Struct, frozen=True):
    """One stored snapshot.

    Attributes:
        name: The projection's name.
        version: The projection's version when the snapshot was taken.
        seq: The last stream sequence folded into the state.
        taken_at: When it was taken.
        state: The encoded state.
        scope: The goal id the projection was restricted to, if any.
        codec: How ``state`` is encoded: ``msgpack``, or ``json`` for what msgpack cannot hold.
    """

    name: str
    version: int
    seq: int
    taken_at: datetime
    state: bytes
    scope: str | None = None
    codec: Codec = "msgpack"
    blob: str | None = None
    """Object name in the snapshot blob bucket, when the snapshot is stored there."""
    blob_digest: str | None = None
    """``sha256:<hex>`` of the stored object (the encoded ``Snapshot``)."""
    compression: Literal["none", "zlib"] = "none"
    """How ``state`` is compressed (states of busy logs repeat their keys a lot)."""


_envelope_decoder = msgspec.msgpack.Decoder(Snapshot)


def _escape(text: str) -> str:
    # KV keys allow [-/_=.a-zA-Z0-9]: other characters (and '=' itself) become '=XX'
    # per UTF-8 byte, so that any name or goal id maps to one key and back.
    return "".join(
        ch if ch in _KEY_SAFE else "".join(f"={b:02X}" for b in ch.encode()) for ch in text
    )


def entry_key(name: str, scope: str | None = None) -> str:
    """Return the KV key of a projection (and optional scope): ``name`` or ``name.scope``.

    Characters a key cannot hold are escaped as ``=XX``, so distinct inputs give
    distinct keys (``.`` separates name and scope and is escaped inside either).
    """
    if not name:
        raise ValueError("a projection name cannot be empty")
    key = _escape(name)
    return key if scope is None else f"{key}.{_escape(scope) or '='}"


async def find_bucket(nc: Client, bucket: str) -> KeyValue | None:
    """Return a KV bucket, or ``None`` if it does not exist (reading never creates one)."""
    try:
        return await nc.jetstream().key_value(bucket)
    except BucketNotFoundError:
        return None


async def open_bucket(nc: Client, bucket: str, *, replicas: int = 1) -> KeyValue:
    """Return a KV bucket keeping one revision per key on file storage, creating it if absent."""
    kv = await find_bucket(nc, bucket)
    if kv is not None:
        return kv
    config = KeyValueConfig(bucket=bucket, history=1, storage=StorageType.FILE, replicas=replicas)
    return await nc.jetstream().create_key_value(config)


class LazyBucket:
    """A KV bucket opened on first use: created by the first write, never by a read."""

    def __init__(self, nc: Client, name: str, *, replicas: int = 1) -> None:
        """Name the bucket; nothing is sent to the server yet."""
        self._nc = nc
        self.name = name
        self._replicas = replicas
        self._kv: KeyValue | None = None

    async def for_write(self) -> KeyValue:
        """The bucket, created if absent."""
        if self._kv is None:
            self._kv = await open_bucket(self._nc, self.name, replicas=self._replicas)
        return self._kv

    async def for_read(self) -> KeyValue | None:
        """The bucket, or ``None`` if nobody has written to it yet."""
        if self._kv is None:
            self._kv = await find_bucket(self._nc, self.name)
        return self._kv

    async def drop(self) -> None:
        """Delete the bucket and everything in it."""
        self._kv = None
        with contextlib.suppress(NotFoundError):
            await self._nc.jetstream().delete_key_value(self.name)


def state_type(projection: Projection[S]) -> Any:
    """Return the type to decode a projection's state as.

    The return annotation of ``initial`` is preferred: it names generic parameters
    (``GoalMap[Board]``) that the runtime type of the initial state has lost.
    """
    try:
        hint = typing.get_type_hints(projection.initial).get("return")
    except (NameError, TypeError):  # unresolvable or absent annotations: use the value
        hint = None
    return hint if hint is not None else type(projection.initial())


def _plain(value: object) -> object:
    """Persistent maps are written as plain maps, in order (and read back as dicts)."""
    if isinstance(value, PMap | OrderedPMap):
        return dict(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def encode_state(state: object) -> tuple[Codec, bytes]:
    """Encode a projection state; return the codec used and the bytes.

    Raises:
        SnapshotError: The state holds values neither msgpack nor JSON can encode.
    """
    try:
        return "msgpack", msgspec.msgpack.encode(state, enc_hook=_plain)
    except OverflowError:
        pass  # an integer over 64 bits: JSON holds those (tuple keys aside)
    except (TypeError, msgspec.EncodeError) as exc:
        raise SnapshotError(f"state cannot be encoded: {exc}") from exc
    try:
        return "json", msgspec.json.encode(state, enc_hook=_plain)
    except (TypeError, msgspec.EncodeError) as exc:
        raise SnapshotError(f"state cannot be encoded: {exc}") from exc


def decode_state(data: bytes, tp: Any, codec: Codec = "msgpack") -> Any:
    """Decode a state encoded by ``encode_state`` as type ``tp``.

    Raises:
        msgspec.DecodeError: The data is not a ``tp``.
    """
    if codec == "json":
        return msgspec.json.decode(data, type=tp)
    return msgspec.msgpack.decode(data, type=tp)


class SnapshotPacer:
    """When to take the next snapshot: every ``every`` events, within a share of the time.

    After a snapshot that took ``t`` seconds, the next waits at least
    ``t / share - t`` seconds, so saving snapshots takes at most ``share`` of the
    time: a large state is saved a few times during a long catch-up, not once
    every ``every`` events.
    """

    def __init__(
        self, every: int, share: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Pace snapshots.

        Raises:
            ValueError: ``every`` below 1, or ``share`` not in (0, 1].
        """
        if every < 1:
            raise ValueError("snapshot_every must be at least 1")
        if not 0 < share <= 1:
            raise ValueError("snapshot_share must be in (0, 1]")
        self.every = every
        self.share = share
        self.clock = clock
        self.since = 0
        self._next_at = float("-inf")

    def count(self, events: int = 1) -> None:
        """Count events folded since the last snapshot."""
        self.since += events

    @property
    def due(self) -> bool:
        """Whether a snapshot should be taken now."""
        return self.since >= self.every and self.clock() >= self._next_at

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """Time a snapshot being saved (whether it succeeds or not) and pace the next."""
        began = self.clock()
        try:
            yield
        finally:
            self.since = 0
            took = self.clock() - began
            self._next_at = self.clock() + took * (1 / self.share - 1)


class SnapshotStore:
    """Projection snapshots in the KV bucket ``{stream}_SNAPSHOTS``."""

    def __init__(
        self, nc: Client, stream: str, *, bucket: str | None = None, replicas: int = 1
    ) -> None:
        """Use the snapshot bucket of ``stream``; it is created on first use.

        Args:
            nc: A connected client.
            stream: The event stream's name; the bucket is named after it.
            bucket: Another bucket name, instead of ``{stream}_SNAPSHOTS``.
            replicas: Replicas of the bucket, if it is created.
        """
        self._nc = nc
        self.bucket = bucket or f"{stream}_SNAPSHOTS"
        self._kv = LazyBucket(nc, self.bucket, replicas=replicas)
        self.blob_bucket = f"{self.bucket.removesuffix('_SNAPSHOTS')}_SNAPSHOT_BLOBS"
        self._replicas = replicas
        self._objects: ObjectStore | None = None
        self.stale: list[Snapshot] = []
        """Snapshots ``load`` ignored because their version differs from the projection's."""

    async def save(
        self, name: str, version: int, seq: int, state: object, *, scope: str | None = None
    ) -> Snapshot:
        """Store ``state`` as the snapshot of projection ``name`` at ``seq``, replacing the last.

        Raises:
            SnapshotError: The state cannot be encoded, or is larger than the server accepts.
        """
        codec, encoded = encode_state(state)
        compression: Literal["none", "zlib"] = "none"
        if len(encoded) > _COMPRESS_OVER:
            encoded, compression = zlib.compress(encoded, 1), "zlib"
        snapshot = Snapshot(
            name=name,
            version=version,
            seq=seq,
            taken_at=datetime.now(UTC),
            state=encoded,
            scope=scope,
            codec=codec,
            compression=compression,
        )
        data = msgspec.msgpack.encode(snapshot)
        key = entry_key(name, scope)
        if len(data) > self._nc.max_payload - 1024:
            objects = await self._object_store(create=True)
            assert objects is not None
            await objects.put(key, data)
            data = msgspec.msgpack.encode(
                msgspec.structs.replace(snapshot, state=b"", blob=key, blob_digest=digest_of(data))
            )
        kv = await self._kv.for_write()
        await kv.put(key, data)
        return snapshot

    async def _object_store(self, *, create: bool) -> ObjectStore | None:
        if self._objects is None:
            js = self._nc.jetstream()
            try:
                self._objects = await js.object_store(self.blob_bucket)
            except (BucketNotFoundError, NotFoundError):
                if not create:
                    return None
                self._objects = await js.create_object_store(
                    self.blob_bucket,
                    config=ObjectStoreConfig(
                        description="callsheet: projection snapshots over the message limit",
                        storage=StorageType.FILE,
                        replicas=self._replicas,
                    ),
                )
        return self._objects

    async def get(self, name: str, *, scope: str | None = None) -> Snapshot | None:
        """Return the stored snapshot of projection ``name``, whatever its version."""
        kv = await self._kv.for_read()
        if kv is None:
            return None
        try:
            entry = await kv.get(entry_key(name, scope))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value:
            return None
        snapshot = _envelope_decoder.decode(entry.value)
        if snapshot.blob is None:
            return snapshot
        objects = await self._object_store(create=False)
        try:
            if objects is None:
                raise ObjectNotFoundError
            data = (await objects.get(snapshot.blob)).data or b""
        except (ObjectNotFoundError, NotFoundError):
            _log.warning("snapshot of %s points to a missing object: rebuilding", name)
            return None
        if digest_of(data) != snapshot.blob_digest:
            _log.warning("snapshot of %s does not match its digest: rebuilding", name)
            return None
        return _envelope_decoder.decode(data)

    async def load(
        self, projection: Projection[S], *, scope: str | None = None
    ) -> tuple[S, int] | None:
        """Return ``(state, seq)`` from the projection's snapshot, or ``None``.

        ``None`` when there is no snapshot, or when it is stale (its version is not the
        projection's): the stale one is logged and kept in ``stale``, and the caller
        rebuilds from the start. A snapshot that no longer decodes is treated as stale.
        """
        return await self.load_as(
            projection.name, projection.version, state_type(projection), scope=scope
        )

    async def load_as(
        self, name: str, version: int, tp: Any, *, scope: str | None = None
    ) -> tuple[Any, int] | None:
        """Return ``(state, seq)`` from the snapshot ``name``, decoded as ``tp``, or ``None``.

        As ``load``, for any state saved with ``save`` (an agent's, for one): ``None``
        when there is none, or it is of another ``version``, or it does not decode.
        """
        snapshot = await self.get(name, scope=scope)
        if snapshot is None:
            return None
        if snapshot.version != version:
            _log.warning(
                "snapshot of %s is version %d, the current one is %d: rebuilding",
                name,
                snapshot.version,
                version,
            )
            self.stale.append(snapshot)
            return None
        try:
            raw = snapshot.state
            if snapshot.compression == "zlib":
                raw = zlib.decompress(raw)
            with cycles_paused():  # a large state is many objects and no cycles
                state = decode_state(raw, tp, snapshot.codec)
        except (msgspec.DecodeError, zlib.error) as exc:
            _log.warning("snapshot of %s does not decode (%s): rebuilding", name, exc)
            self.stale.append(snapshot)
            return None
        return state, snapshot.seq

    async def delete(self, name: str, *, scope: str | None = None) -> None:
        """Remove the snapshot of projection ``name``, if any."""
        kv = await self._kv.for_read()
        if kv is not None:
            await kv.purge(entry_key(name, scope))

    async def drop_bucket(self) -> None:
        """Delete the whole bucket and every snapshot in it."""
        await self._kv.drop()
        with contextlib.suppress(BucketNotFoundError, NotFoundError):
            await self._nc.jetstream().delete_object_store(self.blob_bucket)
        self._objects = None
