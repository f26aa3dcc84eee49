"""JetStream atomic batch publish (server 2.12+), and the headers and error codes around it.

A batch is published as plain messages carrying ``Nats-Batch-Id`` and
``Nats-Batch-Sequence``; only the last, with ``Nats-Batch-Commit: 1``, is a
request. The server stores all messages at consecutive sequences, or none, and
answers the commit with ``{"seq": <last>, "count": n}`` or an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec
from nats.aio.client import Client
from ulid import ULID

__all__ = [
    "ERR_BATCH_DUP_ID",
    "ERR_BATCH_TOO_LARGE",
    "ERR_WRONG_LAST_SEQ",
    "H_EXPECTED_SEQ",
    "H_EXPECTED_SUBJ",
    "AtomicBatchRefused",
    "publish_atomic",
]

H_EXPECTED_SEQ: Final = "Nats-Expected-Last-Subject-Sequence"
H_EXPECTED_SUBJ: Final = "Nats-Expected-Last-Subject-Sequence-Subject"
ERR_WRONG_LAST_SEQ: Final = 10071
"""An expected last subject sequence did not match ("wrong last sequence: N")."""
ERR_BATCH_TOO_LARGE: Final = 10199
"""More messages than the server's ``max_batch_size`` (1000 by default)."""
ERR_BATCH_DUP_ID: Final = 10201
"""A ``Nats-Msg-Id`` of the batch is already stored (e.g. a retry after a lost ack)."""

_H_BATCH_ID: Final = "Nats-Batch-Id"
_H_BATCH_SEQ: Final = "Nats-Batch-Sequence"
_H_BATCH_COMMIT: Final = "Nats-Batch-Commit"


class AtomicBatchRefused(Exception):
    """The server refused a whole batch; nothing of it was stored.

    Attributes:
        err_code: JetStream error code (see the ``ERR_*`` constants), None if not given.
        description: The server's description.
    """

    def __init__(self, err_code: int | None, description: str) -> None:
        self.err_code = err_code
        self.description = description
        super().__init__(description)


async def publish_atomic(
    nc: Client, messages: Sequence[tuple[str, bytes, dict[str, str]]], *, timeout: float
) -> list[int]:
    """Publish ``(subject, body, headers)`` messages as one atomic batch.

    Returns:
        The stream sequence of each message, in order.

    Raises:
        AtomicBatchRefused: The server refused the batch.
        nats.errors.TimeoutError: No answer to the commit: the batch may or may not be stored.
        nats.errors.NoRespondersError: No stream listens on the subject.
    """
    if not messages:
        return []
    batch_id = str(ULID())
    last = len(messages) - 1
    for index, (subject, body, headers) in enumerate(messages):
        stamped = {**headers, _H_BATCH_ID: batch_id, _H_BATCH_SEQ: str(index + 1)}
        if index < last:
            # No reply subject: the server would answer each with an empty ack.
            await nc.publish(subject, body, headers=stamped)
        else:
            stamped[_H_BATCH_COMMIT] = "1"
            reply = await nc.request(subject, body, timeout=timeout, headers=stamped)
    answer: dict[str, Any] = msgspec.json.decode(reply.data) if reply.data else {}
    error = answer.get("error")
    if error is not None:
        raise AtomicBatchRefused(error.get("err_code"), str(error.get("description", error)))
    end = int(answer["seq"])
    count = int(answer.get("count", len(messages)))
    if count != len(messages):
        raise AtomicBatchRefused(None, f"server stored {count} of {len(messages)} events")
    return list(range(end - count + 1, end + 1))
