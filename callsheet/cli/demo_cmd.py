"""``callsheet demo``: a real run of the hub-and-spoke crew on the embedded broker.

The controller and the supervisor run in this process; each worker is a process
of its own (``callsheet worker``), two of them for the ``backend`` role. A goal
is submitted; the supervisor decomposes it into parallel tasks; halfway through
the ``api`` task its worker is killed with SIGKILL. Its lease runs out, JetStream
delivers the task to the other backend worker, which resumes from the last
checkpoint; the goal completes, and a summary points to the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click

from callsheet.agents import AgentRuntime
from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.crew import Controller, Supervisor
from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskStarted,
)
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore, StoredEvent
from callsheet.projections.board import Board, fold

__all__ = ["demo"]

ROLES = ("database", "backend", "frontend")
WORKERS = (
    ("database", "database-1"),
    ("backend", "backend-1"),
    ("backend", "backend-2"),
    ("frontend", "frontend-1"),
)
CHANGED_SUPERVISOR = "callsheet.examples.redrive.changed_supervisor:EagerSupervisor"
CHANGED_WORKER = "callsheet.examples.redrive.changed_worker:ForgetfulWorker"
VICTIM_TASK = "api"
TITLE = "Build a user authentication system"


@dataclass
class _Worker:
    name: str
    role: str
    process: asyncio.subprocess.Process
    killed: bool = False


@dataclass
class _Run:
    started: float = field(default_factory=time.perf_counter)
    board: Board = field(default_factory=Board)
    killed: str | None = None
    resumed_by: str | None = None
    events: int = 0
    last: StoredEvent | None = None

    def stamp(self) -> str:
        return f"[{time.perf_counter() - self.started:6.2f}s]"


async def _spawn(role: str, name: str, url: str, lease: float, step: float) -> _Worker:
    env = {**os.environ, "CALLSHEET_NATS_URL": url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callsheet.cli", "worker", "--role", role, "--name", name,
        "--lease", str(lease), "--step-seconds", str(step),
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return _Worker(name, role, process)


async def _ready(worker: _Worker, timeout: float) -> None:
    assert worker.process.stderr is not None
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        line = await asyncio.wait_for(worker.process.stderr.readline(), left)
        if not line:
            break
        if b" ready" in line:
            # Keep draining its stderr so that the pipe never fills up.
            asyncio.get_running_loop().create_task(_drain(worker))
            return
    raise click.ClickException(
        f"worker {worker.name} did not start (exit {worker.process.returncode})"
    )


async def _drain(worker: _Worker) -> None:
    assert worker.process.stderr is not None
    while await worker.process.stderr.readline():
        pass


def _describe(event: Event) -> str | None:
    """One progress line for the events worth showing, else None."""
    task = event.task_id
    data = getattr(event, "data", None)
    kind = event.event_type
    if kind == "goal.accepted":
        return f"goal accepted by the controller; supervisor: {data.supervisor}"  # type: ignore[union-attr]
    if kind == "plan.proposed":
        tasks = ", ".join(f"{t.task_id} ({t.role})" for t in data.tasks)  # type: ignore[union-attr]
        return f"plan: {tasks}"
    if kind == "task.assigned":
        return f"{task}: assigned to the {data.role} queue (attempt {data.attempt})"  # type: ignore[union-attr]
    if isinstance(event, TaskStarted):
        return f"{task}: started by {event.data.worker} (delivery {event.data.attempt})"
    if isinstance(event, TaskProgress):
        return f"{task}: {event.data.percent:5.1f}%  {event.data.note[:60]}"
    if kind in ("task.result", "task.failed", "task.reassigned"):
        return f"{task}: {kind.split('.')[1]}"
    if kind == "goal.completed":
        return f"goal completed: {data.outcome}"  # type: ignore[union-attr]
    return None


async def _follow(
    store: EventStore, goal: str, state: _Run, workers: list[_Worker], kill: bool
) -> None:
    async with store.subscribe(goal_id=goal) as sub:
        async for stored in sub:
            event = stored.event
            state.board = fold(state.board, event)
            state.events += 1
            state.last = stored
            line = _describe(event)
            if line is not None:
                click.echo(f"{state.stamp()} {line}")
            if (
                isinstance(event, TaskStarted)
                and event.task_id == VICTIM_TASK
                and state.killed not in (None, event.data.worker)
            ):
                state.resumed_by = event.data.worker
            if (
                kill
                and state.killed is None
                and isinstance(event, TaskProgress)
                and event.task_id == VICTIM_TASK
                and event.data.percent >= 50
            ):
                victim = next((w for w in workers if w.name == event.data.worker), None)
                if victim is not None:
                    victim.process.send_signal(signal.SIGKILL)
                    victim.killed = True
                    state.killed = victim.name
                    click.echo(
                        f"{state.stamp()} demo: killed {victim.name} (pid {victim.process.pid}) "
                        f"with SIGKILL halfway through {VICTIM_TASK}; its lease will run out"
                    )
            if event.event_type in ("goal.completed", "goal.rejected"):
                return


@click.command()
@click.option(
    "--goal", "goal_id", default=None, help="Goal id, new to the log; a fresh one by default."
)
@click.option(
    "--lease",
    type=click.FloatRange(min=0.5),
    default=3.0,
    show_default=True,
    help="Lease, seconds.",
)
@click.option("--step-seconds", type=click.FloatRange(min=0), default=0.5, show_default=True)
@click.option("--kill/--no-kill", default=True, show_default=True, help="Kill a worker halfway.")
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True)
def demo(
    goal_id: str | None, lease: float, step_seconds: float, kill: bool, timeout: float
) -> None:
    """Run the crew on a sample goal, kill a worker halfway, and show how the crew recovers."""
    goal = goal_id or "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")

    async def main() -> None:
        async with open_store() as store:
            if await _has_events(store, goal):
                fail(
                    f"goal {goal!r} already has events (an earlier run): leave --goal out for "
                    f"a fresh goal, or look at that run with `callsheet events --goal {goal}`",
                    EXIT_INVALID,
                )
            url = store.nc.connected_url
            assert url is not None
            server = f"nats://{url.hostname}:{url.port}"
            workers = [await _spawn(r, n, server, lease, step_seconds) for r, n in WORKERS]
            try:
                await asyncio.gather(*(_ready(w, 60) for w in workers))
                agents = [
                    Controller("controller"),
                    Supervisor("supervisor", roles=ROLES, lease_seconds=lease),
                ]
                async with AgentRuntime(store, agents):
                    click.echo(
                        f"crew: controller and supervisor here, {len(workers)} worker processes"
                    )
                    state = _Run()
                    submitted = GoalSubmitted.new(
                        data=GoalSubmittedData(title=TITLE, requested_by="demo"),
                        goal_id=goal,
                        producer="demo",
                    )
                    await store.append(submitted)
                    click.echo(f"{state.stamp()} goal {goal} submitted: {TITLE!r}")
                    await asyncio.wait_for(_follow(store, goal, state, workers, kill), timeout)
            finally:
                for w in workers:
                    if w.process.returncode is None and not w.killed:
                        w.process.send_signal(signal.SIGTERM)
                for w in workers:
                    try:
                        await asyncio.wait_for(w.process.wait(), 15)
                    except TimeoutError:
                        w.process.kill()
        _summary(goal, state, lease, step_seconds)

    run(main)


async def _has_events(store: EventStore, goal: str) -> bool:
    # Running a goal again would replay its old events as if they were new ones.
    reading = store.read(goal_id=goal)
    async with contextlib.aclosing(reading):
        async for _ in reading:
            return True
    return False


def _summary(goal: str, state: _Run, lease: float, step_seconds: float) -> None:
    board = state.board
    elapsed = time.perf_counter() - state.started
    click.echo("")
    click.echo(f"board of {goal} ({board.title}) after {board.events} events, {elapsed:.1f} s:")
    for card in board.tasks.values():
        click.echo(
            f"  {card.task_id:<8} {card.status:<9} {card.role:<10} "
            f"{card.worker or '-':<12} deliveries {card.attempts}  {card.percent:5.1f}%"
        )
    click.echo(f"outcome: {board.outcome}")
    if state.killed:
        taken = state.resumed_by or "nobody (yet)"
        click.echo(
            f"{VICTIM_TASK}: {state.killed} was killed; {taken} took it over from its checkpoint"
        )
    last = state.last
    click.echo("see what happened:")
    click.echo(f"  callsheet events --goal {goal}")
    click.echo(f"  callsheet replay board --goal {goal} --diff")
    if last is not None:
        click.echo(f"  callsheet why {last.event.id}")
    supervisor = f"--goal {goal} --arg lease_seconds={lease:g}"
    worker = ""
    if state.resumed_by:
        role = next((r for r, n in WORKERS if n == state.resumed_by), "backend")
        worker = (
            f"--role {role} --name {state.resumed_by} --goal {goal} "
            f"--arg step_seconds={step_seconds:g}"
        )
    click.echo("re-drive it (no model is called; identical to the log):")
    click.echo(f"  callsheet redrive callsheet.crew:Supervisor {supervisor}")
    if worker:
        click.echo(f"  callsheet redrive callsheet.crew:SpecialistWorker {worker}")
    click.echo("re-drive agents changed on purpose (each parts from the log, exit 3):")
    click.echo(f"  callsheet redrive {CHANGED_SUPERVISOR} {supervisor}")
    if worker:
        click.echo(f"  callsheet redrive {CHANGED_WORKER} {worker}")
