"""Agent processes a command starts beside itself (``callsheet agent run``), and stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["AgentProcess", "spawn_agent", "stop_all"]


@dataclass
class AgentProcess:
    """A running ``callsheet agent run`` child.

    Attributes:
        name: The agent's name.
        process: The child process.
        killed: Set when it was killed on purpose.
    """

    name: str
    process: asyncio.subprocess.Process
    killed: bool = False

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    async def _drain(self) -> None:
        assert self.process.stderr is not None
        while await self.process.stderr.readline():
            pass

    async def ready(self, timeout: float) -> None:
        """Wait until it says it is ready (its consumers exist).

        Raises:
            RuntimeError: It exited or said nothing in time; the message has its last words.
        """
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        said: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = await asyncio.wait_for(self.process.stderr.readline(), left)
            except TimeoutError:
                break
            if not line:
                break
            text = line.decode("utf-8", "replace").rstrip()
            if text.endswith(" ready"):
                # Keep reading its stderr so that the pipe never fills up.
                asyncio.get_running_loop().create_task(self._drain())
                return
            said.append(text)
        code = self.process.returncode
        last = "; ".join(said[-3:]) or "nothing"
        raise RuntimeError(f"agent {self.name} did not start (exit {code}): it said {last}")


async def spawn_agent(target: str, name: str, url: str, *extra: str) -> AgentProcess:
    """Start ``callsheet agent run TARGET --name NAME`` against the server at ``url``."""
    env = {**os.environ, "CALLSHEET_NATS_URL": url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callsheet.cli", "agent", "run", target, "--name", name, *extra,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return AgentProcess(name, process)


async def stop_all(children: Sequence[AgentProcess], timeout: float = 15.0) -> None:
    """Stop every child gracefully (SIGTERM), killing those that do not stop in time."""
    for child in children:
        if child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
            await child.process.wait()
