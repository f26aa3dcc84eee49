"""The callsheet command, run as a user runs it, against a real nats-server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ulid import ULID

from callsheet.events.catalog import EVENT_TYPES
from tests.e2e.cli_support import CLI, cli
from tests.support import assert_eventually

pytestmark = pytest.mark.e2e


def test_publish_then_read_back(env: dict[str, str]) -> None:
    out = cli(env, "publish", "goal.submitted", "--goal", "g 1", "--data", '{"title": "auth"}')
    assert out.returncode == 0, out.stderr
    event_id, seq = out.stdout.split()
    assert seq == "seq=1"
    data = '{"worker": "w1", "percent": 40}'
    out = cli(env, "publish", "task.progress", "--goal", "g 1", "--task", "t.1", "--data", data)
    assert out.returncode == 0, out.stderr
    listed = cli(env, "events", "--json")
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2]
    assert lines[0]["event"]["id"] == event_id
    assert lines[1]["event"]["data"]["percent"] == 40.0
    assert lines[1]["event"]["task_id"] == "t.1"
    human = cli(env, "events", "--goal", "g 1", "--type", "task.*")
    assert human.returncode == 0
    assert "task.progress" in human.stdout and "goal.submitted" not in human.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["goal.exploded", "--goal", "g", "--data", "{}"], "unknown event type 'goal.exploded'"),
        (["goal.submitted", "--goal", "g", "--data", "{not json"], "--data is not valid JSON"),
        (["goal.submitted", "--goal", "g", "--data", "{}"], "$.data.title: is required"),
        (["goal.submitted", "--goal", "g", "--data", '{"title": 5}'], "$.data.title: expected"),
        (["task.progress", "--goal", "g", "--data", '{"worker":"w","percent":1}'], "$.task_id"),
        (["goal.submitted", "--goal", "", "--data", '{"title": "x"}'], "$.goal_id"),
        (["goal.submitted", "--goal", "g", "--data", "@/no/such/file"], "cannot read"),
    ],
)
def test_publish_invalid_input_exits_2_with_one_line(
    env: dict[str, str], args: list[str], needle: str
) -> None:
    out = cli(env, "publish", *args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    assert cli(env, "events").stdout == ""


def test_publish_with_expected_sequence(env: dict[str, str]) -> None:
    base = ["task.started", "--goal", "g", "--task", "t", "--data", '{"worker": "w"}']
    assert cli(env, "publish", *base, "--expect-seq", "0").returncode == 0
    out = cli(env, "publish", *base, "--expect-seq", "0")
    assert out.returncode == 1
    assert "concurrency conflict" in out.stderr
    assert "expected last sequence 0, found 1" in out.stderr


def test_publish_large_event_from_file(env: dict[str, str], tmp_path: Path) -> None:
    output = "x" * (3 * 1024 * 1024)
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"worker": "w", "output": output}))
    out = cli(env, "publish", "task.result", "--goal", "g", "--task", "t", "--data", f"@{path}")
    assert out.returncode == 0, out.stderr
    listed = cli(env, "events", "--json")
    (line,) = listed.stdout.splitlines()
    assert json.loads(line)["event"]["data"]["output"] == output


def test_publish_from_stdin_and_duplicate_id(env: dict[str, str]) -> None:
    event_id = str(ULID())
    at = "2026-11-23T10:42:00+01:00"
    args = ["publish", "goal.submitted", "--goal", "g", "--id", event_id, "--occurred-at", at]
    args += ["--data", "-"]
    first = cli(env, *args, input='{"title": "a"}')
    again = cli(env, *args, input='{"title": "a"}')
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0
    assert "already stored" in again.stdout
    # Same id, different body: refused, and the stored event is unchanged.
    forged = cli(env, *args, input='{"title": "b"}')
    assert forged.returncode == 1
    assert "different body" in forged.stderr
    listed = [json.loads(x) for x in cli(env, "events", "--json").stdout.splitlines()]
    assert [x["event"]["data"]["title"] for x in listed] == ["a"]


def test_events_follow(env: dict[str, str]) -> None:
    cli(env, "publish", "goal.submitted", "--goal", "g", "--data", '{"title": "a"}')
    follower = subprocess.Popen(
        [*CLI, "events", "--follow", "--limit", "2", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        assert first["seq"] == 1
        cli(env, "publish", "goal.cancelled", "--goal", "g", "--data", '{"reason": "done"}')
        second = json.loads(follower.stdout.readline())
        assert second["event"]["type"] == "goal.cancelled"
        assert follower.wait(timeout=30) == 0
    finally:
        follower.kill()


def test_events_bad_filters_exit_2(env: dict[str, str]) -> None:
    out = cli(env, "events", "--type", "nodot")
    assert out.returncode == 2
    assert "category.action" in out.stderr


def test_schema_is_generated(env: dict[str, str]) -> None:
    out = cli(env, "schema")
    assert out.returncode == 0
    text = out.stdout
    for event_type in EVENT_TYPES:
        assert f'"{event_type}"' in text
    json.loads(text)
    api = json.loads(cli(env, "schema", "--asyncapi").stdout)
    assert api["asyncapi"].startswith("3.")
    listed = cli(env, "schema", "--types").stdout.split()
    assert listed == sorted(EVENT_TYPES)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A project with no CALLSHEET_NATS_URL: commands use the embedded broker."""
    result = {k: v for k, v in os.environ.items() if k != "CALLSHEET_NATS_URL"}
    result["CALLSHEET_HOME"] = str(tmp_path)
    yield result
    subprocess.run([*CLI, "down"], env=result, capture_output=True, timeout=60, check=False)


def test_demo_on_the_embedded_broker(project: dict[str, str], tmp_path: Path) -> None:
    out = cli(project, "demo", "--goal", "demo-goal", timeout=180)
    assert out.returncode == 0, out.stderr
    assert "started the embedded nats-server" in out.stderr
    assert "outcome: succeeded" in out.stdout
    lines = [x.strip() for x in out.stdout.splitlines()]
    for task in ("schema", "api", "ui", "tests"):
        assert any(line.split()[:2] == [task, "done"] for line in lines), out.stdout
    # The api worker was killed halfway and the other backend worker took the task over.
    assert any("killed backend-" in line and "halfway through api" in line for line in lines)
    api = next(line for line in lines if line.split()[:2] == ["api", "done"])
    assert "deliveries 2" in api
    summary = next(line for line in lines if "after" in line and "events" in line)
    count = int(summary.split(" after ")[1].split()[0])
    assert (tmp_path / ".callsheet").is_dir()
    status = cli(project, "status")
    assert status.returncode == 0 and "running at nats://" in status.stdout
    # A second command reuses the running server and sees the same log.
    again = cli(project, "events", "--goal", "demo-goal", "--json")
    logged = [json.loads(line)["event"] for line in again.stdout.splitlines()]
    assert len(logged) == count
    assert "started" not in again.stderr
    # Exactly one result per task; the killed task was started by two different workers.
    results = [e["task_id"] for e in logged if e["type"] == "task.result"]
    assert sorted(results) == ["api", "schema", "tests", "ui"]
    starts = [
        e["data"]["worker"] for e in logged if e["type"] == "task.started" and e["task_id"] == "api"
    ]
    assert len(starts) == 2 and len(set(starts)) == 2
    # The second delivery resumed from the first worker's checkpoint.
    api_result = next(e for e in logged if e["type"] == "task.result" and e["task_id"] == "api")
    assert api_result["data"]["output"]["resumed_from"] is not None
    # Every re-drive the summary points to runs, and finds the log as the crew left it.
    redrives = [line.split()[1:] for line in lines if line.startswith("callsheet redrive")]
    assert [args[1] for args in redrives] == [
        "callsheet.crew:Supervisor",
        "callsheet.crew:SpecialistWorker",
        "callsheet.examples.redrive.changed_supervisor:EagerSupervisor",
        "callsheet.examples.redrive.changed_worker:ForgetfulWorker",
    ]
    for args in redrives[:2]:  # the changed ones are run by test_readme
        out = cli(project, *args)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        assert "identical to the log" in out.stdout
    down = cli(project, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert cli(project, "status").returncode == 1


def test_up_on_a_taken_port_says_so(project: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = cli(project, "up", "--port", str(port))
    assert out.returncode == 2
    assert f"port {port}" in out.stderr and "already in use" in out.stderr


async def test_gatekeeper_and_dead_letters(env: dict[str, str]) -> None:
    import nats

    assert "no dead letters" in cli(env, "dead-letters").stdout
    # The gatekeeper runs as the user runs it: a separate process, blocking here is fine.
    keeper = subprocess.Popen(  # noqa: ASYNC220
        [*CLI, "gatekeeper"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert keeper.stderr is not None
        assert "gatekeeper ready" in keeper.stderr.readline()
        root = env["CALLSHEET_SUBJECT_ROOT"]
        nc = await nats.connect(env["CALLSHEET_NATS_URL"])
        try:
            await nc.jetstream().publish(f"{root}.in.svc", b"not json at all")
        finally:
            await nc.close()

        def listed() -> bool:
            return "invalid_event" in cli(env, "dead-letters").stdout

        await assert_eventually(listed, timeout=30, message="dead letter not listed")
        out = cli(env, "dead-letters", "--json")
        record = json.loads(out.stdout.splitlines()[0])
        assert record["body_text"] == "not json at all"
        assert "not valid JSON" in record["error"]
        keeper.terminate()
        assert keeper.wait(timeout=30) == 0
        assert "1 dead-lettered" in keeper.stderr.read()
    finally:
        keeper.kill()
