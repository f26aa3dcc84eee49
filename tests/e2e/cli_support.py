"""Running the ``callsheet`` command in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ulid import ULID

CLI = [sys.executable, "-m", "callsheet.cli"]


def cli_env(nats_url: str, home: Path) -> dict[str, str]:
    """Environment with the given server and a stream and subject root no other test uses."""
    uid = str(ULID()).lower()
    result = dict(os.environ)
    result.update(
        CALLSHEET_NATS_URL=nats_url,
        CALLSHEET_STREAM=f"E_{uid}",
        CALLSHEET_SUBJECT_ROOT=f"e{uid}",
        CALLSHEET_HOME=str(home),
    )
    return result


def cli(
    env: dict[str, str],
    *args: str,
    input: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``callsheet ARGS`` (in ``cwd``) and capture its output; never raises on an exit code."""
    return subprocess.run(
        [*CLI, *args],
        env=env,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Processes:
    """Agent processes started with the ``callsheet`` command; all stopped at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: list[subprocess.Popen[str]] = []

    def start(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """Start ``callsheet ARGS`` (in ``cwd``) and wait until it says it is ready."""
        proc = subprocess.Popen(
            [*CLI, *args],
            env=self.env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.running.append(proc)
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # ends when the process exits
            seen.append(line)
            if " ready" in line:
                return proc
        raise AssertionError(f"callsheet {' '.join(args)} exited: {''.join(seen)}")

    def stop(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.running:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
