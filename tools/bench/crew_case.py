"""The ``crew`` case: a real goal of 100, 1,000 and 10,000 tasks through the whole crew.

One process runs the controller and the supervisor (offline planner, every task
independent, over two roles), one process per role runs a ``SpecialistWorker``
with steps of 0 s; every event is in the log. Timed from the ``goal.submitted``
to the ``goal.completed``; CPU seconds per task of each process (and of the
server) from ``/proc``.
"""

from __future__ import annotations

import asyncio
import time

import nats
from nats.aio.client import Client
from ulid import ULID

from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.store import EventStore
from tools.bench.common import Row, Settings, cpu_seconds, nats_server
from tools.bench.procs import ROLES, store_config
from tools.bench.spawn import Group

__all__ = ["crew"]


async def _goal(url: str, server_pid: int, tasks: int) -> dict[str, float | str]:
    uid = str(ULID()).lower()
    stream, root = f"C_{uid}", f"c{uid}"
    nc: Client = await nats.connect(url)
    store = await EventStore.open(nc, store_config(stream, root))
    commands = [Group.python("crew-lead", url, stream, root, str(tasks))]
    commands += [Group.python("crew-worker", url, stream, root, role) for role in ROLES]
    timeout = 60 + tasks / 10
    try:
        with Group(commands) as group:
            cpu_before = [*group.cpu(), cpu_seconds(server_pid)]
            async with store.subscribe(types=["goal.completed"], from_seq=1) as sub:
                start = time.perf_counter()
                await store.append(
                    GoalSubmitted.new(
                        data=GoalSubmittedData(title="bench"), goal_id="g", producer="bench"
                    )
                )
                try:
                    async with asyncio.timeout(timeout):
                        async for stored in sub:
                            outcome = getattr(stored.event.data, "outcome", "")
                            break
                except TimeoutError:
                    return {"why": f"not completed in {timeout:.0f} s"}
                elapsed = time.perf_counter() - start
            cpu_after = [*group.cpu(), cpu_seconds(server_pid)]
        events = await store.stream_last_seq()
    finally:
        await nc.jetstream().delete_stream(stream)
        await nc.close()
    used = [after - before for before, after in zip(cpu_before, cpu_after, strict=True)]
    return {
        "tasks_per_s": tasks / elapsed,
        "outcome": str(outcome),
        "events_per_task": events / tasks,
        "cpu_ms_lead": 1000 * used[0] / tasks,
        "cpu_ms_workers": 1000 * sum(used[1:-1]) / tasks,
        "cpu_ms_server": 1000 * used[-1] / tasks,
    }


def crew(settings: Settings) -> list[Row]:
    """Tasks/s and CPU per task of a whole goal, at three sizes."""
    sizes = (20, 100) if settings.quick else (100, 1_000, 10_000)
    rows = []
    rates: dict[int, float] = {}
    with nats_server() as server:
        for tasks in sizes:
            got = asyncio.run(_goal(server.url, server.pid, tasks))
            measure = f"goal of {tasks:,} tasks, tasks/s"
            if "why" in got:
                rows.append(Row("crew", measure, str(got["why"]), target=">= 1,000", met=False))
                continue
            rate = float(got["tasks_per_s"])
            rates[tasks] = rate
            cpu = (
                f"CPU ms/task: supervisor+controller {float(got['cpu_ms_lead']):.2f}, "
                f"workers {float(got['cpu_ms_workers']):.2f}, "
                f"nats-server {float(got['cpu_ms_server']):.2f}; "
                f"{float(got['events_per_task']):.1f} events/task; {got['outcome']}"
            )
            at_thousand = tasks == 1_000
            rows.append(
                Row(
                    "crew",
                    measure,
                    f"{rate:,.0f}",
                    cpu,
                    target=">= 1,000" if at_thousand else "",
                    met=rate >= 1_000 if at_thousand else None,
                    data=got,
                )
            )
    if len(rates) == len(sizes):
        spread = min(rates.values()) / max(rates.values())
        rows.append(
            Row(
                "crew",
                f"tasks/s, slowest size / fastest ({', '.join(f'{n:,}' for n in sizes)})",
                f"{spread:.2f}",
                target=">= 0.8",
                met=spread >= 0.8,
            )
        )
    return rows
