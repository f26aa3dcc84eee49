"""Commands find the project's broker as git finds its repository, and say when they start one."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli_support import CLI, cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def user(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A user's shell: no CALLSHEET_HOME, no CALLSHEET_NATS_URL; servers stopped at the end."""
    env = {k: v for k, v in os.environ.items() if k not in ("CALLSHEET_HOME", "CALLSHEET_NATS_URL")}
    taken = [p for p in (tmp_path, *tmp_path.parents) if (p / ".callsheet").exists()]
    assert not taken, f"a .callsheet folder above the test's folder would be found: {taken}"
    try:
        yield env
    finally:
        for folder in (tmp_path / "project", tmp_path / "elsewhere"):
            if folder.is_dir():
                cli(env, "down", cwd=folder)


def test_a_subfolder_uses_the_projects_broker(user: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "src" / "agents"
    deep.mkdir(parents=True)
    up = cli(user, "up", cwd=project)
    assert up.returncode == 0, up.stderr
    url = up.stdout.split(" running at ")[1].split()[0]
    status = cli(user, "status", cwd=deep)
    assert status.returncode == 0, status.stdout
    assert f"running at {url} " in status.stdout
    data = '{"title": "from a subfolder"}'
    published = cli(user, "publish", "goal.submitted", "--goal", "g", "--data", data, cwd=deep)
    assert published.returncode == 0, published.stderr
    assert "started" not in published.stderr
    listed = cli(user, "events", "--goal", "g", cwd=project)
    assert "from a subfolder" in listed.stdout
    assert not (deep / ".callsheet").exists() and not (project / "src" / ".callsheet").exists()


def test_starting_a_new_embedded_server_is_said_with_its_folder(
    user: dict[str, str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.Popen(
        [*CLI, "worker", "--role", "backend"],
        env=user,
        cwd=elsewhere,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:  # ends if the worker exits
            lines.append(line)
            if " ready" in line:
                break
        said = "".join(lines)
        assert "callsheet: started the embedded nats-server at nats://127.0.0.1:" in said, said
        assert f"data in {elsewhere.resolve() / '.callsheet'} (a new project" in said
        assert "stop it with `callsheet down`" in said
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
