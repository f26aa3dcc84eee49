"""Chaos run: the crew on a 3-node cluster while its processes and a broker node are killed.

Run::

    python -m tools.chaos --duration 600 --seed 1 --out tools/chaos-latest.json

A ``LocalCluster`` of three nats-server nodes (sync always, every stream and bucket with
three replicas) runs a gatekeeper, a controller, a supervisor and two workers per role,
each its own ``callsheet`` process. Goals are submitted through the gatekeeper's
request-reply ingress (their acks recorded) while, at random intervals, one of them, or
a broker node, is killed with SIGKILL and started again a moment later (never more than
one broker node down). Cheaper faults come far more often (``tools.chaos_faults``;
``--kills-only`` turns them off): a process or node paused with SIGSTOP for less than a
lease, and the agents' connections to the cluster, which go through a TCP proxy, cut.
A process that exits by itself is started again, as a process manager would, and
counted. After ``--duration`` seconds the faults stop and the run waits for every goal
to end (``--drain`` seconds at most), then checks, from the log alone:

- every goal submitted ended exactly once (``goal.completed``);
- every task of a goal that succeeded has exactly one ``task.result``;
- no task was assigned twice for the same attempt (retries are recorded attempts);
- the board and progress projections, folded live during the run, equal a fresh replay;
- no acknowledged event is lost (each is in the log at the sequence its ack gave) and no
  event id is stored twice.

It writes the counts as JSON to ``--out`` and a Markdown table next to it (``.md``),
with what explains a failure (``agent.error`` events, the last events of goals that did
not end; ``--keep DIR`` keeps the processes' logs),
and exits 1 if an invariant is broken. The README quotes the committed
``tools/chaos-latest.json`` (``tests/unit/test_chaos_report.py`` checks they agree).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
from nats.aio.client import Client
from ulid import ULID

from callsheet.broker.cluster import LocalCluster
from callsheet.crew import Supervisor
from callsheet.events.catalog import (
    AgentError,
    GoalCompleted,
    GoalSubmitted,
    GoalSubmittedData,
    TaskAssigned,
    TaskPlanned,
    TaskProgress,
    TaskProgressData,
    TaskResult,
    TaskStarted,
)
from callsheet.events.codec import encode
from callsheet.events.errors import StoreError
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.stream import StoreConfig
from callsheet.projections import PROJECTIONS, replay_log
from tools.chaos_faults import CuttingProxy, advertise_no_addresses, pause, resume

__all__ = ["ChaosSupervisor", "main", "markdown", "run"]

LEASE = 3.0
"""Seconds of a task's lease: a killed worker's task is redelivered after it."""
ROLES = ("database", "backend", "frontend")
WORKERS_PER_ROLE = 2
IN_FLIGHT = 4
"""Goals running at once."""
KINDS = ("worker", "supervisor", "controller", "gatekeeper", "broker")
"""What a SIGKILL hits (a broker node, or one of the processes of that kind)."""
WEIGHTS = (4, 1, 1, 1, 1)
LIGHT = ("pause", "cut")
"""The cheap faults (``tools.chaos_faults``): SIGSTOP pauses, cut connections."""
PAUSE_EVERY = (0.05, 0.25)
"""Seconds between two pauses (uniform); each lasts ``PAUSE_FOR``, well below the lease."""
PAUSE_FOR = (0.05, 0.5)
CUT_EVERY = (0.15, 0.45)
"""Seconds between two connection cuts (uniform)."""
CLI = [sys.executable, "-m", "callsheet.cli"]
PROBE_GOAL = "chaos-probe"
STEP_SECONDS = "0.3"
"""Length of each work step: a killed worker is often in the middle of a task."""


class ChaosSupervisor(Supervisor):
    """The crew's supervisor with short leases, so that redeliveries come quickly."""

    def __init__(self, name: str | None = None) -> None:
        """Create it, named ``supervisor`` as in a crew."""
        super().__init__(name or "supervisor", roles=ROLES, lease_seconds=LEASE)


@dataclass
class Proc:
    """One agent process of the run, started again after each kill."""

    kind: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    killed: bool = False
    """Killed by the run, and not started again yet (else, not running means it exited)."""

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, env: dict[str, str]) -> None:
        if self.running:
            return  # never two of one process: a second would be a second supervisor
        self.killed = False
        with self.log.open("ab") as sink:
            self.popen = subprocess.Popen(
                [*CLI, *self.args], env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
            )

    def kill(self) -> None:
        self.killed = True
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.running and self.popen is not None else None

    def stop(self) -> None:
        self.killed = True
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)  # in case it is paused
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Watch:
    """What the run saw live: the log folded as it grew, goals that ended."""

    board: Any = None
    progress: Any = None
    last_seq: int = 0
    ended: set[str] = field(default_factory=set)
    resubscribed: int = 0


async def _follow(store: EventStore, watch: Watch, stop: asyncio.Event) -> None:
    """Fold every event live, subscribing again after the cluster loses a leader."""
    board, progress = PROJECTIONS["board"], PROJECTIONS["progress"]
    watch.board, watch.progress = board.initial(), progress.initial()
    while not stop.is_set():
        try:
            async with store.subscribe(from_seq=watch.last_seq + 1) as sub:
                async for stored in sub:
                    if stored.seq <= watch.last_seq:
                        continue
                    watch.board = board.fold(watch.board, stored.event)
                    watch.progress = progress.fold(watch.progress, stored.event)
                    watch.last_seq = stored.seq
                    if stored.event.event_type == "goal.completed":
                        watch.ended.add(stored.event.goal_id)
                    if stop.is_set():
                        return
        except Exception:  # a failover: the ordered consumer is gone; start again from here
            watch.resubscribed += 1
            await asyncio.sleep(0.5)


async def _quiet(exc: Exception) -> None:
    return None


async def _submit(nc: Client, subject: str, n: int, acks: dict[str, tuple[str, int]]) -> str:
    """Submit a goal through the gatekeeper, trying again until it is acknowledged."""
    goal = f"chaos-{n:05d}"
    event = GoalSubmitted.new(
        data=GoalSubmittedData(title=f"Build feature {n}", description="chaos run"),
        goal_id=goal,
        producer="chaos",
    )
    body = encode(event)
    while True:  # the same bytes each time: the id dedups
        try:
            reply = await nc.request(subject, body, timeout=5)
            answer = json.loads(reply.data)
        except (nats.errors.Error, ValueError):
            await asyncio.sleep(0.5)  # the gatekeeper is down or the log is away
            continue
        if "seq" in answer:
            acks[event.id] = (goal, int(answer["seq"]))
            return goal
        if answer.get("field") is not None:  # the event itself is refused: never accepted
            raise RuntimeError(f"the gatekeeper refuses the goal: {answer}")
        await asyncio.sleep(0.5)  # "error": the store was unavailable: try again


async def _probe(store: EventStore, stop: asyncio.Event, acks: dict[str, tuple[str, int]]) -> None:
    """Append events of its own all along, as any producer would, recording every ack."""
    n = 0
    while not stop.is_set():
        n += 1
        event = TaskProgress.new(
            data=TaskProgressData(worker="chaos-probe", percent=float(n % 100)),
            goal_id=PROBE_GOAL,
            task_id="probe",
            producer="chaos-probe",
        )
        while True:  # the caller's retry: the same event, so no duplicate
            try:
                appended = await store.append(event, timeout=2.0)
                break
            except StoreError:
                await asyncio.sleep(0.2)  # the log is away (a failover): try again
        acks[event.id] = (PROBE_GOAL, appended.seq)
        await asyncio.sleep(0.02)  # a steady trickle, not a flood


@dataclass
class Chaos:
    """The run's processes, cluster and fault injectors."""

    cluster: LocalCluster
    procs: list[Proc]
    env: dict[str, str]
    rng: random.Random
    proxy: CuttingProxy
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    exits: collections.Counter[str] = field(default_factory=collections.Counter)
    """Processes that exited by themselves (started again, as a process manager would)."""
    broker_down: bool = False

    async def _later(self, delay: float, action: Any) -> None:
        await asyncio.sleep(delay)
        action()

    async def inject(self, stop: asyncio.Event, pending: list[asyncio.Task[None]]) -> None:
        """SIGKILL a process or a broker node now and then; start it again a moment later."""
        while not stop.is_set():
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))
            if stop.is_set():
                return
            kind = self.rng.choices(KINDS, WEIGHTS)[0]
            if kind == "broker":
                if self.broker_down:
                    continue
                node = self.rng.choice(self.cluster.nodes)
                node.kill()
                self.broker_down = True

                def back(node: Any = node) -> None:
                    node.start()
                    self.broker_down = False

                pending.append(asyncio.create_task(self._later(self.rng.uniform(1, 4), back)))
            else:
                candidates = [p for p in self.procs if p.kind == kind and p.running]
                if not candidates:
                    continue  # all of that kind are down already, waiting to come back
                proc = self.rng.choice(candidates)
                proc.kill()
                delay = self.rng.uniform(0.2, 2.0)
                pending.append(
                    asyncio.create_task(self._later(delay, lambda p=proc: p.start(self.env)))
                )
            self.faults[kind] += 1

    async def pauses(
        self, stop: asyncio.Event, pending: list[asyncio.Task[None]], rng: random.Random
    ) -> None:
        """SIGSTOP a running process or node for a moment (shorter than any lease)."""
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(*PAUSE_EVERY))
            pids = [p.pid for p in self.procs if p.pid is not None]
            pids += [n.pid for n in self.cluster.nodes if n.running]
            if stop.is_set() or not pids:
                continue
            pid = rng.choice(pids)
            if pause(pid):
                self.faults["pause"] += 1
                later = self._later(rng.uniform(*PAUSE_FOR), lambda pid=pid: resume(pid))
                pending.append(asyncio.create_task(later))

    async def cuts(self, stop: asyncio.Event, rng: random.Random) -> None:
        """Cut a live agent connection to the cluster now and then."""
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(*CUT_EVERY))
            if not stop.is_set() and self.proxy.cut(rng):
                self.faults["cut"] += 1

    async def keep_up(self, stop: asyncio.Event) -> None:
        """Start again a process that exited by itself (and count it: it should not)."""
        while not stop.is_set():
            await asyncio.sleep(0.5)  # a process manager's check, not a wait for work
            for proc in self.procs:
                if not proc.running and not proc.killed and proc.popen is not None:
                    self.exits[proc.kind] += 1
                    proc.start(self.env)


async def _check(
    store: EventStore, watch: Watch, acks: dict[str, tuple[str, int]]
) -> dict[str, Any]:
    """The invariants, from the log alone (and the acks the run got)."""
    events: list[StoredEvent] = []
    for attempt in range(20):
        try:
            events = [s async for s in store.read()]
            break
        except Exception:
            await asyncio.sleep(1 + attempt)  # the cluster settling after the last fault
    ids = collections.Counter(s.event.id for s in events)
    at = {s.event.id: s.seq for s in events}
    completions: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    planned: dict[tuple[str, str], str] = {}
    results: collections.Counter[tuple[str, str]] = collections.Counter()
    started: collections.Counter[tuple[str, str]] = collections.Counter()
    assigned: collections.Counter[tuple[str, str, int]] = collections.Counter()
    retries = 0
    succeeded: set[str] = set()
    errors: collections.Counter[str] = collections.Counter()
    last_types: dict[str, list[str]] = collections.defaultdict(list)
    for stored in events:
        event = stored.event
        key = (event.goal_id, event.task_id or "")
        last_types[event.goal_id] = [*last_types[event.goal_id][-5:], event.event_type]
        if isinstance(event, AgentError):
            errors[f"{event.data.agent}: {event.data.error.splitlines()[0][:160]}"] += 1
        elif isinstance(event, GoalCompleted):
            completions[event.goal_id] += 1
            outcomes[event.data.outcome] += 1
            if event.data.outcome == "succeeded":
                succeeded.add(event.goal_id)
        elif isinstance(event, TaskPlanned):
            planned[key] = event.goal_id
        elif isinstance(event, TaskResult):
            results[key] += 1
        elif isinstance(event, TaskStarted):
            started[key] += 1
        elif isinstance(event, TaskAssigned):
            assigned[(*key, event.data.attempt)] += 1
            retries += event.data.attempt > 1
    goals = {goal for goal, _ in acks.values() if goal != PROBE_GOAL}
    fresh_board, _ = await replay_log(PROJECTIONS["board"], _iterate(events))
    fresh_progress, _ = await replay_log(PROJECTIONS["progress"], _iterate(events))
    live_complete = watch.last_seq == (events[-1].seq if events else 0)
    return {
        "goals": {
            "submitted": len(goals),
            "completed_once": sum(1 for g in goals if completions[g] == 1),
            "not_completed": sum(1 for g in goals if completions[g] == 0),
            "completed_twice": sum(1 for g in goals if completions[g] > 1),
            "outcomes": dict(sorted(outcomes.items())),
        },
        "tasks": {
            "planned": len(planned),
            "results": sum(results.values()),
            "succeeded_goal_tasks_without_result": sum(
                1 for key, goal in planned.items() if goal in succeeded and results[key] == 0
            ),
            "with_more_than_one_result": sum(1 for n in results.values() if n > 1),
            "started_again_after_a_kill": sum(1 for n in started.values() if n > 1),
        },
        "assignments": {
            "total": sum(assigned.values()),
            "retries": retries,
            "duplicated": sum(n - 1 for n in assigned.values() if n > 1),
        },
        "events": {
            "in_log": len(events),
            "acknowledged_to_chaos": len(acks),
            "lost": sum(1 for i, (_, seq) in acks.items() if at.get(i) != seq),
            "duplicated": sum(n - 1 for n in ids.values() if n > 1),
        },
        "agent_errors": dict(sorted(errors.items())),
        "not_ended_goals_last_events": {
            g: last_types[g] for g in sorted(goals) if completions[g] == 0
        },
        "projections_equal_replay": bool(
            live_complete and fresh_board == watch.board and fresh_progress == watch.progress
        ),
        "live_resubscriptions": watch.resubscribed,
    }


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 4222


async def _iterate(events: list[StoredEvent]) -> Any:
    for stored in events:
        yield stored


def broken(report: dict[str, Any]) -> list[str]:
    """The invariants a report breaks (empty: all hold)."""
    problems = []
    goals, tasks, events = report["goals"], report["tasks"], report["events"]
    if goals["completed_once"] != goals["submitted"]:
        problems.append("a goal did not end exactly once")
    if tasks["succeeded_goal_tasks_without_result"] or tasks["with_more_than_one_result"]:
        problems.append("a task does not have exactly one result")
    if report["assignments"]["duplicated"]:
        problems.append("a task was assigned twice for one attempt")
    if events["lost"] or events["duplicated"]:
        problems.append("an acknowledged event was lost or an event stored twice")
    if not report["projections_equal_replay"]:
        problems.append("the live projections differ from a fresh replay")
    return problems


def markdown(report: dict[str, Any]) -> str:
    """The report as the Markdown table the README quotes."""
    faults = report["faults"]
    goals, tasks, events = report["goals"], report["tasks"], report["events"]
    by_kind = ", ".join(f"{kind} {faults.get(kind, 0)}" for kind in KINDS)
    exits = report.get("exited_by_themselves", {})
    rows = [
        ("run", f"{report['duration_s']} s of faults, seed {report['seed']}"),
        ("faults injected", f"{sum(faults.values())}"),
        ("SIGKILL", f"{sum(faults.get(k, 0) for k in KINDS)}: {by_kind}"),
        (f"SIGSTOP pauses ({PAUSE_FOR[0]:g}-{PAUSE_FOR[1]:g} s)", f"{faults.get('pause', 0)}"),
        ("connections cut", f"{faults.get('cut', 0)}"),
        ("processes that exited by themselves", f"{sum(exits.values())}"),
        ("goals", f"{goals['submitted']} submitted, {goals['completed_once']} ended once, "
                  f"{goals['not_completed']} not ended, {goals['completed_twice']} twice"),
        ("tasks", f"{tasks['planned']} planned, {tasks['results']} results, "
                  f"{tasks['with_more_than_one_result']} with two or more, "
                  f"{tasks['started_again_after_a_kill']} started again after a kill"),
        ("assignments", f"{report['assignments']['total']} ({report['assignments']['retries']} "
                        f"retries), {report['assignments']['duplicated']} duplicated"),
        ("events", f"{events['in_log']} in the log, {events['acknowledged_to_chaos']} "
                   f"acknowledged to the run"),
        ("lost / duplicated", f"{events['lost']} / {events['duplicated']}"),
        ("projections = fresh replay", "yes" if report["projections_equal_replay"] else "NO"),
    ]  # fmt: skip
    lines = ["| chaos run | |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in rows)]
    return "\n".join(lines) + "\n"


async def run(
    duration: float, seed: int, drain: float, folder: Path, *, light: bool = True
) -> dict[str, Any]:
    """Run the chaos and return the report (``light``: pauses and cuts too, not only kills)."""
    rng = random.Random(seed)
    uid = str(ULID()).lower()
    config = StoreConfig(stream=f"CHAOS_{uid}", root=f"c{uid}", replicas=3)
    env = dict(os.environ)
    env.update(
        CALLSHEET_STREAM=config.stream,
        CALLSHEET_SUBJECT_ROOT=config.root,
        CALLSHEET_REPLICAS="3",
        CALLSHEET_HOME=str(folder),
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")]),
    )
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(folder / "cluster", sync="always")
    advertise_no_addresses(cluster.folder)  # clients come back through the proxy
    with cluster:
        await cluster.wait_ready()
        proxy = CuttingProxy([_host_port(node.url) for node in cluster.nodes])
        await proxy.start()
        env["CALLSHEET_NATS_URL"] = proxy.url  # the agents' connections can be cut
        nc = await nats.connect(
            servers=cluster.url.split(","),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            error_cb=_quiet,  # a killed node is the point of the run, not news
        )
        store = await EventStore.open(nc, config)
        procs = [
            Proc("gatekeeper", ["gatekeeper"], logs / "gatekeeper.log"),
            Proc("controller", ["agent", "run", "callsheet.crew:Controller", "--name",
                                "controller"], logs / "controller.log"),
            Proc("supervisor", ["agent", "run", "tools.chaos:ChaosSupervisor", "--name",
                                "supervisor"], logs / "supervisor.log"),
        ]  # fmt: skip
        for role in ROLES:
            for i in range(WORKERS_PER_ROLE):
                name = f"{role}-{i + 1}"
                args = ["worker", "--role", role, "--name", name, "--lease", str(LEASE)]
                procs.append(
                    Proc("worker", [*args, "--step-seconds", STEP_SECONDS], logs / f"{name}.log")
                )
        for proc in procs:
            proc.start(env)
        chaos = Chaos(cluster, procs, env, rng, proxy)
        watch = Watch()
        stop_watch, stop_faults = asyncio.Event(), asyncio.Event()
        follower = asyncio.create_task(_follow(store, watch, stop_watch))
        keeper = asyncio.create_task(chaos.keep_up(stop_watch))
        restarts: list[asyncio.Task[None]] = []
        injectors = [asyncio.create_task(chaos.inject(stop_faults, restarts))]
        if light:
            rngs = [random.Random(seed * 7 + k) for k in (1, 2)]
            injectors.append(asyncio.create_task(chaos.pauses(stop_faults, restarts, rngs[0])))
            injectors.append(asyncio.create_task(chaos.cuts(stop_faults, rngs[1])))
        acks: dict[str, tuple[str, int]] = {}
        stop_probe = asyncio.Event()
        prober = asyncio.create_task(_probe(store, stop_probe, acks))
        subject = f"{config.root}.api.publish.chaos"  # the producer is named by the subject
        started = time.monotonic()
        n = 0
        goals: list[str] = []
        try:
            while time.monotonic() - started < duration:
                open_goals = [g for g in goals if g not in watch.ended]
                if len(open_goals) < IN_FLIGHT:
                    n += 1
                    goals.append(await _submit(nc, subject, n, acks))
                else:
                    await asyncio.sleep(0.2)  # polling the live fold, bounded by the duration
            stop_faults.set()
            stop_probe.set()
            await prober
            await asyncio.gather(*injectors)
            await asyncio.gather(*restarts)
            end = time.monotonic() + drain
            while time.monotonic() < end and not set(goals) <= watch.ended:  # noqa: ASYNC110
                await asyncio.sleep(0.5)  # waiting for the last goals, bounded by --drain
            await asyncio.sleep(2.0)  # events following a goal's end (none are expected)
            report = await _check(store, watch, acks)
        finally:
            stop_probe.set()
            prober.cancel()
            stop_watch.set()
            follower.cancel()
            keeper.cancel()
            for proc in procs:
                proc.stop()
            await proxy.close()
            await nc.close()
    report = {"duration_s": duration, "seed": seed, "faults": dict(sorted(chaos.faults.items())),
              "exited_by_themselves": dict(sorted(chaos.exits.items())), **report}  # fmt: skip
    report["invariants_broken"] = broken(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: run, write the report, exit 1 if an invariant broke."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of faults")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain", type=float, default=180.0, help="seconds to let goals end")
    parser.add_argument("--out", type=Path, default=Path("chaos.json"))
    parser.add_argument(
        "--kills-only", action="store_true", help="no pauses, no cut connections: SIGKILLs only"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the processes' logs and the cluster here"
    )
    args = parser.parse_args(argv)
    # Stopped early: still stop every process of the run (the `finally` of run()).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    light = not args.kills_only
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run(args.duration, args.seed, args.drain, args.keep, light=light))
    else:
        with tempfile.TemporaryDirectory(prefix="callsheet-chaos-") as tmp:
            report = asyncio.run(run(args.duration, args.seed, args.drain, Path(tmp), light=light))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    for problem in report["invariants_broken"]:
        print(f"chaos: broken: {problem}", file=sys.stderr)
    return 1 if report["invariants_broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
