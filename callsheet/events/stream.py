"""The JetStream stream behind the log: its configuration, created or verified."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from callsheet.events.errors import StreamConfigError
from callsheet.events.subjects import DEFAULT_ROOT, stream_filter

__all__ = [
    "DEFAULT_STREAM",
    "ENV_REPLICAS",
    "StoreConfig",
    "ensure_stream",
    "replicas_from_env",
    "stream_config",
]

DEFAULT_STREAM = "CALLSHEET_EVENTS"
ENV_REPLICAS = "CALLSHEET_REPLICAS"
"""Environment variable with the replica count of every stream and bucket (1 to 5)."""
ERR_SUBJECTS_OVERLAP = 10065


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where and how the log is kept.

    Attributes:
        stream: JetStream stream name.
        root: First subject token of every event subject (see ``subjects``).
        blob_bucket: Object store bucket for events over the message size limit.
        duplicate_window: Seconds during which a repeated event id is dropped by the
            server; a retried append within it never duplicates.
        replicas: Stream replicas (1 on a single server, 3 on a cluster).
        max_batch: Most events accepted in one atomic batch (the server's
            ``max_batch_size``, 1000 by default); larger batches are refused.
    """

    stream: str = DEFAULT_STREAM
    root: str = DEFAULT_ROOT
    blob_bucket: str = "CALLSHEET_BLOBS"
    duplicate_window: float = 3600.0
    replicas: int = 1
    max_batch: int = 1000


def replicas_from_env() -> int:
    """``$CALLSHEET_REPLICAS`` (1 when unset): replicas of the log and of every bucket.

    Raises:
        StreamConfigError: It is not a whole number from 1 to 5 (JetStream's range).
    """
    value = os.environ.get(ENV_REPLICAS, "").strip() or "1"
    if not value.isdigit() or not 1 <= int(value) <= 5:
        raise StreamConfigError(f"{ENV_REPLICAS}={value!r} is not a replica count from 1 to 5")
    return int(value)


def stream_config(config: StoreConfig) -> StreamConfig:
    """Return the stream configuration the log needs.

    File storage; nothing expires and no limit drops history (``discard=new``
    would refuse appends instead, loudly); messages cannot be deleted and the
    stream cannot be purged; atomic batches and direct gets are allowed.
    """
    return StreamConfig(
        name=config.stream,
        description="callsheet event log (append-only)",
        subjects=[stream_filter(config.root)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msgs_per_subject=-1,
        duplicate_window=config.duplicate_window,
        num_replicas=config.replicas,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        allow_atomic=True,
    )


def _problems(actual: StreamConfig, config: StoreConfig) -> list[str]:
    problems = []
    if stream_filter(config.root) not in (actual.subjects or []):
        problems.append(f"subjects {actual.subjects} do not include {stream_filter(config.root)}")
    if actual.storage != StorageType.FILE:
        problems.append("storage is not file")
    if not actual.deny_delete:
        problems.append("deny_delete is off")
    if not actual.deny_purge:
        problems.append("deny_purge is off")
    if actual.retention not in (None, RetentionPolicy.LIMITS):
        problems.append(f"retention is {actual.retention}, not limits")
    drops = any(
        limit not in (None, -1, 0)
        for limit in (
            actual.max_msgs,
            actual.max_bytes,
            actual.max_age,
            actual.max_msgs_per_subject,
        )
    )
    if drops and actual.discard != DiscardPolicy.NEW:
        problems.append("a limit is set with discard=old, which drops history silently")
    return problems


async def ensure_stream(js: JetStreamContext, config: StoreConfig) -> StreamConfig:
    """Create the stream, or verify an existing one keeps the log's guarantees.

    Settings that can be changed safely (atomic batches, direct get, the dedup
    window) are updated in place; anything else is reported, never changed.

    Raises:
        StreamConfigError: The stream exists with settings that break the guarantees,
            or it cannot be made because another stream holds its subjects.
    """
    wanted = stream_config(config)
    try:
        info = await js.stream_info(config.stream)
    except NotFoundError:
        try:
            info = await js.add_stream(wanted)
        except BadRequestError as exc:
            if exc.err_code != ERR_SUBJECTS_OVERLAP:
                raise
            raise StreamConfigError(
                f"cannot create stream {config.stream}: its subjects {wanted.subjects} overlap "
                "those of another stream (is the log kept under another stream name?)"
            ) from exc
        return info.config
    actual = info.config
    problems = _problems(actual, config)
    if problems:
        raise StreamConfigError(
            f"stream {config.stream} cannot hold the log: " + "; ".join(problems)
        )
    if not actual.allow_atomic or not actual.allow_direct:
        actual.allow_atomic = True
        actual.allow_direct = True
        info = await js.update_stream(actual)
    return info.config
