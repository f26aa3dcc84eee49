"""The per-role users of infra/permissions.conf: the broker enforces the topology too."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from callsheet.agents import Agent, AgentRuntime, WorkContext, work
from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import (
    GoalAccepted,
    GoalAcceptedData,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskAssignedData,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskResultData,
)
from callsheet.events.codec import encode
from callsheet.events.errors import StoreError
from callsheet.events.store import CorruptEventError, EventStore
from callsheet.events.stream import StoreConfig
from examples.eventsourcing_app.helpdesk import Helpdesk
from tests.e2e.cli_support import cli
from tests.integration.permissions_support import connect, secure_server
from tests.support import assert_eventually

STORE = StoreConfig()  # the shipped file names the default stream, root and blob bucket
WORKER = "worker-backend"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServerProcess]:
    yield from secure_server(tmp_path_factory)


@pytest.fixture
async def admin_store(server: NatsServerProcess) -> AsyncIterator[EventStore]:
    async with connect(server, "admin") as nc:
        yield await EventStore.open(nc, STORE)


def assigned(task: str, role: str = "backend") -> TaskAssigned:
    return TaskAssigned.new(
        data=TaskAssignedData(role=role, lease_seconds=2),
        goal_id="g",
        task_id=task,
        producer="x",
    )


async def stored_ids(store: EventStore) -> set[str]:
    return {s.event.id async for s in store.read(goal_id="g")}


async def refused(store: EventStore, event: Any) -> None:
    with pytest.raises((StoreError, nats.errors.Error)):
        await store.append(event, timeout=1.0, retries=0)


async def test_a_wrong_password_is_refused(server: NatsServerProcess) -> None:
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await nats.connect(
            server.url, user=WORKER, password="nope", allow_reconnect=False, connect_timeout=5
        )


async def test_a_worker_reports_but_cannot_hand_out_work_or_accept_goals(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    async with connect(server, WORKER) as nc:
        store = await EventStore.open(nc, STORE)
        result = TaskResult.new(
            data=TaskResultData(worker="w", output=1), goal_id="g", task_id="t1", producer="w"
        )
        await store.append(result)
        bad = assigned("t-worker")
        await refused(store, bad)
        accept = GoalAccepted.new(data=GoalAcceptedData(supervisor="s"), goal_id="g", producer="w")
        await refused(store, accept)
        # A denied request gets no answer at all (the server drops it).
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await nc.jetstream(timeout=1.0).delete_stream(STORE.stream)
    ids = await stored_ids(admin_store)
    assert result.id in ids and bad.id not in ids and accept.id not in ids


async def test_a_worker_cannot_pass_a_goal_end_off_as_progress(
    server: NatsServerProcess, admin_store: EventStore, tmp_path: Path
) -> None:
    goal = "g-forged"
    await admin_store.append(
        GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id=goal, producer="x")
    )
    end = GoalCompleted.new(data=GoalCompletedData(outcome="succeeded"), goal_id=goal, producer="w")
    progress = TaskProgress.new(
        data=TaskProgressData(worker="w", percent=5.0), goal_id=goal, task_id="t", producer="w"
    )
    async with connect(server, WORKER) as nc:
        store = await EventStore.open(nc, STORE)
        await refused(store, end)  # the goal's own subject is denied to a worker...
        subject = f"cs.ev.{goal}.task.t.~.task.progress"  # ...a progress subject is not
        ack = await nc.jetstream().publish(subject, encode(end), stream=STORE.stream)
        await store.append(progress)
    reported: list[CorruptEventError] = []
    types = [
        s.event.event_type async for s in admin_store.read(goal_id=goal, on_corrupt=reported.append)
    ]
    assert types == ["goal.submitted", "task.progress"]
    assert [e.seq for e in reported] == [ack.seq]
    url = server.url.replace("nats://", "nats://admin:pw-admin@")
    env = dict(os.environ, CALLSHEET_NATS_URL=url, CALLSHEET_STREAM=STORE.stream)
    env.update(CALLSHEET_SUBJECT_ROOT="cs", CALLSHEET_HOME=str(tmp_path))
    out = await asyncio.to_thread(cli, env, "replay", "board", "--goal", goal, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["outcome"] is None  # not "succeeded"
    assert f"skipped message {ack.seq} on {subject}" in out.stderr


async def test_a_supervisor_hands_out_work_but_cannot_accept_goals(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    async with connect(server, "supervisor") as nc:
        store = await EventStore.open(nc, STORE)
        ok = assigned("t-sup")
        await store.append(ok)
        accept = GoalAccepted.new(data=GoalAcceptedData(supervisor="s"), goal_id="g", producer="s")
        await refused(store, accept)
    ids = await stored_ids(admin_store)
    assert ok.id in ids and accept.id not in ids


async def test_a_service_can_only_use_the_ingress(server: NatsServerProcess) -> None:
    async with connect(server, "service") as nc:
        await nc.publish("cs.in.service.x", b"{}")  # its own prefix; the gatekeeper judges it
        with pytest.raises(nats.errors.Error):
            await nc.jetstream().stream_info(STORE.stream)


class Writer(Agent):
    kind = "worker"
    role = "backend"
    lease_seconds = 2.0

    @work()
    async def write(self, event: TaskAssigned, ctx: WorkContext) -> str:
        return f"written {event.task_id}"


async def test_a_worker_agent_runs_under_its_roles_user(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    async with connect(server, WORKER) as nc:
        store = await EventStore.open(nc, STORE)
        async with AgentRuntime(store, [Writer("writer-1")]):
            await admin_store.append(assigned("t-run"))

            async def done() -> bool:
                kinds = [
                    s.event.event_type async for s in admin_store.read(goal_id="g", task_id="t-run")
                ]
                return "task.result" in kinds

            await assert_eventually(done, timeout=20, message="the worker did not finish")


def _helpdesk_env(server: NatsServerProcess, role: str) -> dict[str, str]:
    url = server.url.replace("nats://", f"nats://{role}:pw-{role}@")
    return {
        "PERSISTENCE_MODULE": "callsheet.esdb",
        "NATS_URL": url,
        "ESDB_STREAM": STORE.stream,
        "ESDB_GOAL": "helpdesk",
        "IS_SNAPSHOTTING_ENABLED": "yes",
    }


async def test_an_eventsourcing_application_records_and_reads_but_nothing_else(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    # Admin makes what the application may not: its snapshot stream and the blob bucket.
    await asyncio.to_thread(lambda: Helpdesk(_helpdesk_env(server, "admin")).close())
    await admin_store._blobs.put(b"make the bucket")

    def run_app() -> tuple[str, int | None, list[str]]:
        app = Helpdesk(_helpdesk_env(server, "application"))
        try:
            first, second = app.open_tickets("printer on fire", "x" * 2_000_000)  # 2 MB
            app.close_ticket(first)
            app.close_ticket(second)  # a snapshot (every 2 events)
            with app.recorder.subscribe(gt=None) as subscription:
                topics = [next(subscription).topic.rpartition(".")[2] for _ in range(4)]
            return app.status(first), app.recorder.max_notification_id(), topics
        finally:
            app.close()

    status, last, topics = await asyncio.to_thread(run_app)
    assert status == "closed" and last is not None
    assert topics == ["Opened", "Opened", "Closed", "Closed"]
    async with connect(server, "application") as nc:
        store = EventStore(nc, STORE)
        await refused(store, assigned("t-app"))  # not an aggregate event: refused
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await nc.jetstream(timeout=1.0).delete_stream(STORE.stream)
    types = [s.event.event_type async for s in admin_store.read(goal_id="helpdesk")]
    assert types == ["aggregate.recorded"] * 4
    forged: list[CorruptEventError] = []  # another test's forgery is in the log too
    assert "t-app" not in {
        s.event.task_id async for s in admin_store.read(on_corrupt=forged.append)
    }


SUPERVISOR_QUEUE = "agent-supervisor"
_FILTER = "cs.ev.>"


async def _supervisor_consumer(admin_store: EventStore) -> None:
    js = admin_store.nc.jetstream(timeout=5.0)
    config = ConsumerConfig(
        durable_name=SUPERVISOR_QUEUE, ack_policy=AckPolicy.EXPLICIT, filter_subject=_FILTER
    )
    await js.add_consumer(STORE.stream, config)


async def _redirect(js: JetStreamContext) -> None:
    config = ConsumerConfig(
        durable_name=SUPERVISOR_QUEUE, ack_policy=AckPolicy.EXPLICIT, filter_subject="cs.nothing"
    )
    await js.add_consumer(STORE.stream, config)


async def _redirect_by_name(js: JetStreamContext) -> None:
    config = ConsumerConfig(
        name=SUPERVISOR_QUEUE, ack_policy=AckPolicy.EXPLICIT, filter_subject="cs.nothing"
    )
    await js.add_consumer(STORE.stream, config)


async def _pause(js: JetStreamContext) -> None:
    await js.pause_consumer(STORE.stream, SUPERVISOR_QUEUE, "2099-01-01T00:00:00Z")


async def _delete(js: JetStreamContext) -> None:
    await js.delete_consumer(STORE.stream, SUPERVISOR_QUEUE)


async def _fetch(js: JetStreamContext) -> None:
    sub = await js.pull_subscribe_bind(SUPERVISOR_QUEUE, stream=STORE.stream)
    await sub.fetch(1, timeout=1.0)


SABOTAGE = {
    "redirect": _redirect,
    "redirect-by-name": _redirect_by_name,
    "pause": _pause,
    "delete": _delete,
    "fetch": _fetch,
}


@pytest.mark.parametrize("role", [WORKER, "controller", "reviewer", "application"])
@pytest.mark.parametrize("attempt", sorted(SABOTAGE))
async def test_no_other_role_can_sabotage_the_supervisors_consumer(
    server: NatsServerProcess, admin_store: EventStore, role: str, attempt: str
) -> None:
    await _supervisor_consumer(admin_store)
    await admin_store.append(assigned(f"t-{role}-{attempt}"))
    async with connect(server, role) as nc:
        with pytest.raises((nats.js.errors.Error, nats.errors.Error)):
            await SABOTAGE[attempt](nc.jetstream(timeout=1.0))
    info = await admin_store.nc.jetstream().consumer_info(STORE.stream, SUPERVISOR_QUEUE)
    assert info.config.filter_subject == _FILTER
    assert not info.paused
    assert not info.num_ack_pending  # nothing was fetched from it


async def test_the_supervisor_still_manages_its_own_consumer(
    server: NatsServerProcess, admin_store: EventStore
) -> None:
    await _supervisor_consumer(admin_store)
    async with connect(server, "supervisor") as nc:
        js = nc.jetstream(timeout=5.0)
        await _pause(js)
        await js.resume_consumer(STORE.stream, SUPERVISOR_QUEUE)
        await _delete(js)
