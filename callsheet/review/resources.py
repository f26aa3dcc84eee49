"""Exclusive resources of a project (its test suite), held through a lease in a KV bucket.

Two tasks that run a project's test suite at once (two reviews of one tree, a
verification beside an analysis) would step on each other's files, ports and
databases, and their timings would mean nothing. ``exclusive`` holds the
resource's lease (``agents.leader.LeaderLease`` in the log's ``_LEASES`` bucket,
renewed while held) for a block; a task that finds it held says so (a
``conflict.detected`` of kind ``resource`` and a ``task.blocked`` that names the
holder, so the board shows who waits for what), waits its turn, and goes on.

Taking and waiting are recorded calls: a re-drive gets the same answers (and the
same events) without touching the bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from callsheet.agents.context import WorkContext
from callsheet.agents.leader import LeaderLease
from callsheet.agents.tools import Invocation, ToolRun, call_recorded, call_tool
from callsheet.events.catalog import (
    ConflictDetected,
    ConflictDetectedData,
    TaskBlocked,
    TaskBlockedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.store import EventStore

__all__ = ["LEASE_TTL", "WAIT_POLL", "call_holding", "exclusive", "resource_key", "resource_lease"]

LEASE_TTL = 30.0
"""Seconds a holder's lease lives without being renewed (a dead holder frees it after this)."""
WAIT_POLL = 0.5
"""Seconds between a waiting task's attempts to take the lease."""


def resource_key(kind: str, root: str) -> str:
    """The lease's key: the kind of resource and the project it belongs to."""
    return f"{kind}.{hashlib.sha256(root.encode()).hexdigest()[:16]}"


def resource_lease(store: EventStore, resource: str, root: str, holder: str) -> LeaderLease:
    """The lease of a project's resource in the log's ``_LEASES`` bucket (nothing sent yet)."""
    config = store.config
    return LeaderLease(
        store.nc,
        config.stream,
        name=resource_key(resource, root),
        holder=holder,
        ttl=LEASE_TTL,
        replicas=config.replicas,
        bucket=f"{config.stream}_LEASES",
        purpose="callsheet: exclusive resources of reviewed projects (their test suites)",
    )


async def call_holding(
    ctx: WorkContext, resource: str | None, invocation: Invocation
) -> tuple[ToolRun, str]:
    """``call_tool``, holding ``resource`` of the invocation's project if it names one."""
    if resource is None:
        return await call_tool(ctx, invocation)
    async with exclusive(ctx, resource, invocation.copy_of or invocation.cwd):
        return await call_tool(ctx, invocation)


@contextlib.asynccontextmanager
async def exclusive(ctx: WorkContext, resource: str, root: str) -> AsyncIterator[None]:
    """Hold ``resource`` of the project at ``root`` for the block, waiting in line for it.

    Args:
        ctx: The task's context (its events say who waits for what).
        resource: What is held, e.g. ``test-suite``.
        root: The project.
    """
    key = resource_key(resource, root)
    holder = f"{ctx.agent.name}/{ctx.task_id}"
    live = ctx.recorded_tools is None
    lease = resource_lease(ctx.store, resource, root, holder) if live else None

    async def try_once() -> Any:
        assert lease is not None
        kv = await lease.key_value()
        try:
            await lease.take_once()
        except KeyWrongLastSequenceError:
            with contextlib.suppress(KeyNotFoundError):
                entry = await kv.get(key)
                return {"held_by": (entry.value or b"").decode() or "another task"}
            return {"held_by": "another task"}
        return {"held_by": None}

    first, _ = await call_recorded(ctx, "lease-take", {"resource": key}, try_once)
    held_by = first.get("held_by") if isinstance(first, dict) else None
    if held_by:
        other = str(held_by).rsplit("/", 1)[-1]
        ctx.emit(
            ConflictDetected,
            ConflictDetectedData(
                conflict_id=f"resource-{key}-{ctx.task_id}-{ctx.delivery}",
                kind="resource",
                parties=[ctx.task_id, other],
                subject=f"the {resource} of {root}",
                description=f"{ctx.task_id} needs the {resource}, which {held_by} holds",
            ),
        )
        ctx.emit(
            TaskBlocked,
            TaskBlockedData(
                worker=ctx.agent.name,
                reason=f"waiting for the {resource}",
                needs=f"the {resource} lease, held by {held_by}",
                kind="resource",
            ),
        )
        await ctx.flush()

        async def wait() -> Any:
            assert lease is not None
            started = time.monotonic()
            await lease.acquire(asyncio.Event(), poll=WAIT_POLL)
            return {"waited_s": round(time.monotonic() - started, 3)}

        waited, _ = await call_recorded(ctx, "lease-wait", {"resource": key}, wait)
        seconds = waited.get("waited_s", 0) if isinstance(waited, dict) else 0
        await ctx.send(
            TaskProgress,
            TaskProgressData(
                worker=ctx.agent.name,
                percent=0.0,
                note=f"got the {resource} after {seconds} s",
            ),
        )
    keeping: asyncio.Task[None] | None = None
    stopping = asyncio.Event()
    if lease is not None:
        keeping = asyncio.create_task(lease.keep(stopping))
    try:
        yield
    finally:
        stopping.set()
        if keeping is not None:
            keeping.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await keeping
        if lease is not None:
            await lease.release()
