"""The project's embedded broker: a detached ``nats-server`` that outlives the command.

State lives in ``<project>/.callsheet/``: the JetStream store in ``nats/``, the
server's log in ``nats-server.log`` and ``broker.json`` with its pid and URLs.
The project is ``$CALLSHEET_HOME``, else found the way git finds its repository:
the nearest folder, from the current one up, that holds a ``.callsheet/`` folder;
else the current directory (where a first ``up`` creates one).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from callsheet.broker.binary import find_nats_server
from callsheet.broker.config import ServerSettings, is_loopback, sync_mode, write_config
from callsheet.broker.errors import BrokerError, InsecureListenError, PortInUseError
from callsheet.broker.process import (
    StartupLog,
    check_port_free,
    format_url,
    is_healthy,
    port_in_use_message,
    wait_healthy,
)

__all__ = [
    "ENV_HOME",
    "STATE_DIR",
    "BrokerState",
    "default_project_dir",
    "down",
    "redact",
    "state_dir",
    "status",
    "up",
]

ENV_HOME = "CALLSHEET_HOME"
"""Environment variable naming the project folder (default: found from the current one)."""
STATE_DIR = ".callsheet"
"""The folder of a project that holds its broker's state (and marks the project)."""

_HOST = "127.0.0.1"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0

# Servers started by this process: kept so that their exit is seen exactly and they
# are reaped (no zombies in long-lived callers such as test runs).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class BrokerState:
    """A running embedded broker, as recorded in ``.callsheet/broker.json``."""

    pid: int
    url: str
    monitor_url: str
    store_dir: str
    started_at: str
    sync: str = "lazy"  # state files written before the setting existed: the server's default
    listen: str = _HOST
    tls: bool = False


def redact(url: str) -> str:
    """``url`` (or a comma-separated list) without the credentials it may carry, to print."""
    parts = []
    for one in url.split(","):
        scheme, sep, rest = one.partition("://")
        userinfo, at, host = rest.rpartition("@")
        parts.append(f"{scheme}{sep}***@{host}" if at and userinfo else one)
    return ",".join(parts)


def default_project_dir() -> Path:
    """The project folder: ``$CALLSHEET_HOME``, else the nearest with a ``.callsheet/`` up.

    From the current directory up to the root, like git looking for ``.git``, so that
    a command run in any subfolder of a project uses the project's broker; with none
    found, the current directory.
    """
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home)
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / STATE_DIR).is_dir():
            return folder
    return here


def state_dir(project_dir: Path | None = None) -> Path:
    """The ``.callsheet`` folder of a project."""
    # Resolved: the store path is how running servers are recognised (``_serves``).
    return (project_dir or default_project_dir()).resolve() / STATE_DIR


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "broker.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two `up` at once start one server
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_state(folder: Path) -> BrokerState | None:
    try:
        return BrokerState(**json.loads((folder / "broker.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None  # missing or unreadable: treated as stale


def _write_state(folder: Path, state: BrokerState) -> None:
    # Write then rename, so a reader never sees half a file.
    tmp = folder / "broker.json.tmp"
    # Owner only: the URL may carry the broker's credentials.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(folder / "broker.json")


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _serves(pid: int, store: Path) -> bool:
    """True if ``pid`` is a live nats-server on ``store``.

    A pid in a state file may have been reused since: checking the command line keeps us
    from signalling an unrelated process, or another project's server.
    """
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    named = "nats-server" in os.fsdecode(argv[0]).rsplit("/", 1)[-1]
    return named and os.fsencode(store) in argv and _alive(pid)


def _servers_on(store: Path) -> list[int]:
    """Every live nats-server on ``store``, recorded in the state file or not."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if _serves(pid, store)]


def status(project_dir: Path | None = None) -> BrokerState | None:
    """The project's running broker, health-checked, or None."""
    folder = state_dir(project_dir)
    state = _read_state(folder)
    if state is None or not _serves(state.pid, folder / "nats"):
        return None
    return state if is_healthy(state.monitor_url) else None


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to end; True if it did."""
    child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(pid, None)
        return True
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:  # no pidfd (Linux < 5.3): poll /proc instead
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True
    try:
        # A pidfd becomes readable when the process ends: no polling loop.
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait, then SIGKILL: the JetStream store is crash-safe.

    Raises:
        BrokerError: The process survived both signals.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _wait_exit(pid, wait):
            return
    raise BrokerError(f"nats-server (pid {pid}) did not stop, even after SIGKILL")


def _wait_for_startup(
    log: Path, offset: int, proc: subprocess.Popen[bytes], timeout: float
) -> StartupLog:
    """Follow the server's log file from ``offset`` until it reports ready."""
    deadline = time.monotonic() + timeout
    seen = StartupLog()
    lines: list[str] = []
    with log.open("r", encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        partial = ""
        while True:
            exited = proc.poll() is not None  # before reading: the log is then complete
            partial += handle.read()
            *complete, partial = partial.split("\n")
            for line in complete:
                lines.append(line)
                seen.feed(line)
            if seen.ready and seen.client and seen.monitor:
                return seen
            tail = "\n".join(lines[-20:])
            if exited:
                if seen.in_use is not None:
                    raise PortInUseError(port_in_use_message(*seen.in_use))
                raise BrokerError(
                    f"nats-server exited during start-up (code {proc.returncode}); its last "
                    f"log lines:\n{tail}"
                )
            if time.monotonic() >= deadline:
                raise BrokerError(f"nats-server did not report ready within {timeout}s:\n{tail}")
            # The server writes to a file (it must outlive us, so no pipe): poll it.
            time.sleep(0.02)


def _client_url(listen: str, port: int, settings: ServerSettings) -> str:
    """The URL local clients use: loopback for a wildcard address, credentials included."""
    host = _HOST if listen.strip("[]") in ("0.0.0.0", "::", "") else listen
    url = format_url("tls" if settings.tls else "nats", host, port)
    scheme, rest = url.split("://", 1)
    if settings.token:
        return f"{scheme}://{quote(settings.token, safe='')}@{rest}"
    if settings.user and settings.password:
        user, password = quote(settings.user, safe=""), quote(settings.password, safe="")
        return f"{scheme}://{user}:{password}@{rest}"
    return url


def _spawn(
    folder: Path,
    store: Path,
    port: int | None,
    timeout: float,
    listen: str,
    settings: ServerSettings,
) -> BrokerState:
    store.mkdir(parents=True, exist_ok=True)
    log = folder / "nats-server.log"
    config = write_config(folder, settings)
    args = [str(find_nats_server()), "-c", str(config), "-js", "-a", listen]
    args += ["-p", str(port or -1), "-m", "-1", "-sd", str(store)]
    with log.open("ab") as sink:
        offset = sink.tell()
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,  # outlives the command, and its Ctrl-C
        )
    _children[proc.pid] = proc
    try:
        seen = _wait_for_startup(log, offset, proc, timeout)
        assert seen.client is not None and seen.monitor is not None
        state = BrokerState(
            pid=proc.pid,
            url=_client_url(listen, seen.client[1], settings),
            monitor_url=format_url("http", _HOST, seen.monitor[1]),
            store_dir=str(store),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            sync=settings.sync,
            listen=listen,
            tls=settings.tls,
        )
        wait_healthy(state.monitor_url, timeout=timeout)
        _write_state(folder, state)
    except BaseException:
        # Never leave a server behind that no state file points to.
        with contextlib.suppress(BrokerError):
            _terminate(proc.pid, 5.0)
        raise
    return state


def _answers(monitor_url: str) -> bool:
    try:
        wait_healthy(monitor_url, timeout=3.0)  # a brief stall is not a dead server
    except BrokerError:
        return False
    return True


def up(
    project_dir: Path | None = None,
    port: int | None = None,
    *,
    timeout: float = _START_TIMEOUT,
    listen: str = _HOST,
    settings: ServerSettings | None = None,
) -> BrokerState:
    """Start the project's broker, or return the one already running.

    Args:
        project_dir: Project folder; by default ``$CALLSHEET_HOME`` or the one found.
        port: Client port; by default a free one chosen by the server.
        timeout: Seconds to wait for a new server to be ready and healthy.
        listen: Address clients connect to; anything but loopback needs credentials.
        settings: Sync mode, credentials and TLS; by default ``sync`` from
            ``$CALLSHEET_SYNC`` (``always`` unless set) and no credentials.

    Raises:
        InsecureListenError: ``listen`` is not loopback and ``settings`` has no credentials.
        PortInUseError: ``port`` is taken by another process.
        BrokerError: The binary is missing, the server did not start, or it already runs
            on another port.
    """
    explicit = settings is not None or listen != _HOST
    if settings is None:
        try:
            settings = ServerSettings(sync=sync_mode())
        except ValueError as exc:
            raise BrokerError(str(exc)) from None
    if not is_loopback(listen) and not settings.authenticated:
        raise InsecureListenError(
            f"refusing to listen on {listen} without credentials: give --user and "
            "--password, or --token (and --tls-cert/--tls-key), or listen on 127.0.0.1"
        )
    folder = state_dir(project_dir)
    store = folder / "nats"
    with _locked(folder):
        current = _read_state(folder)
        if current is not None and _serves(current.pid, store) and _answers(current.monitor_url):
            if port is not None and not current.url.endswith(f":{port}"):
                raise BrokerError(
                    f"the project's nats-server already runs at {redact(current.url)}: stop "
                    "it with `callsheet down` to change its port"
                )
            asked = (settings.sync, listen, settings.tls)
            if explicit and (current.sync, current.listen, current.tls) != asked:
                raise BrokerError(
                    f"the project's nats-server already runs (sync {current.sync}, listening "
                    f"on {current.listen}, TLS {'on' if current.tls else 'off'}): stop it "
                    "with `callsheet down` to change its settings"
                )
            return current
        # Anything else on this store is unwell or unrecorded (its starter was killed), and
        # two servers must never share one store: nats-server does not lock it.
        for pid in _servers_on(store):
            _terminate(pid, _STOP_TIMEOUT)
        (folder / "broker.json").unlink(missing_ok=True)
        if port is not None:
            check_port_free(listen, port)
        return _spawn(folder, store, port, timeout, listen, settings)


def down(project_dir: Path | None = None, *, timeout: float = _STOP_TIMEOUT) -> bool:
    """Stop the project's broker; the data stays.

    Args:
        project_dir: Project folder; by default ``$CALLSHEET_HOME`` or the one found.
        timeout: Seconds to wait for a graceful stop before killing the server.

    Returns:
        True if a server was stopped; False if none was running. A stale state file (its
        process is gone, or is not this project's nats-server) is removed.

    Raises:
        BrokerError: The server could not be stopped.
    """
    folder = state_dir(project_dir)
    with _locked(folder):
        # By command line rather than the recorded pid: this also stops a server whose
        # state file was lost, and never signals a process that reused the pid.
        pids = _servers_on(folder / "nats")
        for pid in pids:
            _terminate(pid, timeout)
        (folder / "broker.json").unlink(missing_ok=True)
        return bool(pids)
