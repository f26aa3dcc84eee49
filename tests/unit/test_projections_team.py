"""The conflicts and context projections on hand-written sequences."""

from __future__ import annotations

from callsheet.events.catalog import (
    ConflictDetected,
    ConflictDetectedData,
    ConflictResolved,
    ConflictResolvedData,
    ContextUpdated,
    ContextUpdatedData,
    TaskStarted,
    TaskStartedData,
)
from callsheet.projections import conflicts, context
from tests.unit.test_projections_support import Script


def _conflicts(s: Script) -> conflicts.Conflicts:
    state = conflicts.initial()
    for event in s.events:
        state = conflicts.fold(state, event)
    return state


def _context(s: Script) -> context.ContextStore:
    state = context.initial()
    for event in s.events:
        state = context.fold(state, event)
    return state


def test_a_conflict_is_open_until_resolved() -> None:
    s = Script()
    detected = s.add(
        ConflictDetected,
        ConflictDetectedData(
            conflict_id="c1", kind="file", parties=["w1", "w2"], subject="auth.py"
        ),
        producer="watcher",
    )
    s.add(
        ConflictDetected,
        ConflictDetectedData(conflict_id="c2", kind="design", parties=["w2"], subject="api"),
        producer="watcher",
    )
    state = _conflicts(s)
    assert [c.conflict_id for c in conflicts.open_conflicts(state)] == ["c1", "c2"]
    c1 = state.by_id[("g1", "c1")]
    assert (c1.kind, c1.parties, c1.subject) == ("file", ("w1", "w2"), "auth.py")
    assert (c1.detected_by, c1.detected_at) == ("watcher", detected.occurred_at)

    resolved = s.add(
        ConflictResolved,
        ConflictResolvedData(
            conflict_id="c1",
            resolution="one_wins",
            decided_by="sup",
            winner="w2",
            notes="w1 rebases",
        ),
    )
    state = _conflicts(s)
    assert [c.conflict_id for c in conflicts.open_conflicts(state)] == ["c2"]
    (done,) = conflicts.resolved(state)
    assert (done.resolution, done.decided_by, done.winner) == ("one_wins", "sup", "w2")
    assert (done.notes, done.resolved_at, done.kind) == ("w1 rebases", resolved.occurred_at, "file")
    assert conflicts.open_conflicts(state, goal_id="other") == []


def test_conflict_ids_are_per_goal_and_a_stray_resolution_is_kept() -> None:
    s = Script()
    s.add(
        ConflictDetected,
        ConflictDetectedData(conflict_id="c1", kind="resource", parties=["w1"], subject="gpu"),
    )
    s.add(
        ConflictResolved,
        ConflictResolvedData(conflict_id="c1", resolution="queued", decided_by="sup"),
        goal="g2",
    )
    state = _conflicts(s)
    assert [c.goal_id for c in conflicts.open_conflicts(state)] == ["g1"]
    (stray,) = conflicts.resolved(state, goal_id="g2")
    assert (stray.kind, stray.parties, stray.resolution) == (None, (), "queued")


def test_other_events_leave_conflicts_alone() -> None:
    s = Script()
    s.add(TaskStarted, TaskStartedData(worker="w1"), task="t")
    state = conflicts.initial()
    assert conflicts.fold(state, s.events[0]) is state
    store = context.initial()
    assert context.fold(store, s.events[0]) is store


def test_context_keeps_the_current_entry_and_its_history() -> None:
    s = Script()
    first = s.add(
        ContextUpdated,
        ContextUpdatedData(
            key="api.auth", kind="interface_contract", value={"token": "str"}, author="sup"
        ),
    )
    s.add(
        ContextUpdated,
        ContextUpdatedData(
            key="db", kind="decision", value="postgres", author="sup", rationale="ops"
        ),
    )
    second = s.add(
        ContextUpdated,
        ContextUpdatedData(
            key="api.auth",
            kind="interface_contract",
            value={"token": "str", "ttl": "int"},
            author="w2",
            rationale="clients need expiry",
            supersedes=first.id,
        ),
    )
    store = _context(s)
    entry = context.current(store, "g1", "api.auth")
    assert entry is not None
    assert entry.value == {"token": "str", "ttl": "int"}
    assert (entry.kind, entry.current.author, entry.current.rationale) == (
        "interface_contract",
        "w2",
        "clients need expiry",
    )
    assert (entry.current.event_id, entry.current.updated_at) == (second.id, second.occurred_at)
    assert [r.event_id for r in entry.history] == [first.id]
    assert entry.history[0].value == {"token": "str"}
    assert not entry.stale
    assert [e.key for e in context.of_kind(store, "decision")] == ["db"]
    assert context.of_kind(store, "decision", goal_id="g2") == []
    assert context.current(store, "g2", "db") is None


def test_an_update_superseding_an_old_entry_is_flagged_stale() -> None:
    s = Script()
    first = s.add(ContextUpdated, ContextUpdatedData(key="k", kind="note", value=1, author="w1"))
    s.add(
        ContextUpdated,
        ContextUpdatedData(key="k", kind="note", value=2, author="w2", supersedes=first.id),
    )
    s.add(
        ContextUpdated,
        ContextUpdatedData(key="k", kind="constraint", value=3, author="w1", supersedes=first.id),
    )
    entry = context.current(_context(s), "g1", "k")
    assert entry is not None
    assert (entry.value, entry.kind, entry.stale, len(entry.history)) == (3, "constraint", True, 2)
    assert context.of_kind(_context(s), "note") == []
