"""The gatekeeper: untrusted ingress in, valid events to the log, the rest to dead letters.

Any service, in any language, publishes an event envelope (JSON) to
``{root}.in.<producer>.<anything>``, where ``<producer>`` is its id as a subject
token (``encode_token``). The broker's permissions let each producer's user
publish only under its own token, so the subject is the authenticated identity
(JetStream does not keep the publishing user): the body's ``producer`` must be the
same, and the producer's ``Policy`` decides which types and goals it may publish.

The ingress is a work-queue stream, so a message published while the gatekeeper is
down waits for it. A valid, allowed event is appended to the log (dedup by its id);
anything else becomes a ``DeadLetter`` on ``{root}.dlq.<reason>`` with the reason.
A message is acked only once it is in the log or in the dead-letter stream, so
nothing is lost; a store outage makes it retry later, with a backoff. No input can
stop the gatekeeper: an unexpected failure is dead-lettered as ``internal_error``,
and a message delivered ``max_deliveries`` times (one that killed gatekeepers, or a
store refusing it all along) is dead-lettered rather than tried again.

For callers that want an answer, ``{root}.api.publish.<producer>`` is a
request-reply endpoint doing the same synchronously: the reply is always
``{"id", "seq", "duplicate"}`` or ``{"error", "field"}``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors
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
from nats.js.errors import APIError, NotFoundError

from callsheet.agents.retry import fetch_batch, is_transient
from callsheet.events.codec import decode
from callsheet.events.errors import (
    DuplicateEventIdError,
    EventDecodeError,
    StoreError,
    SubjectError,
)
from callsheet.events.store import Appended, EventStore
from callsheet.events.subjects import decode_token
from callsheet.ingress.policy import Policy, Refusal
from callsheet.ingress.records import DeadLetter, Reason

__all__ = [
    "Forbidden",
    "Gatekeeper",
    "GatekeeperStats",
    "dead_letter_stream",
    "ensure_ingress",
    "ingress_stream",
]

log = logging.getLogger(__name__)
_BODY_KEEP = 64 * 1024
_KEPT_MAX = 128 * 1024
"""Most a dead letter's copy of the body may take once JSON-escaped (NULs take 6 bytes)."""
_ERROR_MAX = 2000
"""Errors can quote the input (an unknown type, say): kept short so a record or an
answer always fits a message."""
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


async def ensure_ingress(js: JetStreamContext, root: str, replicas: int = 1) -> None:
    """Create the ingress stream if it is missing (``EventStore.open`` does, for every log).

    A connection not allowed to look at streams (a role's user) leaves it to one
    that is: the ingress is then made by the operator's commands or the gatekeeper.
    """
    try:
        await _ensure(js, ingress_stream(root, replicas))
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError, APIError) as exc:
        log.debug("ingress stream for %s not ensured: %r", root, exc)


async def _ensure(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)


class Forbidden(Exception):
    """The producer may not publish this event (its policy, or another producer's name)."""

    def __init__(self, refusal: Refusal) -> None:
        """Wrap the policy's refusal."""
        super().__init__(refusal.problem)
        self.refusal = refusal


@dataclass
class GatekeeperStats:
    """Counts of what the gatekeeper did."""

    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    """Every message dead-lettered, whatever the reason (the next counts included)."""
    forbidden: int = 0
    """Refused by the producer's policy or for naming another producer."""
    errors: int = 0
    """Unexpected failures on one message (dead-lettered, or answered, and survived)."""
    retried: int = 0
    """Deliveries handed back for later (the log unavailable)."""
    answered: int = 0
    """Requests on the api subject answered."""


class Gatekeeper:
    """Drains the ingress into the log; see the module docstring."""

    def __init__(
        self,
        nc: Client,
        store: EventStore,
        *,
        durable: str = "gatekeeper",
        policy: Policy | None = None,
        max_deliveries: int = 20,
    ) -> None:
        """Wrap a connection and the store events are appended to.

        Args:
            nc: The connection (a trusted user: it appends to the log).
            store: The log.
            durable: Name of the ingress consumer.
            policy: What each producer may publish; ``Policy()`` (an external
                service's rights) by default.
            max_deliveries: Deliveries of one message before it is dead-lettered
                instead of tried again (a poison message cannot loop).
        """
        self._nc = nc
        self._js = nc.jetstream()
        self._store = store
        self._root = store.config.root
        self._durable = durable
        self.policy = policy if policy is not None else Policy()
        self.max_deliveries = max(1, max_deliveries)
        self.stats = GatekeeperStats()
        self._stopping = asyncio.Event()

    @property
    def ingress_subject(self) -> str:
        """Subject prefix services publish envelopes to (append any tokens)."""
        return f"{self._root}.in"

    @property
    def api_subject(self) -> str:
        """Request-reply subject prefix for a synchronous publish (append ``.<producer>``)."""
        return f"{self._root}.api.publish"

    def producer_of(self, subject: str) -> str:
        """The producer an ingress or api subject speaks for (its token after the prefix).

        Raises:
            Forbidden: The subject names no producer.
        """
        for prefix in (f"{self.ingress_subject}.", f"{self.api_subject}."):
            if subject.startswith(prefix):
                token = subject[len(prefix) :].split(".", 1)[0]
                try:
                    return decode_token(token)
                except SubjectError:
                    break
        raise Forbidden(
            Refusal(
                f"subject {subject[:200]!r} names no producer: publish on "
                f"{self.ingress_subject}.<producer>.> or request {self.api_subject}.<producer>",
                "$.producer",
            )
        )

    async def ensure_streams(self) -> None:
        """Create the ingress and dead-letter streams if missing."""
        replicas = self._store.config.replicas  # as many as the log's
        await _ensure(self._js, ingress_stream(self._root, replicas))
        await _ensure(self._js, dead_letter_stream(self._root, replicas))

    async def admit(self, body: bytes, *, producer: str | None = None) -> Appended:
        """Validate one envelope and append it to the log.

        Args:
            body: The envelope as received.
            producer: The authenticated producer, checked against the policy; None
                when the caller has authenticated and checked it already (HTTP).

        Raises:
            EventDecodeError: Not a valid event.
            Forbidden: The policy refuses it.
            DuplicateEventIdError: Its id is stored with another body.
            StoreError: The log refused it or is unreachable.
        """
        event = decode(body, max_bytes=self._nc.max_payload)
        if producer is not None:
            refusal = self.policy.check(producer, event)
            if refusal is not None:
                raise Forbidden(refusal)
        return await self._store.append(event)

    async def _dead_letter(self, msg: Msg, reason: Reason, error: str, field: str | None) -> None:
        meta = msg.metadata
        body = msg.data
        text, b64 = _kept(body)
        record = DeadLetter(
            reason=reason,
            error=_short(error),
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
        log.warning("dead-lettered ingress message %s: %s", meta.sequence.stream, _short(error))

    async def handle(self, msg: Msg) -> None:
        """Process one ingress message; ack only once it has a home. Never raises."""
        try:
            await self._handle(msg)
        except Exception:  # one message must never stop the gatekeeper
            self.stats.errors += 1
            log.exception("could not settle ingress message on %s; will retry", msg.subject)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self._backoff(msg))

    def _backoff(self, msg: Msg) -> float:
        try:
            deliveries = msg.metadata.num_delivered or 1
        except Exception:  # metadata of a message not from JetStream
            deliveries = 1
        return float(min(30.0, 0.5 * 2 ** min(deliveries - 1, 8)))

    async def _handle(self, msg: Msg) -> None:
        deliveries = msg.metadata.num_delivered or 1
        if deliveries > self.max_deliveries:
            # It was handed out this often and never settled: whatever it does to a
            # gatekeeper (or to the log), it is not tried again.
            await self._dead_letter(
                msg, "redelivered", f"delivered {deliveries} times without being settled", None
            )
            await msg.ack()
            return
        try:
            appended = await self.admit(msg.data, producer=self.producer_of(msg.subject))
        except EventDecodeError as exc:
            await self._dead_letter(msg, "invalid_event", str(exc), _short(exc.field))
        except Forbidden as exc:
            self.stats.forbidden += 1
            await self._dead_letter(msg, "forbidden", str(exc), exc.refusal.field)
        except DuplicateEventIdError as exc:
            await self._dead_letter(msg, "duplicate_id", str(exc), "$.id")
        except StoreError as exc:
            if deliveries >= self.max_deliveries:
                await self._dead_letter(msg, "refused_by_store", str(exc), None)
            else:
                # The log may be briefly unavailable: retry later, never drop.
                log.error("store refused ingress message, will retry: %s", exc)
                self.stats.retried += 1
                await msg.nak(delay=self._backoff(msg))
                return
        except Exception as exc:  # anything unexpected: kept, with the error
            self.stats.errors += 1
            log.exception("unexpected failure on ingress message %s", msg.subject)
            await self._dead_letter(msg, "internal_error", _one_line(exc), None)
        else:
            if appended.duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.accepted += 1
        await msg.ack()

    async def _answer(self, msg: Msg) -> dict[str, Any]:
        try:
            appended = await self.admit(msg.data, producer=self.producer_of(msg.subject))
        except EventDecodeError as exc:
            return {"error": _short(str(exc)), "field": _short(exc.field)}
        except Forbidden as exc:
            self.stats.forbidden += 1
            return {"error": _short(str(exc)), "field": exc.refusal.field}
        except DuplicateEventIdError as exc:
            return {"error": _short(str(exc)), "field": "$.id"}
        except StoreError as exc:
            return {"error": _short(str(exc)), "field": None}
        return {"id": appended.event_id, "seq": appended.seq, "duplicate": appended.duplicate}

    async def _api(self, msg: Msg) -> None:
        try:
            answer = await self._answer(msg)
        except Exception as exc:  # the caller gets an answer, whatever happens
            self.stats.errors += 1
            log.exception("unexpected failure on an api request")
            answer = {"error": f"internal error: {_one_line(exc)}", "field": None}
        try:
            await msg.respond(_encoder.encode(answer))
            self.stats.answered += 1
        except Exception:  # no reply subject, or the connection is going
            log.warning("could not answer an api request on %s", msg.subject)

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
        api_producers = await self._nc.subscribe(
            f"{self.api_subject}.>", queue="gatekeeper", cb=self._api
        )
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
            await api_producers.unsubscribe()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def stop(self) -> None:
        """Ask ``run`` to return after the current fetch."""
        self._stopping.set()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__


def _short(text: str, limit: int = _ERROR_MAX) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _kept(body: bytes) -> tuple[str | None, str | None]:
    """The start of a body for its dead letter: as text when UTF-8, else base64."""
    keep = _BODY_KEEP
    while True:
        head = body[:keep]
        text: str | None
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Cut inside a character at the end: keep the whole characters before it.
            tail_cut = len(head) < len(body) and exc.start >= len(head) - 3
            text = head[: exc.start].decode("utf-8", "replace") if tail_cut else None
        if text is None:
            return None, base64.b64encode(head).decode()
        if len(_encoder.encode(text)) <= _KEPT_MAX:
            return text, None
        keep //= 2
