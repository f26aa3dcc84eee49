"""Telling a passing outage (server restart, lost ack) from a real failure, and waiting it out."""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from callsheet.events.errors import AppendTimeout, StoreUnavailable

__all__ = ["fetch_batch", "fetch_work", "is_transient", "pause"]

_TRANSIENT: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,  # the stream has no leader (an election)
    AppendTimeout,
    StoreUnavailable,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Tell whether trying the same thing again later may succeed (the server is away)."""
    if isinstance(exc, _TRANSIENT):
        return True
    # JetStream answers 503 while it has no leader or is starting after a restart.
    return isinstance(exc, nats.js.errors.APIError) and exc.code == 503


async def pause(attempt: int, stopping: asyncio.Event) -> bool:
    """Wait before retry number ``attempt`` (capped exponential backoff).

    Returns:
        False if the runtime is stopping and the caller should give up.
    """
    delay = min(0.05 * 2**attempt, 2.0)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), delay)
    return not stopping.is_set()


async def fetch_batch(
    psub: JetStreamContext.PullSubscription,
    batch: int,
    stopping: asyncio.Event,
    failures: int,
    *,
    timeout: float = 0.5,
) -> tuple[list[Msg], int]:
    """Pull up to ``batch`` messages (waiting up to ``timeout`` seconds for the first).

    Returns:
        The messages (none when nothing came), and the count of consecutive
        passing outages so far (0 after a pull that reached the server). An
        outage is waited out here, with backoff.

    Raises:
        Exception: Anything that is not a passing outage.
    """
    try:
        return await psub.fetch(batch, timeout=timeout), 0
    except nats.errors.TimeoutError:
        return [], 0
    except Exception as exc:
        if not is_transient(exc):
            raise
        await pause(failures, stopping)
        return [], failures + 1


async def fetch_work(
    psub: JetStreamContext.PullSubscription, batch: int, stopping: asyncio.Event, failures: int
) -> tuple[list[Msg], int]:
    """Like ``fetch_batch``, with a single pull request waiting on the server while idle.

    nats-py's fetch of more than one message leaves two requests waiting (a no-wait
    probe that lingers, then the long one), so each idle worker counted twice in its
    queue's waiting pulls (``callsheet queues``). The first message is awaited alone;
    more, when the queue holds more, follow at once.
    """
    msgs, failures = await fetch_batch(psub, 1, stopping, failures)
    pending = msgs[0].metadata.num_pending if msgs else 0
    if batch > 1 and pending:
        more, failures = await fetch_batch(
            psub, min(batch - 1, pending), stopping, failures, timeout=0.1
        )
        msgs += more
    return msgs, failures
