"""Failure tests with real processes and a real nats-server: kill -9, restarts, raising."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData, TaskStarted
from callsheet.events.envelope import Event
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from tests.e2e.cli_support import Processes, cli_env
from tests.support import assert_eventually

pytestmark = pytest.mark.e2e

ROLES = ("database", "backend", "frontend")
TITLE = "Build a user authentication system"


async def open_log(env: dict[str, str]) -> tuple[Client, EventStore]:
    nc = await nats.connect(env["CALLSHEET_NATS_URL"].split(","), max_reconnect_attempts=-1)
    config = StoreConfig(stream=env["CALLSHEET_STREAM"], root=env["CALLSHEET_SUBJECT_ROOT"])
    return nc, await EventStore.open(nc, config)


@pytest.fixture
async def log(env: dict[str, str]) -> AsyncIterator[EventStore]:
    nc, store = await open_log(env)
    try:
        yield store
    finally:
        await nc.close()
        # The stream is left for the server's temporary store to drop with the session.


async def goal_events(store: EventStore, goal: str) -> list[Event]:
    return [s.event async for s in store.read(goal_id=goal)]


async def submit(store: EventStore, goal: str) -> None:
    await store.append(
        GoalSubmitted.new(data=GoalSubmittedData(title=TITLE), goal_id=goal, producer="test")
    )


def workers(procs: Processes, *, lease: float, step: float) -> None:
    for role in ROLES:
        procs.start("worker", "--role", role, "--lease", str(lease), "--step-seconds", str(step))


def assert_completed_once(events: list[Event]) -> None:
    """The goal succeeded; no task was assigned twice; each task has exactly one result."""
    outcomes = [e for e in events if e.event_type == "goal.completed"]
    assert [getattr(e, "data").outcome for e in outcomes] == ["succeeded"]  # noqa: B009
    assigned = Counter(e.task_id for e in events if e.event_type == "task.assigned")
    assert assigned and set(assigned.values()) == {1}, assigned
    results = Counter(e.task_id for e in events if e.event_type == "task.result")
    assert results == assigned, (results, assigned)
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids))


async def test_supervisor_killed_mid_goal_then_restarted(procs: Processes, log: EventStore) -> None:
    workers(procs, lease=2, step=0.3)
    crew = ("crew", "--workers-per-role", "0", "--lease", "2")
    supervisor = procs.start(*crew)
    await submit(log, "g-sup")

    async def first_result() -> bool:
        return any(e.event_type == "task.result" for e in await goal_events(log, "g-sup"))

    await assert_eventually(first_result, timeout=30, message="no task finished")
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait(10)
    before = await goal_events(log, "g-sup")
    assert not any(e.event_type == "goal.completed" for e in before)
    procs.start(*crew)

    async def completed() -> bool:
        return any(e.event_type == "goal.completed" for e in await goal_events(log, "g-sup"))

    await assert_eventually(completed, timeout=60, message="the goal did not complete")
    assert_completed_once(await goal_events(log, "g-sup"))


async def test_a_standby_supervisor_takes_over_from_one_killed_mid_goal(
    procs: Processes, log: EventStore
) -> None:
    workers(procs, lease=2, step=0.3)
    crew = ("crew", "--workers-per-role", "0", "--lease", "2", "--leader-ttl", "2")
    leader = procs.start(*crew)
    procs.start(*crew)  # stands by: ready, but handles nothing while the leader lives
    await submit(log, "g-standby")

    async def first_result() -> bool:
        return any(e.event_type == "task.result" for e in await goal_events(log, "g-standby"))

    await assert_eventually(first_result, timeout=30, message="no task finished")
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)

    async def completed() -> bool:
        events = await goal_events(log, "g-standby")
        return any(e.event_type == "goal.completed" for e in events)

    # Nobody restarts anything: the standby takes the lease once it expires.
    await assert_eventually(completed, timeout=60, message="the goal did not complete")
    assert_completed_once(await goal_events(log, "g-standby"))


async def test_worker_killed_mid_task_task_completes_once_elsewhere(
    procs: Processes, log: EventStore
) -> None:
    procs.start("crew", "--workers-per-role", "0", "--lease", "1.5")
    backends = [
        procs.start("worker", "--role", "backend", "--name", f"backend-{i}", "--lease", "1.5",
                    "--step-seconds", "0.4")
        for i in (1, 2)
    ]  # fmt: skip
    for role in ("database", "frontend"):
        procs.start("worker", "--role", role, "--lease", "1.5", "--step-seconds", "0.1")
    await submit(log, "g-kill")

    async def api_started() -> bool:
        return any(
            e.event_type == "task.progress" and e.task_id == "api"
            for e in await goal_events(log, "g-kill")
        )

    await assert_eventually(api_started, timeout=30, message="api never progressed")
    started = next(
        e
        for e in await goal_events(log, "g-kill")
        if e.event_type == "task.started" and e.task_id == "api"
    )
    victim = getattr(started, "data").worker  # noqa: B009
    backends[int(victim.rsplit("-", 1)[1]) - 1].send_signal(signal.SIGKILL)

    async def completed() -> bool:
        return any(e.event_type == "goal.completed" for e in await goal_events(log, "g-kill"))

    await assert_eventually(completed, timeout=60, message="the goal did not complete")
    events = await goal_events(log, "g-kill")
    assert_completed_once(events)
    api = [e for e in events if e.task_id == "api"]
    starts = [getattr(e, "data").worker for e in api if e.event_type == "task.started"]  # noqa: B009
    assert starts[0] == victim and len(starts) == 2 and starts[1] != victim
    result = next(e for e in api if e.event_type == "task.result")
    assert result.producer != victim
    # Nothing the victim appended after its last event was lost or rewritten: its
    # checkpoints are in the log and the new worker resumed from the last one.
    checkpoints = [e for e in api if e.event_type == "task.checkpoint" and e.producer == victim]
    assert checkpoints
    resumed = getattr(result, "data").output["resumed_from"]  # noqa: B009
    assert resumed == getattr(checkpoints[-1], "data").checkpoint_id  # noqa: B009


async def test_nats_server_restarted_mid_goal(tmp_path: Path) -> None:
    server = NatsServerProcess(store_dir=tmp_path / "store")
    server.start()
    procs = Processes(cli_env(server.url, tmp_path))
    try:
        nc, store = await open_log(procs.env)
        try:
            procs.start("crew", "--lease", "2", "--step-seconds", "0.3")
            await submit(store, "g-restart")

            async def some_started() -> bool:
                return any(
                    e.event_type == "task.started" for e in await goal_events(store, "g-restart")
                )

            await assert_eventually(some_started, timeout=30, message="no task started")
            await asyncio.to_thread(server.restart)

            async def completed() -> bool:
                try:
                    events = await goal_events(store, "g-restart")
                except Exception:  # the test's own connection may still be reconnecting
                    return False
                return any(e.event_type == "goal.completed" for e in events)

            await assert_eventually(completed, timeout=90, message="the goal did not complete")
            assert_completed_once(await goal_events(store, "g-restart"))
        finally:
            await nc.close()
    finally:
        procs.stop()
        server.stop()


async def test_a_raising_handler_is_recorded_and_the_agent_goes_on(
    procs: Processes, log: EventStore
) -> None:
    procs.start("agent", "run", "tests.e2e.flaky_agent:Flaky", "--name", "flaky-1")
    for goal in ("ok-1", "boom-1", "ok-2"):
        await submit(log, goal)

    async def handled() -> bool:
        for goal in ("ok-1", "boom-1", "ok-2"):
            kinds = {e.event_type for e in await goal_events(log, goal)}
            if not kinds & {"context.updated", "agent.error"}:
                return False
        return True

    await assert_eventually(handled, timeout=30, message="not every goal was handled")
    boom = await goal_events(log, "boom-1")
    errors = [e for e in boom if e.event_type == "agent.error"]
    assert len(errors) == 1
    data = getattr(errors[0], "data")  # noqa: B009
    assert data.kind == "handler_error" and data.agent == "flaky-1"
    assert data.event_id == boom[0].id and "RuntimeError: cannot handle boom-1" in data.error
    for goal in ("ok-1", "ok-2"):
        kinds = [e.event_type for e in await goal_events(log, goal)]
        assert kinds == ["goal.submitted", "context.updated"]


async def test_sigterm_lets_a_worker_finish_its_task_then_exit_cleanly(
    procs: Processes, log: EventStore
) -> None:
    procs.start("crew", "--workers-per-role", "0", "--lease", "5")
    workers = {
        role: procs.start("worker", "--role", role, "--lease", "5", "--step-seconds", "0.3")
        for role in ROLES
    }
    await submit(log, "g-term")

    async def schema_started() -> bool:
        return any(
            e.event_type == "task.started" and e.task_id == "schema"
            for e in await goal_events(log, "g-term")
        )

    await assert_eventually(schema_started, timeout=30, message="schema never started")
    database = workers["database"]
    database.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(database.wait, 30)
    assert code == 0
    events = await goal_events(log, "g-term")
    result = [e for e in events if e.event_type == "task.result" and e.task_id == "schema"]
    assert len(result) == 1  # finished within the grace period, before the process left
    started = next(e for e in events if isinstance(e, TaskStarted) and e.task_id == "schema")
    assert result[0].producer == started.data.worker
