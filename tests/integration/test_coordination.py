"""The five coordination patterns of examples/coordination, each run against a real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callsheet.agents.ratelimit import RateLimit
from callsheet.events.store import EventStore
from examples.coordination import choreography, hierarchical, hub_and_spoke, pipeline, swarm


async def test_hub_and_spoke_takes_about_the_slowest_task_not_the_sum(store: EventStore) -> None:
    summary = await hub_and_spoke.run(store)
    assert summary.outcome == "succeeded"
    assert len(summary.task_seconds) == len(hub_and_spoke.DURATIONS)
    assert len(summary.workers) > 1  # the spokes worked in parallel
    slowest = max(summary.task_seconds.values())
    assert summary.wall_seconds >= slowest
    assert summary.wall_seconds < 0.6 * summary.sum_seconds


async def test_pipeline_dead_letters_failures_and_its_breaker_stops_feeding(
    store: EventStore,
) -> None:
    summary = await pipeline.run(store)
    assert summary.outcome == "partial"
    assert summary.loaded == ["a", "b"]
    assert summary.dead == ["bad1", "bad2"]
    assert summary.breaker_seq is not None
    assert summary.held == ["late1", "late2"]  # reached transform after the breaker opened
    assert summary.transform_assigned_after_breaker == 0


async def test_pipeline_without_failures_succeeds(store: EventStore) -> None:
    summary = await pipeline.run(store, items="x,y,z")
    assert (summary.outcome, summary.loaded, summary.dead, summary.held) == (
        "succeeded",
        ["x", "y", "z"],
        [],
        [],
    )
    assert summary.breaker_seq is None


async def test_swarm_reaches_consensus(store: EventStore) -> None:
    summary = await swarm.run(store, starts=(10.0, 40.0, 70.0), tolerance=1.0, max_rounds=8)
    assert summary.outcome == "succeeded"
    assert summary.decision["estimate"] == pytest.approx(40.0, abs=1.0)
    assert 1 <= summary.rounds <= 8


async def test_a_swarm_that_does_not_converge_stops_at_the_iteration_limit(
    store: EventStore,
) -> None:
    summary = await swarm.run(store, stubborn=True, max_rounds=3)
    assert summary.outcome == "failed" and summary.decision is None
    # Three contributors, rounds 0..3, and none past the limit.
    assert summary.rounds == 3
    assert summary.proposals == 3 * (3 + 1)


async def test_hierarchy_delegates_to_sub_supervisors(store: EventStore) -> None:
    summary = await hierarchical.run(store, "h-ok")
    assert summary.outcome == "succeeded" and summary.reassigned == []
    assert summary.sub_tasks == {
        "api.backend-lead.1": "api",
        "api.backend-lead.2": "api",
        "ui.frontend-lead.1": "ui",
        "ui.frontend-lead.2": "ui",
    }
    assert summary.deepest == 1


async def test_a_failing_domain_escalates_to_another(store: EventStore) -> None:
    summary = await hierarchical.run(store, "h-esc", backend_broken=True)
    assert summary.outcome == "succeeded"
    assert summary.reassigned == [("backend-lead", "frontend-lead")]
    assert "api.frontend-lead.1" in summary.sub_tasks  # the other domain's team did it


async def test_the_fourth_level_of_supervisors_is_refused(store: EventStore) -> None:
    summary = await hierarchical.run_deep(store)
    assert summary.deepest == 2  # levels 1 (top), 2 and 3 planned; the 4th was refused
    assert len(summary.topology_errors) == 1
    assert "capped at 3 levels" in summary.topology_errors[0]
    assert summary.outcome == "failed"


async def test_choreography_fans_out_and_its_storm_is_rate_limited(store: EventStore) -> None:
    summary = await choreography.run(store, limit=10)
    assert summary.reactions_to_artifact == {"linter": "lint.report", "indexer": "index.report"}
    assert summary.echoes == 10 and summary.stops == 1


def test_rate_limit_counts_a_sliding_window_of_event_time() -> None:
    limit = RateLimit(2, per_seconds=10)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert limit.allows("g", t0)
    limit.record("g", t0)
    limit.record("g", t0 + timedelta(seconds=1))
    assert not limit.allows("g", t0 + timedelta(seconds=2))
    assert limit.allows("other", t0 + timedelta(seconds=2))
    assert limit.allows("g", t0 + timedelta(seconds=10.5))  # the first one left the window
    with pytest.raises(ValueError, match="limit >= 1"):
        RateLimit(0, 1)
