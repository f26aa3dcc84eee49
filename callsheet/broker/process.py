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
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from callsheet.broker.binary import find_nats_server
from callsheet.broker.errors import BrokerError, PortInUseError

__all__ = ["NatsServerProcess", "check_port_free", "wait_healthy"]

_CLIENT_RE = re.compile(r"Listening for client connections on (\S+):(\d+)")
_MONITOR_RE = re.compile(r"Starting http monitor on (\S+):(\d+)")
_READY_RE = re.compile(r"Server is ready")


def check_port_free(host: str, port: int) -> None:
    """Raise ``PortInUseError`` if ``host:port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the server itself, ignore connections lingering in TIME_WAIT; a live
        # listener still makes the bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise PortInUseError(
                f"port {port} on {host} is already in use: stop the other server or pick "
                "another with --port"
            ) from None


def wait_healthy(monitor_url: str, *, timeout: float = 10.0) -> None:
    """Wait until the server's ``/healthz`` (with JetStream) answers 200.

    Raises:
        BrokerError: It did not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    url = f"{monitor_url}/healthz?js-enabled-only=true"
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.05)  # poll interval, bounded by the deadline
    raise BrokerError(f"nats-server at {monitor_url} is not healthy after {timeout}s: {last}")


class NatsServerProcess:
    """A ``nats-server`` child process with JetStream, for tests and the embedded broker."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int = -1,
        host: str = "127.0.0.1",
        config_file: Path | None = None,
        log_file: Path | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        """Describe the server; ``start`` runs it.

        Args:
            store_dir: JetStream store folder (created if missing).
            port: Client port; -1 lets the server pick a free one.
            host: Address to listen on.
            config_file: Optional nats-server configuration file.
            log_file: Optional file that receives a copy of the server's log.
            start_timeout: Seconds to wait for the server to be ready and healthy.
        """
        self.store_dir = Path(store_dir)
        self.host = host
        self._requested_port = port
        self._config_file = config_file
        self._log_file = log_file
        self._timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=200)
        self._reader: threading.Thread | None = None
        self.port = 0
        self.monitor_port = 0

    @property
    def url(self) -> str:
        """Client URL, e.g. ``nats://127.0.0.1:4222``."""
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """HTTP monitoring URL."""
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def pid(self) -> int:
        """Process id of the running server."""
        if self._proc is None:
            raise BrokerError("nats-server is not running")
        return self._proc.pid

    @property
    def log_tail(self) -> str:
        """The last lines the server logged."""
        return "".join(self._tail)

    def _args(self, port: int) -> list[str]:
        args = [str(find_nats_server())]
        if self._config_file is not None:
            args += ["-c", str(self._config_file)]
        return [
            *args,
            "-js",
            "-a",
            self.host,
            "-p",
            str(port),
            "-m",
            "-1",
            "-sd",
            str(self.store_dir),
        ]

    def _drain(
        self, stream: IO[str], found: dict[str, tuple[str, int]], ready: threading.Event
    ) -> None:
        sink = self._log_file.open("a", encoding="utf-8") if self._log_file else None
        try:
            for line in stream:
                self._tail.append(line)
                if sink is not None:
                    sink.write(line)
                    sink.flush()
                if not ready.is_set():
                    for key, pattern in (("client", _CLIENT_RE), ("monitor", _MONITOR_RE)):
                        match = pattern.search(line)
                        if match:
                            found[key] = (match.group(1), int(match.group(2)))
                    if _READY_RE.search(line):
                        ready.set()
        finally:
            ready.set()  # the process ended: wake the starter
            if sink is not None:
                sink.close()

    def start(self) -> Self:
        """Start the server and wait until it is ready and healthy.

        Raises:
            PortInUseError: The fixed port asked for is taken.
            BrokerError: The binary is missing, or the server did not come up.
        """
        if self._proc is not None and self._proc.poll() is None:
            return self
        port = self.port or self._requested_port
        if port > 0:
            check_port_free(self.host, port)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._tail.clear()
        self._proc = subprocess.Popen(
            self._args(port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stderr is not None
        found: dict[str, tuple[str, int]] = {}
        ready = threading.Event()
        self._reader = threading.Thread(
            target=self._drain, args=(self._proc.stderr, found, ready), daemon=True
        )
        self._reader.start()
        if not ready.wait(self._timeout) or self._proc.poll() is not None or "client" not in found:
            self._fail_start(port)
        self.port = found["client"][1]
        self.monitor_port = found["monitor"][1]
        wait_healthy(self.monitor_url, timeout=self._timeout)
        return self

    def _fail_start(self, port: int) -> None:
        tail = self.log_tail
        self.kill()
        if "address already in use" in tail:
            raise PortInUseError(
                f"port {port} on {self.host} is already in use: stop the other server or pick "
                "another with --port"
            )
        raise BrokerError(f"nats-server did not start; its last log lines:\n{tail}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM), killing it after ``timeout`` seconds."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(5)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(5)

    def restart(self) -> Self:
        """Stop and start again on the same port and store, so clients reconnect."""
        self.stop()
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
