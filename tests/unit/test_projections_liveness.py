"""The liveness projection: signs of life, tasks held and missed leases."""

from __future__ import annotations

from datetime import timedelta

from callsheet.events.catalog import (
    GoalCompleted,
    GoalCompletedData,
    Replanned,
    ReplannedData,
    TaskAssigned,
    TaskAssignedData,
    TaskCancelled,
    TaskCancelledData,
    TaskFailed,
    TaskFailedData,
    TaskHeartbeat,
    TaskHeartbeatData,
    TaskProgress,
    TaskProgressData,
    TaskReassigned,
    TaskReassignedData,
    TaskResult,
    TaskResultData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.projections import liveness
from callsheet.projections.liveness import Lease, MissedLease, missed_leases
from tests.unit.test_projections_support import Script


def _live(s: Script) -> liveness.Liveness:
    state = liveness.initial()
    for event in s.events:
        state = liveness.fold(state, event)
    return state


def _started(s: Script, task: str, worker: str, lease: float = 30) -> None:
    s.add(TaskAssigned, TaskAssignedData(role="r", lease_seconds=lease), task=task)
    s.add(TaskStarted, TaskStartedData(worker=worker), task=task, producer=worker)


def test_heartbeats_renew_the_lease_and_a_result_gives_it_back() -> None:
    s = Script()
    _started(s, "t1", "w1")
    _started(s, "t2", "w1", lease=60)
    beat = s.add(TaskHeartbeat, TaskHeartbeatData(worker="w1"), task="t1", after=10)
    state = _live(s)
    w1 = state.agents["w1"]
    assert w1.tasks_held == (("g1", "t1"), ("g1", "t2"))
    assert w1.last_heartbeat_at == beat.occurred_at
    assert state.leases[("g1", "t1")] == Lease(
        "g1", "t1", "w1", beat.occurred_at + timedelta(seconds=30)
    )
    progress = s.add(TaskProgress, TaskProgressData(worker="w1", percent=10), task="t2")
    state = _live(s)
    assert state.agents["w1"].last_seen_at == progress.occurred_at
    assert state.agents["w1"].last_heartbeat_at == beat.occurred_at
    s.add(TaskResult, TaskResultData(worker="w1", output=None), task="t1", after=5)
    s.add(TaskCancelled, TaskCancelledData(reason="dropped"), task="t2", after=500)
    state = _live(s)
    assert state.agents["w1"].tasks_held == ()
    assert state.leases == {}
    # Given back, not taken away: nothing was missed, however late.
    assert missed_leases(state, s.now + timedelta(days=1)) == []


def test_a_task_taken_away_after_its_lease_ran_out_is_a_missed_lease() -> None:
    s = Script()
    _started(s, "t1", "w1", lease=30)
    started_at = s.now
    failed = s.add(TaskFailed, TaskFailedData(reason="silent"), task="t1", after=45)
    s.add(
        TaskReassigned,
        TaskReassignedData(from_role="r", to_role="r", reason="retry", attempt=2),
        task="t1",
    )
    s.add(TaskStarted, TaskStartedData(worker="w2", attempt=2), task="t1", producer="w2")
    state = _live(s)
    assert state.missed == (
        MissedLease(
            goal_id="g1",
            task_id="t1",
            worker="w1",
            expired_at=started_at + timedelta(seconds=30),
            noticed_by="task.failed",
            event_id=failed.id,
        ),
    )
    assert state.agents["w1"].missed == 1
    assert state.agents["w1"].tasks_held == ()
    assert state.agents["w2"].tasks_held == (("g1", "t1"),)


def test_taken_away_in_time_is_not_missed_and_other_takeovers_are() -> None:
    s = Script()
    _started(s, "t1", "w1", lease=30)
    s.add(TaskAssigned, TaskAssignedData(role="r", attempt=2), task="t1", after=10)
    _started(s, "t2", "w1", lease=30)
    # Another worker picks t2 up after w1's lease ran out: a redelivery.
    s.add(TaskStarted, TaskStartedData(worker="w2"), task="t2", after=31)
    state = _live(s)
    assert [(m.task_id, m.noticed_by) for m in state.missed] == [("t2", "task.started")]


def test_missed_leases_as_of_a_time_finds_leases_nobody_acted_on() -> None:
    s = Script()
    _started(s, "t1", "w1", lease=30)
    _started(s, "t2", "w2", lease=300)
    state = _live(s)
    assert missed_leases(state, s.now + timedelta(seconds=10)) == []
    (late,) = missed_leases(state, s.now + timedelta(seconds=60))
    assert (late.task_id, late.worker, late.noticed_by, late.event_id) == (
        "t1",
        "w1",
        "clock",
        None,
    )
    assert len(missed_leases(state, s.now + timedelta(hours=1))) == 2


def test_the_end_of_a_goal_or_a_replan_gives_leases_back() -> None:
    s = Script()
    _started(s, "t1", "w1")
    _started(s, "t2", "w1")
    s.add(
        Replanned,
        ReplannedData(plan_version=2, trigger="other", reason="r", removed=["t1"]),
        after=100,
    )
    assert list(_live(s).leases) == [("g1", "t2")]
    s.add(GoalCompleted, GoalCompletedData(outcome="succeeded"))
    state = _live(s)
    assert state.leases == {}
    assert state.missed == ()


def test_lease_until_from_a_heartbeat_and_endless_leases() -> None:
    s = Script()
    _started(s, "t1", "w1", lease=1e300)
    assert _live(s).leases[("g1", "t1")].expires_at is None
    until = s.now + timedelta(minutes=5)
    s.add(TaskHeartbeat, TaskHeartbeatData(worker="w1", lease_until=until), task="t1")
    assert _live(s).leases[("g1", "t1")].expires_at == until


def test_a_question_renews_only_the_lease_of_the_worker_holding_the_task() -> None:
    from callsheet.events.catalog import (
        TaskPlanned,
        TaskPlannedData,
        TaskQuestion,
        TaskQuestionData,
    )
    from callsheet.projections import board

    def ask(s: Script, task: str, who: str, after: float) -> None:
        data = TaskQuestionData(question_id=f"q-{task}", worker=who, question="?")
        s.add(TaskQuestion, data, task=task, producer=who, after=after)

    s = Script()
    s.add(TaskPlanned, TaskPlannedData(title="later", role="r"), task="t0")
    ask(s, "t0", "supervisor", after=1)  # about a task nobody holds: not a sign of its life
    _started(s, "t1", "w1", lease=30)
    ask(s, "t1", "w1", after=20)  # the holder asks: its lease runs 30 s from here
    state = _live(s)
    assert set(state.leases) == {("g1", "t1")}
    assert state.leases[("g1", "t1")].expires_at == s.events[-1].occurred_at + timedelta(seconds=30)
    assert "supervisor" not in state.agents
    # A planned task stays without a worker or a lease on the board, long after.
    s.add(TaskAssigned, TaskAssignedData(role="r"), task="t0", after=100)
    s.add(TaskStarted, TaskStartedData(worker="w2"), task="t0", producer="w2")
    state = _live(s)
    assert state.missed == ()
    cards = board.initial()
    for event in s.events[:2]:
        cards = board.fold(cards, event)
    t0 = cards.tasks["t0"]
    assert (t0.worker, t0.lease_expires_at, t0.status) == (None, None, "planned")
