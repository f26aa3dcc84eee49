"""Tool calls: real subprocesses with timeouts, recorded as tool.called, answered on a re-drive."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callsheet.agents import Agent, HandlerContext
from callsheet.agents.tools import (
    Invocation,
    ToolError,
    call_recorded,
    call_tool,
    recorded_calls,
    resolve,
    run_tool,
)
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData, ToolCalled
from callsheet.events.store import StoredEvent

PY = "python-tool"


@pytest.fixture(autouse=True)
def python_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    # A "tool" named python-tool that is this interpreter: scripts given with -c.
    monkeypatch.setenv("CALLSHEET_TOOL_PYTHON_TOOL", sys.executable)


def script(code: str, cwd: str, **kw: object) -> Invocation:
    return Invocation(PY, ("-c", code), cwd, **kw)  # type: ignore[arg-type]


async def test_a_run_gives_exit_status_output_files_and_the_exact_command(tmp_path: Path) -> None:
    code = (
        "import sys, pathlib; print('out'); print('err', file=sys.stderr); "
        "pathlib.Path(sys.argv[1]).write_text('made')"
    )
    inv = Invocation(
        PY, ("-c", code, "{tmp}/file.txt"), str(tmp_path), outputs={"file": "{tmp}/file.txt"}
    )
    run = await run_tool(inv)
    assert (run.exit_code, run.stdout, run.stderr) == (0, "out\n", "err\n")
    assert run.outputs == {"file": "made"}
    assert run.command[0] == sys.executable and run.command[-1].endswith("/file.txt")
    assert "{tmp}" not in run.command[-1]
    assert not os.listdir(tmp_path)  # nothing written where it ran


async def test_a_status_the_tool_does_not_use_is_a_retryable_crash(tmp_path: Path) -> None:
    inv = script(
        "import sys; print('boom', file=sys.stderr); sys.exit(3)",
        str(tmp_path),
        ok_exit=frozenset({0, 1}),
    )
    with pytest.raises(ToolError, match=r"python-tool: exited with status 3: boom") as caught:
        await run_tool(inv)
    assert caught.value.retryable


async def test_a_tool_that_runs_too_long_is_killed_with_what_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time, pathlib;"
        f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"pathlib.Path({str(marker)!r}).write_text(str(c.pid)); time.sleep(60)"
    )
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"still running after 1 s: stopped") as caught:
        await run_tool(script(code, str(tmp_path), timeout=1.0))
    assert time.monotonic() - started < 10
    assert not caught.value.retryable
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"the tool's child {child} survived the timeout")


async def test_a_missing_tool_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolError, match="not installed"):
        resolve("no-such-tool-anywhere")
    monkeypatch.setenv("CALLSHEET_TOOL_BROKEN", "/nonexistent/bin/broken")
    with pytest.raises(ToolError, match="cannot start /nonexistent/bin/broken") as caught:
        await run_tool(Invocation("broken", (), str(tmp_path)))
    assert not caught.value.retryable


async def test_a_private_copy_leaves_the_tree_untouched_and_skips_caches(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    code = "import os; open('written.txt', 'w').write('x'); print(sorted(os.listdir('.')))"
    run = await run_tool(script(code, "{copy}", copy_of=str(tmp_path)))
    assert run.stdout.strip() == "['a.py', 'written.txt']"
    assert sorted(os.listdir(tmp_path)) == [".git", "a.py"]


def test_the_digest_names_the_logical_command_not_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv = Invocation("ruff", ("check", "a.py"), "/src")
    before = inv.digest()
    monkeypatch.setenv("CALLSHEET_TOOL_RUFF", "/elsewhere/ruff")
    assert inv.digest() == before
    assert Invocation("ruff", ("check", "b.py"), "/src").digest() != before


class Probe(Agent):
    kind = "worker"


def context() -> HandlerContext:
    cause = GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g", producer="p")
    stored = StoredEvent(1, "s", datetime.now(UTC), cause)
    return HandlerContext(Probe("probe"), "h", stored, {})


async def test_a_call_is_recorded_and_a_redrive_answers_it_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = context()
    inv = script("print('answer')", str(tmp_path))
    run, evidence = await call_tool(live, inv)
    (recorded,) = live.emitted
    assert isinstance(recorded, ToolCalled) and recorded.id == evidence
    d = recorded.data
    assert (d.tool, d.exit_code, d.request_digest) == (PY, 0, inv.digest())
    assert d.result == {"stdout": "answer\n", "stderr": "", "outputs": {}}
    assert d.command[0] == sys.executable and d.output_digest is not None
    monkeypatch.setenv("CALLSHEET_TOOL_PYTHON_TOOL", "/nonexistent/python")  # running would fail
    again = context()
    again.recorded_tools = recorded_calls(live.emitted)
    replayed, _ = await call_tool(again, inv)
    replayed_event = again.emitted[0]
    assert isinstance(replayed_event, ToolCalled)
    assert replayed.stdout == run.stdout and replayed_event.data == d
    with pytest.raises(LookupError, match="no recorded python-tool call"):
        await call_tool(again, inv)  # the log holds one such call, already answered


async def test_a_failure_is_recorded_and_replayed_as_the_same_failure(tmp_path: Path) -> None:
    live = context()
    inv = script("import sys; sys.exit(9)", str(tmp_path))
    with pytest.raises(ToolError) as first:
        await call_tool(live, inv)
    (recorded,) = live.emitted
    assert isinstance(recorded, ToolCalled) and recorded.data.exit_code == 9
    again = context()
    again.recorded_tools = recorded_calls(live.emitted)
    with pytest.raises(ToolError) as second:
        await call_tool(again, inv)
    assert str(second.value) == str(first.value) and second.value.retryable


async def test_an_in_process_read_is_recorded_too() -> None:
    live = context()
    reads = []

    async def read() -> dict[str, int]:
        reads.append(1)
        return {"lines": 3}

    result, _ = await call_recorded(live, "count", {"path": "a.py"}, read)
    again = context()
    again.recorded_tools = recorded_calls(live.emitted)
    replayed, _ = await call_recorded(again, "count", {"path": "a.py"}, read)
    assert result == replayed == {"lines": 3} and reads == [1]
