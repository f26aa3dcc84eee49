"""Ordered reads of a JetStream stream: one ordered consumer, catch-up then (optionally) live."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

__all__ = ["ordered_messages"]


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
    try:
        if not follow:
            info = await sub.consumer_info()
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
