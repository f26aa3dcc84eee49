"""The test kit as a user meets it: a project of their own, run by pytest, with the plugin.

The plugin is found through its ``pytest11`` entry point (nothing names it): the
user's tests below use its fixtures and helpers in pytest-asyncio's strict mode,
as a project without callsheet's own settings would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

USER_TESTS = """
import pytest
from callsheet.crew import Controller, build_crew
from callsheet.events.catalog import (
    GoalSubmitted, GoalSubmittedData, TaskProgress, TaskProgressData,
)
from callsheet.models import ModelError, ModelRequest
from callsheet.projections import PROJECTIONS
from callsheet.testing import (
    RecordedModel,
    assert_redrives_identically,
    publish,
    wait_for_event,
    wait_for_state,
)

BOARD = PROJECTIONS["board"]


@pytest.mark.asyncio
async def test_publish_and_wait(callsheet_store):
    await publish(callsheet_store, GoalSubmitted, GoalSubmittedData(title="Invoices"), goal="g1")
    data = TaskProgressData(worker="me", percent=40.0)
    await publish(callsheet_store, TaskProgress, data, goal="g1", task="t1", producer="me")
    board = await wait_for_state(
        callsheet_store, BOARD, lambda b: "t1" in b.tasks, goal="g1", timeout=10
    )
    assert board.tasks["t1"].percent == 40.0
    got = await wait_for_event(callsheet_store, goal="g1", types=["task.progress"])
    assert got.event.producer == "me"


@pytest.mark.asyncio
async def test_waiting_for_what_never_comes_fails_with_a_deadline(callsheet_store):
    with pytest.raises(AssertionError, match="within 0.3 s"):
        await wait_for_event(callsheet_store, goal="nothing", timeout=0.3)


@pytest.mark.asyncio
@pytest.mark.callsheet_crew(roles=("research", "backend", "frontend"))
async def test_a_crew_completes_a_goal_and_redrives(callsheet_store, callsheet_crew):
    await publish(callsheet_store, GoalSubmitted, GoalSubmittedData(title="Ship"), goal="g2")
    await wait_for_event(callsheet_store, goal="g2", types=["goal.completed"], timeout=30)
    board = await wait_for_state(callsheet_store, BOARD, lambda b: b.outcome, goal="g2")
    assert board.outcome == "succeeded" and len(board.tasks) >= 2
    await assert_redrives_identically(Controller("controller"), callsheet_store, goal="g2")


@pytest.mark.asyncio
async def test_with_the_recorded_model(callsheet_store, callsheet_agents, recorded_model):
    await callsheet_agents(*build_crew(("backend",), model=recorded_model, step_seconds=0.01))
    await publish(callsheet_store, GoalSubmitted, GoalSubmittedData(title="Recorded"), goal="g3")
    await wait_for_event(callsheet_store, goal="g3", types=["goal.completed"], timeout=30)
    if isinstance(recorded_model, RecordedModel):
        assert recorded_model.asked  # answered from the recording
        with pytest.raises(ModelError, match="no recorded answer"):
            await recorded_model.complete(ModelRequest(task="plan", prompt="never asked"))


@pytest.mark.asyncio
async def test_on_the_container_backend(request, callsheet_store):
    assert request.config.getoption("--callsheet-backend") == "container"
"""


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSHEET_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_users_project_tests_its_crew_with_the_kit(tmp_path: Path) -> None:
    project = tmp_path / "users_project"
    project.mkdir()
    (project / "test_mine.py").write_text(USER_TESTS)
    recording = project / "recordings" / "test_mine.test_with_the_recorded_model.jsonl"

    # Without a recording, the recorded model's test says how to make one.
    first = run_pytest(project, "-k", "recorded_model")
    assert first.returncode == 1, first.stdout
    assert "no model recording at" in first.stdout and "--callsheet-record" in first.stdout

    recorded = run_pytest(project, "-k", "recorded_model", "--callsheet-record")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert recording.is_file() and recording.read_text().count("\n") >= 2

    # Played back: every test passes but the container one, skipped with its reason.
    out = run_pytest(project, "-k", "not container")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 passed" in out.stdout, out.stdout

    container = run_pytest(project, "-k", "container", "--callsheet-backend", "container")
    assert container.returncode == 0, container.stdout + container.stderr
    assert "1 skipped" in container.stdout
    # This machine (and CI) has no Docker engine: the reason says so.
    assert "the container backend cannot run: no Docker engine answers" in container.stdout
