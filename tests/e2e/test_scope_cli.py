"""``callsheet scope``: a person widens a running review, the crew replans; refusals: one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli_support import CLI, Processes, cli
from tests.e2e.test_crew_failures import open_log

pytestmark = pytest.mark.e2e

SHOP = Path(__file__).parents[2] / "examples" / "review" / "shop"
GOAL = "review-scope"


async def _assigned(env: dict[str, str], prefix: str) -> None:
    nc, store = await open_log(env)
    try:
        async with store.subscribe(goal_id=GOAL, types=["task.assigned"]) as sub:
            async for stored in sub:
                if (stored.event.task_id or "").startswith(prefix):
                    return
    finally:
        await nc.close()


def test_a_person_adds_a_perspective_to_a_running_review_and_the_report_covers_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    review = subprocess.Popen(
        [*CLI, "review", str(SHOP), "--workers", "0", "--perspectives", "style", "--goal", GOAL,
         "--sarif", "out.sarif", "--no-progress"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    procs = Processes(env)
    try:
        asyncio.run(asyncio.wait_for(_assigned(env, "analyze"), 120))
        unread = cli(env, "scope", GOAL, "also check the docs")
        assert unread.returncode == 2
        assert unread.stderr.strip().splitlines() == [
            f"callsheet: error: scope of review {GOAL!r}: 'docs' is not understood: say which "
            "perspectives to add or skip (security, bugs, complexity, style, tests), "
            "e.g. 'also check security' or 'skip style'"
        ]
        unknown = cli(env, "scope", "no-such-goal", "also check security")
        assert unknown.returncode == 2 and "no goal 'no-such-goal'" in unknown.stderr
        asked = cli(env, "scope", GOAL, "also check security")
        assert asked.returncode == 0, asked.stderr
        assert f"scope of {GOAL} changed (+security)" in asked.stdout
        procs.start("agent", "run", "callsheet.review:AnalystWorker", "--name", "analyst-1")
        _, err = review.communicate(timeout=300)
        assert review.returncode == 0, err
    finally:
        procs.stop()
        if review.poll() is None:
            review.kill()
    replans = cli(env, "events", "--goal", GOAL, "--type", "plan.replanned", "--json")
    reasons = [json.loads(line)["event"]["data"] for line in replans.stdout.splitlines()]
    (scoped,) = [r for r in reasons if r["trigger"] == "scope_changed"]
    assert scoped["removed"] == ["report"]
    assert [t["task_id"] for t in scoped["added"]] == ["analyze-v3", "verify-v3", "report-v3"]
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    rules = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
    assert {"S602", "S608", "I001"} <= rules  # the shop's planted security and style problems
    report = (tmp_path / "callsheet-review.md").read_text()
    assert "| security |" in report
    ended = cli(env, "scope", GOAL, "skip style")
    assert ended.returncode == 2
    assert f"goal {GOAL!r}: it has ended (succeeded); its scope cannot change" in ended.stderr
    # The supervisor's decisions re-drive as recorded.
    redrive = cli(
        env,
        *("redrive", "callsheet.review:ReviewSupervisor", "--goal", GOAL),
        *("--name", "review-supervisor", "--arg", "lease_seconds=60"),
    )
    assert redrive.returncode == 0 and "identical to the log" in redrive.stdout, redrive.stdout
