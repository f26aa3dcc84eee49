"""Starting and stopping the processes of a case (``tools.bench.procs``), and their CPU time."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence

from tools.bench.common import cpu_seconds

__all__ = ["Group"]


class Group:
    """Processes of one side of a case, started together and waited for until all are ready."""

    def __init__(self, commands: Sequence[Sequence[str]], *, timeout: float = 60.0) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        try:
            for command in commands:
                self.procs.append(
                    subprocess.Popen(
                        list(command),
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            deadline = time.monotonic() + timeout
            for proc in self.procs:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if line.strip() != "ready" or time.monotonic() > deadline:
                    raise RuntimeError(f"a bench process did not start: {command}: {line!r}")
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def python(*args: str) -> list[str]:
        """A ``tools.bench.procs`` command line in this interpreter."""
        return [sys.executable, "-m", "tools.bench.procs", *args]

    def cpu(self) -> list[float]:
        """CPU seconds each process used so far."""
        return [cpu_seconds(p.pid) for p in self.procs]

    def stop(self) -> None:
        """Stop every process (SIGTERM, then kill after 10 s)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()

    def __enter__(self) -> Group:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
