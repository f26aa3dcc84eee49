"""Leadership of an observing agent: one active instance, others standing by to take over.

An observing agent (a supervisor, a controller) handles the log in order through
one durable consumer, so only one instance of it may run at a time. To have a
standby, run several instances with a leader lease (``AgentRuntime(...,
leader_ttl=...)``): the first takes the lease, the others wait.

The lease is an entry of the Key-Value bucket ``{stream}_LEADERS``, whose
entries expire ``ttl`` seconds after they were last written. The leader writes
it again every ``ttl / 4`` with the revision it last wrote (compare and set), and
handles an event only while its lease is surely still its own: less than
``ttl * 0.75`` seconds after the write it last saw succeed (the time taken
*before* that write was sent, on a monotonic clock). A leader that dies stops
writing; its entry expires and a standby creates it again, which only succeeds
when there is none. A leader that was paused past its lease finds the entry
taken (or its write refused) and stops before handling anything else. A leader
that stops cleanly deletes the entry, so that a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from callsheet.agents.retry import is_transient

__all__ = ["LeaderLease", "LeadershipLost"]

log = logging.getLogger("callsheet.agents")
_SAFE: Final = 0.75
"""Share of the lease the leader acts within after a successful write."""


class LeadershipLost(Exception):
    """The lease was taken by another instance, or could not be renewed in time."""


class LeaderLease:
    """One holder at a time of a named lease (see the module docstring)."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        name: str,
        holder: str,
        *,
        ttl: float = 6.0,
        replicas: int = 1,
        clock: Callable[[], float] = time.monotonic,
        bucket: str | None = None,
        purpose: str = "callsheet: which instance of each observing agent leads",
    ) -> None:
        """Name the lease; nothing is sent until ``acquire``.

        Args:
            nc: A connected client.
            stream: The log's stream (it names the bucket).
            name: What is led, e.g. the agent's durable name.
            holder: Who holds it, e.g. the agent instance's name (shown in the entry).
            ttl: Seconds an entry lives without being written again; the bucket's
                own ``ttl`` wins if the bucket exists already.
            replicas: Replicas of the bucket, if it is created.
            clock: Seconds, monotonic.
            bucket: The bucket holding the lease, if not ``{stream}_LEADERS``.
            purpose: The bucket's description, if it is created.

        Raises:
            ValueError: ``ttl`` is not positive.
        """
        if ttl <= 0:
            raise ValueError("a leader lease needs a positive ttl")
        self._nc = nc
        self.bucket = bucket or f"{stream}_LEADERS"
        self._purpose = purpose
        self.key = name
        self.holder = holder
        self.ttl = ttl
        self._replicas = replicas
        self._clock = clock
        self._kv: KeyValue | None = None
        self._revision: int | None = None
        self._valid_until = float("-inf")

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(self.bucket)
            except BucketNotFoundError:
                self._kv = await js.create_key_value(
                    KeyValueConfig(
                        bucket=self.bucket,
                        description=self._purpose,
                        history=1,
                        ttl=self.ttl,
                        storage=StorageType.FILE,
                        replicas=self._replicas,
                    )
                )
            status = await self._kv.status()
            if status.ttl:
                self.ttl = status.ttl  # the bucket's entries live this long, whatever we asked
        return self._kv

    async def key_value(self) -> KeyValue:
        """The bucket holding the lease (made if missing), to read who holds it."""
        return await self._bucket()

    async def take_once(self) -> None:
        """Take the lease if nobody holds it, without waiting.

        Raises:
            KeyWrongLastSequenceError: Another holder has it.
        """
        kv = await self._bucket()
        sent = self._clock()
        self._revision = await kv.create(self.key, self.holder.encode())
        self._valid_until = sent + self.ttl * _SAFE

    @property
    def held(self) -> bool:
        """Whether the lease is surely this holder's now (acting is safe)."""
        return self._revision is not None and self._clock() < self._valid_until

    async def acquire(
        self,
        stopping: asyncio.Event,
        standing_by: asyncio.Event | None = None,
        *,
        poll: float | None = None,
    ) -> bool:
        """Wait until the lease is ours; ``False`` if ``stopping`` was set first.

        Args:
            stopping: Set to give up waiting.
            standing_by: Set once the first attempt found the lease held by another.
            poll: Seconds between attempts (``ttl / 4`` by default).
        """
        while not stopping.is_set():
            sent = self._clock()
            try:
                # In the loop: a cluster that is still settling may not answer the
                # bucket's creation at first, and that is waited out like the rest.
                kv = await self._bucket()
                self._revision = await kv.create(self.key, self.holder.encode())
            except KeyWrongLastSequenceError:
                # Held by another instance: wait for its entry to expire.
                if standing_by is not None and not standing_by.is_set():
                    log.info("%s stands by for %s", self.holder, self.key)
                    standing_by.set()
            except Exception as exc:
                if not is_transient(exc):
                    raise
            else:
                self._valid_until = sent + self.ttl * _SAFE
                log.info("%s leads %s", self.holder, self.key)
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), poll or self.ttl / 4)
        return False

    async def keep(self, stopping: asyncio.Event) -> None:
        """Renew the lease every ``ttl / 4`` until ``stopping``.

        Raises:
            LeadershipLost: Another instance holds it, or renewing failed for too long.
        """
        kv = await self._bucket()
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.ttl / 4)
            if stopping.is_set():
                return
            sent = self._clock()
            try:
                self._revision = await kv.update(
                    self.key, self.holder.encode(), last=self._revision
                )
            except KeyWrongLastSequenceError as exc:
                self._revision = None
                raise LeadershipLost(f"{self.key} is led by another instance now") from exc
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if not self.held:
                    self._revision = None
                    raise LeadershipLost(f"{self.key}: the lease could not be renewed") from exc
                continue
            self._valid_until = sent + self.ttl * _SAFE

    async def release(self) -> None:
        """Give the lease up at once (on a clean stop), if it is still ours."""
        if self._revision is None or self._kv is None:
            return
        revision, self._revision = self._revision, None
        with contextlib.suppress(Exception):
            await self._kv.delete(self.key, last=revision)
