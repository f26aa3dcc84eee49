"""Processes the cases start: ``python -m tools.bench.procs KIND URL STREAM ROOT [ARG]``.

Each prints ``ready`` once subscribed, then runs until SIGTERM (or stdin closes).

- ``fan``: a callsheet runtime with one no-op worker of role ``fan``.
- ``raw``: raw nats-py doing the same: a durable pull consumer on the stream
  ``STREAM`` (subject ``ROOT.work``), each message answered by a result published
  and acknowledged by JetStream (``ROOT.result``, durable), then acked.
- ``crew-worker``: a runtime with a ``SpecialistWorker`` of role ``ARG`` (steps of 0 s).
- ``crew-lead``: a runtime with the controller and the supervisor, planning ``ARG``
  independent tasks over the roles ``alpha`` and ``beta``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.crew import Controller, Supervisor, worker_class
from callsheet.events.catalog import TaskAssigned
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.models import ModelReply, ModelRequest, OfflineModel

__all__ = ["ROLES", "BenchPlanner", "store_config"]

ROLES = ("alpha", "beta")


def store_config(stream: str, root: str) -> StoreConfig:
    """The store every process of one case shares."""
    return StoreConfig(stream=stream, root=root, blob_bucket=f"{stream}_B")


class BenchPlanner:
    """The offline model, planning ``tasks`` independent tasks over ``ROLES``."""

    provider = "offline"
    name = "bench-planner"

    def __init__(self, tasks: int) -> None:
        self.tasks = tasks
        self.offline = OfflineModel()

    async def complete(self, request: ModelRequest) -> ModelReply:
        if request.task == "plan":
            tasks = [
                {"task_id": f"t{i:05d}", "title": f"part {i}", "role": ROLES[i % len(ROLES)]}
                for i in range(self.tasks)
            ]
            return ModelReply(output={"tasks": tasks}, input_tokens=10, output_tokens=10)
        return await self.offline.complete(request)


class _Fan(Agent):
    kind = "worker"
    role = "fan"
    lease_seconds = 30.0
    max_in_flight = 16

    @work()
    async def handle(self, event: TaskAssigned, ctx: WorkContext) -> dict[str, Any]:
        return {}


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)  # the parent went away
    print("ready", flush=True)
    await stop.wait()


async def _runtime(url: str, stream: str, root: str, agents: list[Agent]) -> None:
    nc = await nats.connect(url)
    store = await EventStore.open(nc, store_config(stream, root))
    async with AgentRuntime(store, agents, grace=1.0):
        await _until_stopped()
    await nc.close()


async def _raw(url: str, stream: str, root: str) -> None:
    nc: Client = await nats.connect(url)
    js = nc.jetstream(timeout=30.0)
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name="work",
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=f"{root}.work",
            ack_wait=30,
            max_ack_pending=10_000,
        ),
    )
    psub = await js.pull_subscribe_bind("work", stream=stream)
    stopping = asyncio.Event()

    async def loop() -> None:
        while not stopping.is_set():
            try:
                msgs = await psub.fetch(16, timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for msg in msgs:
                await js.publish(f"{root}.result", msg.data)  # the durable result
                await msg.ack_sync(timeout=30)

    task = asyncio.create_task(loop())
    await _until_stopped()
    stopping.set()
    await task
    await nc.close()


def main() -> None:
    """Run one process of a case."""
    kind, url, stream, root, *rest = sys.argv[1:]
    if kind == "fan":
        asyncio.run(_runtime(url, stream, root, [_Fan()]))
    elif kind == "raw":
        asyncio.run(_raw(url, stream, root))
    elif kind == "crew-worker":
        worker = worker_class(rest[0], lease_seconds=30.0, step_seconds=0.0)()
        asyncio.run(_runtime(url, stream, root, [worker]))
    elif kind == "crew-lead":
        supervisor = Supervisor("supervisor", roles=ROLES, model=BenchPlanner(int(rest[0])))
        asyncio.run(_runtime(url, stream, root, [Controller("controller"), supervisor]))
    else:
        raise SystemExit(f"unknown process kind: {kind}")


if __name__ == "__main__":
    main()
