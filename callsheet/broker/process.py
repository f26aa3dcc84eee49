"""Running ``nats-server`` as a child process: start, health-check, restart, stop."""

from __future__ import annotations

import collections
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from callsheet.broker.binary import find_nats_server
from callsheet.broker.errors import BrokerError, BrokerNotRunningError, PortInUseError

__all__ = [
    "NatsServerProcess",
    "StartupLog",
    "check_port_free",
    "format_url",
    "is_healthy",
    "port_in_use_message",
    "wait_healthy",
]

LOG_TAIL_LINES = 200
"""How many of the server's last log lines are kept for error messages."""

_CLIENT_RE = re.compile(r"Listening for client connections on (\S+):(\d+)\s*$")
_MONITOR_RE = re.compile(r"Starting http monitor on (\S+):(\d+)\s*$")
_IN_USE_RE = re.compile(r"listen tcp (\S+):(\d+): bind: address already in use")
_READY = "Server is ready"


def format_url(scheme: str, host: str, port: int) -> str:
    """``scheme://host:port``, with IPv6 hosts in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def port_in_use_message(host: str, port: int) -> str:
    """The message of ``PortInUseError``, which tells the user what to do."""
    return (
        f"port {port} on {host} is already in use: stop the other server or pick another "
        "with --port"
    )


def check_port_free(host: str, port: int) -> None:
    """Raise ``PortInUseError`` if ``host:port`` cannot be bound.

    Raises:
        PortInUseError: Another socket holds the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Like nats-server, ignore connections lingering in TIME_WAIT (after a restart);
        # a live listener still makes the bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError:
            raise PortInUseError(port_in_use_message(host, port)) from None


def is_healthy(monitor_url: str, *, timeout: float = 2.0) -> bool:
    """One ``/healthz`` probe (JetStream enabled): True if it answers 200."""
    try:
        with urllib.request.urlopen(
            f"{monitor_url}/healthz?js-enabled-only=true", timeout=timeout
        ) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(monitor_url: str, *, timeout: float = 10.0) -> None:
    """Wait until the server's ``/healthz`` (with JetStream) answers 200.

    Raises:
        BrokerError: It did not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if is_healthy(monitor_url, timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
            return
        if time.monotonic() >= deadline:
            raise BrokerError(f"nats-server at {monitor_url} is not healthy after {timeout}s")
        time.sleep(0.05)  # retry interval, bounded by the deadline


@dataclass
class StartupLog:
    """What the server's start-up log told so far: its ports, readiness, a bind failure."""

    client: tuple[str, int] | None = None
    monitor: tuple[str, int] | None = None
    ready: bool = False
    in_use: tuple[str, int] | None = None  # the address the server could not bind

    def feed(self, line: str) -> None:
        """Take in one log line."""
        if match := _CLIENT_RE.search(line):
            self.client = (match.group(1), int(match.group(2)))
        elif match := _MONITOR_RE.search(line):
            self.monitor = (match.group(1), int(match.group(2)))
        elif _READY in line:
            self.ready = True
        elif match := _IN_USE_RE.search(line):
            self.in_use = (match.group(1), int(match.group(2)))


class _LogPump(threading.Thread):
    """Drains the server's output for its whole life, so the pipe never fills."""

    def __init__(self, stream: IO[str], tail: collections.deque[str], sink: IO[str] | None):
        super().__init__(name="nats-server-log", daemon=True)
        self.startup = StartupLog()
        self.settled = threading.Event()  # set once ready, or at end of output
        self._stream = stream
        self._tail = tail
        self._sink = sink

    def run(self) -> None:
        try:
            for line in self._stream:
                self._tail.append(line)
                if self._sink is not None:
                    try:
                        self._sink.write(line)
                    except OSError:  # e.g. a full disk: keep draining, drop the copy
                        self._sink.close()
                        self._sink = None
                if not self.settled.is_set():
                    self.startup.feed(line)
                    if self.startup.ready:
                        self.settled.set()
        finally:
            self.settled.set()
            self._stream.close()
            if self._sink is not None:
                self._sink.close()


class NatsServerProcess:
    """A ``nats-server`` child process with JetStream, for tests and tools.

    Example:
        with NatsServerProcess(tmp / "store") as server:
            nc = await connect(server.url)
    """

    def __init__(
        self,
        store_dir: Path | str,
        *,
        port: int = -1,
        host: str = "127.0.0.1",
        config_file: Path | str | None = None,
        log_file: Path | str | None = None,
        start_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        """Describe the server; ``start`` runs it.

        Args:
            store_dir: JetStream store folder (created if missing).
            port: Client port; -1 lets the server pick a free one.
            host: Address to listen on.
            config_file: Optional nats-server configuration file; the options above win.
            log_file: Optional file that receives a copy of the server's log (appended).
            start_timeout: Seconds to wait for the server to be ready, then healthy.
            extra_args: Further nats-server command-line arguments.
        """
        self._store_dir = Path(store_dir)
        self.host = host
        self._requested_port = port
        self._config_file = Path(config_file) if config_file is not None else None
        self._log_file = Path(log_file) if log_file is not None else None
        self._timeout = start_timeout
        self._extra_args = list(extra_args)
        self._proc: subprocess.Popen[str] | None = None
        self._pump: _LogPump | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self._port: int | None = port if port > 0 else None
        self._monitor_port: int | None = None

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<NatsServerProcess {state}, store {self._store_dir}>"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def store_dir(self) -> Path:
        """The JetStream store folder."""
        return self._store_dir

    @property
    def port(self) -> int:
        """Client port; kept after ``stop`` so that ``start`` reuses it.

        Raises:
            BrokerNotRunningError: The server never started and no fixed port was asked.
        """
        if self._port is None:
            raise BrokerNotRunningError("nats-server has not been started yet")
        return self._port

    @property
    def monitor_port(self) -> int:
        """HTTP monitoring port (a new random one on each start).

        Raises:
            BrokerNotRunningError: The server never started.
        """
        if self._monitor_port is None:
            raise BrokerNotRunningError("nats-server has not been started yet")
        return self._monitor_port

    @property
    def url(self) -> str:
        """Client URL, e.g. ``nats://127.0.0.1:4222``."""
        return format_url("nats", self.host, self.port)

    @property
    def monitor_url(self) -> str:
        """HTTP monitoring URL, e.g. ``http://127.0.0.1:8222``."""
        return format_url("http", self.host, self.monitor_port)

    @property
    def pid(self) -> int:
        """Process id of the running server.

        Raises:
            BrokerNotRunningError: The server is not running.
        """
        if self._proc is None:
            raise BrokerNotRunningError("nats-server is not running")
        return self._proc.pid

    @property
    def log_tail(self) -> str:
        """The last lines the server logged."""
        return "".join(self._tail)

    def _args(self, port: int) -> list[str]:
        args = [str(find_nats_server())]
        if self._config_file is not None:
            args += ["-c", str(self._config_file)]
        args += ["-js", "-a", self.host, "-p", str(port), "-m", "-1"]
        return [*args, "-sd", str(self._store_dir), *self._extra_args]

    def start(self) -> Self:
        """Start the server; return once it is ready and healthy. Does nothing if running.

        Raises:
            PortInUseError: The client port asked for is taken.
            BrokerError: The binary is missing, or the server did not come up in time.
        """
        if self.running:
            return self
        port = self._port or self._requested_port
        if port > 0:
            check_port_free(self.host, port)
        args = self._args(port)
        self._store_dir.mkdir(parents=True, exist_ok=True)
        sink = self._log_file.open("a", encoding="utf-8", buffering=1) if self._log_file else None
        self._tail.clear()
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # one stream: the log, in order
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            if sink is not None:
                sink.close()
            raise BrokerError(f"cannot run {args[0]}: {exc}") from exc
        assert proc.stdout is not None
        self._proc = proc
        self._pump = _LogPump(proc.stdout, self._tail, sink)
        self._pump.start()
        try:
            self._await_ready(proc, self._pump)
        except BaseException:
            self.kill()
            raise
        return self

    def _await_ready(self, proc: subprocess.Popen[str], pump: _LogPump) -> None:
        deadline = time.monotonic() + self._timeout
        if not pump.settled.wait(self._timeout):
            raise BrokerError(
                f"nats-server did not report ready within {self._timeout}s; its last log "
                f"lines:\n{self.log_tail}"
            )
        seen = pump.startup
        if not seen.ready or seen.client is None or seen.monitor is None:
            # The output ended: the process is exiting.
            try:
                code: int | str = proc.wait(5)
            except subprocess.TimeoutExpired:
                code = "unknown"
            if seen.in_use is not None:
                raise PortInUseError(port_in_use_message(*seen.in_use))
            raise BrokerError(
                f"nats-server exited during start-up (code {code}); its last log lines:\n"
                f"{self.log_tail}"
            )
        self._port = seen.client[1]
        self._monitor_port = seen.monitor[1]
        wait_healthy(self.monitor_url, timeout=max(1.0, deadline - time.monotonic()))

    def _end(self, proc: subprocess.Popen[str]) -> None:
        if self._proc is proc:
            self._proc = None
        if self._pump is not None:
            # The output closes when the process exits; the join is only a safeguard.
            self._pump.join(5)
            self._pump = None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM), killing it after ``timeout`` seconds."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._end(proc)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._end(proc)

    def restart(self, timeout: float = 10.0) -> Self:
        """Stop, then start again on the same client port and store, so clients reconnect.

        Raises:
            PortInUseError: Another process took the port in between.
            BrokerError: The server did not come back.
        """
        self.stop(timeout)
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
