"""The gatekeeper: untrusted ingress in, valid events to the log, the rest to dead letters.

Any service, in any language, publishes an event envelope (JSON) to
``{root}.in.<anything>``. The ingress is a work-queue stream, so a message
published while the gatekeeper is down waits for it. The gatekeeper validates
each message against the catalog; a valid event is appended to the log (dedup by
its id), anything else becomes a ``DeadLetter`` on ``{root}.dlq.<reason>`` with
the reason. A message is acked only once it is in the log or in the dead-letter
stream, so nothing is lost; a store outage makes it retry later.

For callers that want an answer, ``{root}.api.publish`` is a request-reply
endpoint doing the same synchronously: the reply is ``{"id", "seq", "duplicate"}``
or ``{"error", "field"}``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from callsheet.agents.retry import fetch_batch, is_transient
from callsheet.events.codec import decode
from callsheet.events.errors import DuplicateEventIdError, EventDecodeError, StoreError
from callsheet.events.store import Appended, EventStore
from callsheet.ingress.records import DeadLetter, Reason

__all__ = ["Gatekeeper", "GatekeeperStats", "dead_letter_stream", "ingress_stream"]

log = logging.getLogger(__name__)
_BODY_KEEP = 64 * 1024
_encoder = msgspec.json.Encoder()


def ingress_stream(root: str, replicas: int = 1) -> StreamConfig:
    """Configuration of the ingress: a durable work queue of untrusted messages."""
    return StreamConfig(
        num_replicas=replicas,
        name=f"{root.upper()}_INGRESS".replace("-", "_"),
        description="callsheet untrusted ingress, drained by the gatekeeper",
        subjects=[f"{root}.in.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
    )


def dead_letter_stream(root: str, replicas: int = 1) -> StreamConfig:
    """Configuration of the dead letters: append-only, like the log."""
    return StreamConfig(
        num_replicas=replicas,
        name=f"{root.upper()}_DEADLETTER".replace("-", "_"),
        description="callsheet messages refused by the gatekeeper, with the reason",
        subjects=[f"{root}.dlq.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        deny_delete=True,
        deny_purge=True,
    )


async def _ensure(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)


@dataclass
class GatekeeperStats:
    """Counts of what the gatekeeper did."""

    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0


class Gatekeeper:
    """Drains the ingress into the log; see the module docstring."""

    def __init__(self, nc: Client, store: EventStore, *, durable: str = "gatekeeper") -> None:
        """Wrap a connection and the store events are appended to."""
        self._nc = nc
        self._js = nc.jetstream()
        self._store = store
        self._root = store.config.root
        self._durable = durable
        self.stats = GatekeeperStats()
        self._stopping = asyncio.Event()

    @property
    def ingress_subject(self) -> str:
        """Subject prefix services publish envelopes to (append any tokens)."""
        return f"{self._root}.in"

    @property
    def api_subject(self) -> str:
        """Request-reply subject for a synchronous, validated publish."""
        return f"{self._root}.api.publish"

    async def ensure_streams(self) -> None:
        """Create the ingress and dead-letter streams if missing."""
        replicas = self._store.config.replicas  # as many as the log's
        await _ensure(self._js, ingress_stream(self._root, replicas))
        await _ensure(self._js, dead_letter_stream(self._root, replicas))

    async def admit(self, body: bytes) -> Appended:
        """Validate one envelope and append it to the log.

        Raises:
            EventDecodeError: Not a valid event.
            DuplicateEventIdError: Its id is stored with another body.
            StoreError: The log refused it or is unreachable.
        """
        event = decode(body, max_bytes=self._nc.max_payload)
        return await self._store.append(event)

    async def _dead_letter(self, msg: Msg, reason: Reason, error: str, field: str | None) -> None:
        meta = msg.metadata
        body = msg.data
        try:
            text: str | None = body[:_BODY_KEEP].decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text, b64 = None, base64.b64encode(body[:_BODY_KEEP]).decode()
        record = DeadLetter(
            reason=reason,
            error=error,
            field=field,
            received_subject=msg.subject,
            received_at=meta.timestamp,
            ingress_seq=meta.sequence.stream,
            body_text=text,
            body_base64=b64,
            body_size=len(body),
        )
        await self._js.publish(
            f"{self._root}.dlq.{reason}",
            _encoder.encode(record),
            headers={"Nats-Msg-Id": f"ingress-{meta.sequence.stream}"},
        )
        self.stats.dead_lettered += 1
        log.warning("dead-lettered ingress message %s: %s", meta.sequence.stream, error)

    async def handle(self, msg: Msg) -> None:
        """Process one ingress message; ack only once it has a home."""
        try:
            appended = await self.admit(msg.data)
        except EventDecodeError as exc:
            await self._dead_letter(msg, "invalid_event", str(exc), exc.field)
        except DuplicateEventIdError as exc:
            await self._dead_letter(msg, "duplicate_id", str(exc), "$.id")
        except StoreError as exc:
            # The log may be briefly unavailable: retry later, never drop.
            log.error("store refused ingress message, will retry: %s", exc)
            await msg.nak(delay=1.0)
            return
        else:
            if appended.duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.accepted += 1
        await msg.ack()

    async def _api(self, msg: Msg) -> None:
        answer: dict[str, Any]
        try:
            appended = await self.admit(msg.data)
            answer = {"id": appended.event_id, "seq": appended.seq, "duplicate": appended.duplicate}
        except EventDecodeError as exc:
            answer = {"error": str(exc), "field": exc.field}
        except StoreError as exc:
            answer = {"error": str(exc), "field": None}
        await msg.respond(_encoder.encode(answer))

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is called."""
        await self.ensure_streams()
        sub = await self._js.pull_subscribe(
            f"{self._root}.in.>",
            durable=self._durable,
            stream=ingress_stream(self._root).name,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=-1),
        )
        api = await self._nc.subscribe(self.api_subject, queue="gatekeeper", cb=self._api)
        if ready is not None:
            ready.set()
        failures = 0
        try:
            while not self._stopping.is_set():
                # A passing outage (no leader: ServiceUnavailableError) is waited out.
                msgs, failures = await fetch_batch(sub, 64, self._stopping, failures)
                for msg in msgs:
                    try:
                        await self.handle(msg)
                    except Exception as exc:
                        if not is_transient(exc):
                            raise
                        # Not acked: redelivered once the outage is over.
                        log.warning("ingress message left for later, the log is away: %s", exc)
        finally:
            await api.unsubscribe()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def stop(self) -> None:
        """Ask ``run`` to return after the current fetch."""
        self._stopping.set()
