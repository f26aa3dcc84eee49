"""The project's embedded broker: a detached ``nats-server`` that outlives the command.

State lives in ``<project>/.callsheet/``: the JetStream store in ``nats/``, the
server's log in ``nats-server.log`` and ``broker.json`` with its pid and URLs.
The project is ``$CALLSHEET_HOME``, or the current directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from callsheet.broker.binary import find_nats_server
from callsheet.broker.errors import BrokerError, PortInUseError
from callsheet.broker.process import check_port_free, wait_healthy

__all__ = ["BrokerState", "down", "project_dir", "state_dir", "status", "up"]

_START_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class BrokerState:
    """A running embedded broker."""

    pid: int
    url: str
    monitor_url: str
    store_dir: str
    started_at: str


def project_dir() -> Path:
    """The project folder: ``$CALLSHEET_HOME`` or the current directory."""
    return Path(os.environ.get("CALLSHEET_HOME") or Path.cwd())


def state_dir(project: Path | None = None) -> Path:
    """The ``.callsheet`` folder of a project."""
    return (project or project_dir()) / ".callsheet"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "broker.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two `up` at once start one server
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_nats_server(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) nats-server process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return b"nats-server" in cmdline and state != "Z"


def _reap(pid: int) -> None:
    # The server is our child only when `up` ran in this process (tests): reap it.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _read_state(folder: Path) -> BrokerState | None:
    try:
        raw = json.loads((folder / "broker.json").read_text())
        return BrokerState(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _healthy(state: BrokerState) -> bool:
    if not _is_nats_server(state.pid):
        return False
    try:
        wait_healthy(state.monitor_url, timeout=2.0)
    except BrokerError:
        return False
    return True


def status(project: Path | None = None) -> BrokerState | None:
    """The project's running broker, health-checked, or None."""
    state = _read_state(state_dir(project))
    return state if state is not None and _healthy(state) else None


def _wait_for_ports(log: Path, offset: int, proc: subprocess.Popen[bytes]) -> tuple[int, int]:
    deadline = time.monotonic() + _START_TIMEOUT
    client = monitor = 0
    while time.monotonic() < deadline:
        with log.open("r", encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            text = handle.read()
        for line in text.splitlines():
            if "Listening for client connections on" in line:
                client = int(line.rsplit(":", 1)[1])
            elif "Starting http monitor on" in line:
                monitor = int(line.rsplit(":", 1)[1])
        if client and monitor and "Server is ready" in text:
            return client, monitor
        if proc.poll() is not None:  # our child: poll() is exact, /proc can race the exec
            tail = "\n".join(text.splitlines()[-15:])
            if "address already in use" in text:
                raise PortInUseError(f"the port is already in use:\n{tail}")
            raise BrokerError(f"nats-server exited during start-up; its last log lines:\n{tail}")
        time.sleep(0.05)  # poll interval, bounded by the deadline
    raise BrokerError(f"nats-server did not report ready within {_START_TIMEOUT}s (see {log})")


def up(project: Path | None = None, port: int | None = None) -> BrokerState:
    """Start the project's broker, or return the one already running.

    Args:
        project: Project folder; ``$CALLSHEET_HOME`` or the current directory by default.
        port: Client port; a free one chosen by the server by default.

    Raises:
        PortInUseError: ``port`` is taken by another process.
        BrokerError: The binary is missing or the server did not start.
    """
    folder = state_dir(project)
    with _locked(folder):
        current = _read_state(folder)
        if current is not None and _healthy(current):
            if port is None or current.url.endswith(f":{port}"):
                return current
            raise BrokerError(
                f"the project's nats-server already runs at {current.url}; "
                "stop it with `callsheet down` to change its port"
            )
        if port is not None:
            check_port_free("127.0.0.1", port)
        store = folder / "nats"
        store.mkdir(parents=True, exist_ok=True)
        log = folder / "nats-server.log"
        offset = log.stat().st_size if log.exists() else 0
        args = [str(find_nats_server()), "-js", "-a", "127.0.0.1", "-p", str(port or -1)]
        args += ["-m", "-1", "-sd", str(store)]
        with log.open("a", encoding="utf-8") as sink:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                start_new_session=True,  # outlives the command that started it
            )
        client, monitor = _wait_for_ports(log, offset, proc)
        state = BrokerState(
            pid=proc.pid,
            url=f"nats://127.0.0.1:{client}",
            monitor_url=f"http://127.0.0.1:{monitor}",
            store_dir=str(store),
            started_at=datetime.now(UTC).isoformat(),
        )
        wait_healthy(state.monitor_url, timeout=_START_TIMEOUT)
        (folder / "broker.json").write_text(json.dumps(asdict(state), indent=2) + "\n")
        return state


def down(project: Path | None = None, timeout: float = 15.0) -> bool:
    """Stop the project's broker; the data stays. Returns False if none was running.

    Raises:
        BrokerError: The server did not stop within ``timeout`` seconds.
    """
    folder = state_dir(project)
    with _locked(folder):
        state = _read_state(folder)
        (folder / "broker.json").unlink(missing_ok=True)
        if state is None or not _is_nats_server(state.pid):
            if state is not None:
                _reap(state.pid)
            return False
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(state.pid)
            if not _is_nats_server(state.pid):
                return True
            time.sleep(0.05)  # poll interval, bounded by the deadline
        raise BrokerError(f"nats-server (pid {state.pid}) did not stop within {timeout}s")
