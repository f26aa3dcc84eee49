"""A short chaos run: processes and a broker node SIGKILLed, processes paused and
connections cut while the crew works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.timeout(180)
def test_a_short_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, "-m", "tools.chaos", "--duration", "20", "--seed", "7",
         "--drain", "40", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert out.exists(), done.stderr
    report = json.loads(out.read_text())
    assert sum(report["faults"].values()) > 0
    assert report["faults"].get("pause", 0) > 0
    assert report["faults"].get("cut", 0) > 0
    assert report["goals"]["submitted"] > 0
    # Every goal ended, exactly once (the supervisor used to die on a failover's timeout).
    assert report["goals"]["completed_once"] == report["goals"]["submitted"], report[
        "not_ended_goals_last_events"
    ]
    assert report["exited_by_themselves"] == {}
    assert report["events"]["acknowledged_to_chaos"] > 0
    assert report["events"]["lost"] == 0
    assert report["events"]["duplicated"] == 0
    assert report["goals"]["completed_twice"] == 0
    assert report["tasks"]["with_more_than_one_result"] == 0
    assert report["assignments"]["duplicated"] == 0
    assert report["projections_equal_replay"] is True
    assert (done.returncode == 0) == (report["invariants_broken"] == [])
