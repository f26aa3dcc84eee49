"""Ordered reads of a JetStream stream: one ordered consumer, catch-up then (optionally) live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

__all__ = ["SETUP_DEADLINE", "ordered_messages"]

SETUP_DEADLINE = 30.0
"""Seconds a read waits for its consumer to be created (a cluster electing a leader)."""
_PASSING = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    NoStreamResponseError,
    ServiceUnavailableError,
    APIError,  # only a 503 (no leader yet) is waited out
)


async def ordered_messages(
    js: JetStreamContext,
    stream: str,
    filters: list[str],
    *,
    from_seq: int | None = None,
    since: datetime | None = None,
    follow: bool = False,
) -> AsyncGenerator[Msg, None]:
    """Yield a stream's messages matching ``filters`` in sequence order.

    Without ``follow``, stops at the last message that matched when reading began
    (an empty match returns at once); with it, continues live on the same ordered
    consumer, so there is no gap and no duplicate at the switch.

    Args:
        js: JetStream context.
        stream: Stream name.
        filters: Subject filters (several become the consumer's ``filter_subjects``).
        from_seq: First sequence to deliver.
        since: First storage time to deliver (ignored when ``from_seq`` is given).
        follow: Keep delivering new messages.
    """
    config = ConsumerConfig(filter_subjects=filters if len(filters) > 1 else None)
    policy = DeliverPolicy.ALL
    if from_seq is not None and from_seq > 1:
        policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = from_seq
    elif since is not None:
        policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = since.astimezone(UTC)
    loop = asyncio.get_running_loop()
    end = loop.time() + SETUP_DEADLINE
    attempt = 0
    while True:
        # Nothing is yielded yet, so a passing outage (a cluster that has just got its
        # quorum back answers the consumer's creation late) is waited out, not raised.
        sub: JetStreamContext.PushSubscription | None = None
        try:
            sub = await js.subscribe(
                filters[0],
                stream=stream,
                ordered_consumer=True,
                config=config,
                deliver_policy=policy,
                idle_heartbeat=2.0,
                pending_msgs_limit=65536,
                pending_bytes_limit=256 * 1024 * 1024,
            )
            info = None if follow else await sub.consumer_info()
            break
        except _PASSING as exc:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            if loop.time() >= end or (isinstance(exc, APIError) and exc.code != 503):
                raise
        await asyncio.sleep(min(0.1 * 2.0**attempt, 2.0))  # backoff, bounded by the deadline
        attempt += 1
    try:
        if info is not None:
            delivered = info.delivered.consumer_seq if info.delivered else 0
            if not info.num_pending and not delivered:
                return
        async for msg in sub.messages:
            yield msg
            if not follow and msg.metadata.num_pending == 0:
                return
    finally:
        with contextlib.suppress(Exception):  # the connection may already be closed
            await sub.unsubscribe()
