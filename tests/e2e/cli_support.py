"""Running the ``callsheet`` command in a subprocess, as a user runs it."""

from __future__ import annotations

import os
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
