"""The JetStream consumers behind agents: one per observing agent, one work queue per role."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from callsheet.events.subjects import role_work_filter

__all__ = [
    "QueueDepth",
    "consumer_name",
    "ensure_observer",
    "ensure_work_queue",
    "queue_depth",
    "work_consumer_name",
]

FirstPosition = Callable[[], Awaitable[int]]
"""Gives the position of an agent that has none yet (see ``callsheet.agents.start``)."""

OBSERVER_ACK_WAIT = 600.0
"""Seconds an observing agent may take over the events of one fetch before redelivery."""

_SAFE_RE = re.compile(r"^[A-Za-z0-9_-]{1,48}$")


def consumer_name(prefix: str, name: str) -> str:
    """A consumer name for ``name``: itself when safe, else a digest of it."""
    if _SAFE_RE.match(name):
        return f"{prefix}-{name}"
    return f"{prefix}-x{hashlib.sha256(name.encode()).hexdigest()[:24]}"


def work_consumer_name(role: str) -> str:
    """The durable consumer of a role's work queue."""
    return consumer_name("work", role)


async def ensure_work_queue(
    js: JetStreamContext, stream: str, root: str, role: str, *, lease_seconds: float
) -> str:
    """Create (or update) the role's work queue: a durable pull consumer shared by its workers.

    The ack wait is the lease: a delivery not acked, and not extended by a
    heartbeat (``in_progress``), within it is redelivered to another worker.
    Deliveries are not capped by the server: the worker that receives one past
    the task's ``max_attempts`` records the failure (so the limit is per task).
    """
    name = work_consumer_name(role)
    config = ConsumerConfig(
        durable_name=name,
        description=f"callsheet work queue of role {role}",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=lease_seconds,
        max_deliver=-1,
        filter_subject=role_work_filter(role, root=root),
        max_ack_pending=10_000,
        max_waiting=512,
    )
    await js.add_consumer(stream, config)
    return name


async def ensure_observer(
    js: JetStreamContext,
    stream: str,
    name: str,
    filters: list[str],
    first: FirstPosition | None = None,
) -> tuple[str, int]:
    """(Re)create an observing agent's consumer at its position; return it and the position.

    The position is the ack floor of the previous consumer of that name: every
    event up to it was handled. The consumer is made again from the next event,
    so events a crashed instance held are delivered at once instead of after
    the ack wait (one instance of an observing agent runs at a time). With no
    previous consumer (the agent's first start), the position is what ``first``
    returns (its start policy), or 0.
    """
    consumer = consumer_name("agent", name)
    floor = 0
    try:
        info = await js.consumer_info(stream, consumer)
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        await js.delete_consumer(stream, consumer)
    except NotFoundError:
        if first is not None:
            floor = await first()
    config = ConsumerConfig(
        durable_name=consumer,
        description=f"callsheet agent {name}",
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if floor else DeliverPolicy.ALL,
        opt_start_seq=floor + 1 if floor else None,
        # One cumulative ack per fetch (the loop handles in order): no round trip per event.
        ack_policy=AckPolicy.ALL,
        # One instance handles the events in order; a restart re-makes the consumer at its
        # ack floor, so redelivery is never needed for a crash: a long wait only keeps a slow
        # handler (a long model call) from having the events behind it delivered twice.
        ack_wait=OBSERVER_ACK_WAIT,
        max_deliver=-1,
        filter_subjects=filters,
        max_ack_pending=10_000,
    )
    await js.add_consumer(stream, config)
    return consumer, floor


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """How much work waits in a role's queue.

    Attributes:
        role: The role.
        waiting: Assignments not yet delivered to any worker.
        in_flight: Delivered, not yet acked (being worked on, or lease running out).
        redelivered: Deliveries made again after a lease ran out.
        workers_waiting: Pull requests of idle workers.
    """

    role: str
    waiting: int
    in_flight: int
    redelivered: int
    workers_waiting: int


async def queue_depth(js: JetStreamContext, stream: str, role: str) -> QueueDepth | None:
    """The depth of a role's work queue, or None if no worker of it ever ran."""
    try:
        info: ConsumerInfo = await js.consumer_info(stream, work_consumer_name(role))
    except NotFoundError:
        return None
    return QueueDepth(
        role=role,
        waiting=info.num_pending or 0,
        in_flight=info.num_ack_pending or 0,
        redelivered=info.num_redelivered or 0,
        workers_waiting=info.num_waiting or 0,
    )
