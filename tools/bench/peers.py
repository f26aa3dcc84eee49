"""The peers, in an isolated virtual environment of their own: AutoGen's gRPC runtime, Celery.

The venv (``PEERS_VENV``, default ``.bench-peers`` at the repository's root) is
made and filled on first use with pip (``autogen-ext[grpc]``, ``celery``,
``redis``); Celery's broker is Debian's ``redis-server`` (``apt-get install
redis-server``), started on a free port with persistence off. What cannot be
installed or started here gives no figure, only the reason, which the table shows.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PEERS", "Samples", "autogen_latency", "celery_rate", "venv_python"]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PEERS = ("autogen-core==0.7.5", "autogen-ext[grpc]==0.7.5", "celery", "redis", "packaging")


@dataclass
class Samples:
    """A peer's figures, or why there are none."""

    values: list[float] = field(default_factory=list)
    why: str = ""

    def extend(self, other: Samples) -> None:
        """Add another run's figures (or keep its reason)."""
        self.values += other.values
        self.why = self.why or other.why


_ready: dict[str, str] = {}


def venv_python() -> Path | str:
    """The peers' interpreter, installing them once; a string says why they are not there."""
    if "python" in _ready:
        return Path(_ready["python"])
    if "why" in _ready:
        return _ready["why"]
    venv = Path(os.environ.get("PEERS_VENV", ROOT / ".bench-peers"))
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    try:
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *PEERS],
                check=True,
                capture_output=True,
                text=True,
                timeout=900,
            )
            marker.write_text(" ".join(PEERS), encoding="utf-8")
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        _ready["why"] = f"not installable here: {detail.strip().splitlines()[-1][:120]}"
        return _ready["why"]
    _ready["python"] = str(python)
    return python


def _run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> Samples:
    python = venv_python()
    if isinstance(python, str):
        return Samples(why=python)
    try:
        done = subprocess.run(
            [str(python), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Samples(why=f"did not finish in {timeout:.0f} s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Samples(why=f"failed: {last[:120]}")
    return Samples(values=[float(v) for v in json.loads(done.stdout.strip().splitlines()[-1])])


def autogen_latency(n: int) -> Samples:
    """Latencies (µs) of one-way ``send_message`` over AutoGen's gRPC runtime."""
    return _run(["peer_autogen.py", str(n)], timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def celery_rate(tasks: int, processes: int, rounds: int = 1) -> Samples:
    """Tasks/s of a Celery group of no-op tasks over ``processes`` worker processes."""
    binary = shutil.which("redis-server")
    if binary is None:
        return Samples(why="redis-server not installed (apt-get install redis-server)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        redis = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        return Samples(why="redis-server did not start")
                    time.sleep(0.05)
            url = f"redis://127.0.0.1:{port}/0"
            return _run(
                ["peer_celery.py", url, str(tasks), str(processes), str(rounds)],
                timeout=900,
                env={"BENCH_REDIS": url},
            )
        finally:
            redis.terminate()
            redis.wait(10)
