"""The embedded broker: real nats-server processes, started and stopped here."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nats.js.api import StreamConfig

from callsheet.broker import daemon
from callsheet.broker.connect import ENV_URL, connect, resolve_url
from callsheet.broker.errors import BrokerError, BrokerNotRunningError, PortInUseError
from callsheet.broker.process import NatsServerProcess


def servers_using(path: Path) -> list[int]:
    """Pids of live nats-server processes whose command line mentions ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except (OSError, IndexError):
            continue
        if b"nats-server" in cmdline and os.fsencode(path) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def kill_leftovers(path: Path) -> list[int]:
    leftovers = servers_using(path)
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    return leftovers


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    proc = NatsServerProcess(tmp_path / "store", log_file=tmp_path / "server.log")
    try:
        yield proc.start()
    finally:
        proc.stop()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held by a plain listening socket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return int(answer.status), bytes(answer.read())


# --- NatsServerProcess ---------------------------------------------------------------


def test_starts_on_a_free_port(tmp_path: Path, server: NatsServerProcess) -> None:
    assert server.port > 0
    assert server.url == f"nats://127.0.0.1:{server.port}"
    assert server.monitor_url == f"http://127.0.0.1:{server.monitor_port}"
    assert server.running
    assert server.store_dir == tmp_path / "store"
    assert servers_using(server.store_dir) == [server.pid]
    assert (server.store_dir / "jetstream").is_dir()
    status, _ = http_get(f"{server.monitor_url}/healthz?js-enabled-only=true")
    assert status == 200


async def test_clients_use_jetstream(server: NatsServerProcess) -> None:
    nc = await connect(server.url)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
    finally:
        await nc.close()


def test_the_log_is_kept_and_copied(tmp_path: Path, server: NatsServerProcess) -> None:
    assert "Server is ready" in server.log_tail
    assert "Server is ready" in (tmp_path / "server.log").read_text()


def test_stop_ends_the_process_and_keeps_the_port(server: NatsServerProcess) -> None:
    pid, port = server.pid, server.port
    server.stop()
    server.stop()  # a second stop is harmless
    assert not server.running
    assert not servers_using(server.store_dir)
    assert server.port == port
    with pytest.raises(BrokerNotRunningError):
        _ = server.pid
    assert pid not in servers_using(server.store_dir)


def test_a_taken_port_is_reported(tmp_path: Path, busy_port: int) -> None:
    proc = NatsServerProcess(tmp_path / "store", port=busy_port)
    with pytest.raises(PortInUseError) as info:
        proc.start()
    assert str(info.value) == (
        f"port {busy_port} on 127.0.0.1 is already in use: stop the other server or pick "
        "another with --port"
    )
    assert not proc.running


def test_the_server_refusing_a_taken_port_is_reported(tmp_path: Path, busy_port: int) -> None:
    # The port is not checked beforehand here: the server's own error line is recognised.
    proc = NatsServerProcess(tmp_path / "store", extra_args=["-p", str(busy_port)])
    with pytest.raises(PortInUseError, match=f"port {busy_port} on 127.0.0.1 is already in use"):
        proc.start()
    assert not proc.running
    assert not servers_using(tmp_path / "store")


def test_a_server_that_exits_at_start_up_shows_its_log(tmp_path: Path) -> None:
    config = tmp_path / "broken.conf"
    config.write_text("port: {{{ nonsense\n")
    proc = NatsServerProcess(tmp_path / "store", config_file=config)
    with pytest.raises(BrokerError, match="exited during start-up") as info:
        proc.start()
    assert "Parse error" in str(info.value)
    assert not proc.running


def test_start_up_has_a_deadline(tmp_path: Path) -> None:
    proc = NatsServerProcess(tmp_path / "store", start_timeout=0.001)
    with pytest.raises(BrokerError, match=r"did not report ready within 0\.001s"):
        proc.start()
    assert not proc.running
    assert not servers_using(tmp_path / "store")


def test_a_config_file_is_used(tmp_path: Path) -> None:
    config = tmp_path / "server.conf"
    config.write_text('server_name: "callsheet-config-test"\n')
    with NatsServerProcess(tmp_path / "store", config_file=config) as proc:
        _, body = http_get(f"{proc.monitor_url}/varz")
        assert json.loads(body)["server_name"] == "callsheet-config-test"
    assert not proc.running


async def test_restart_keeps_port_and_data_and_clients_reconnect(
    server: NatsServerProcess,
) -> None:
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    nc = await connect(server.url, reconnected_cb=on_reconnect)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="KEEP", subjects=["keep.>"]))
        await js.publish("keep.a", b"before")
        port, pid = server.port, server.pid
        server.restart()
        assert server.port == port
        assert server.pid != pid
        await asyncio.wait_for(reconnected.wait(), 20)
        ack = await js.publish("keep.b", b"after", timeout=5)
        assert ack.seq == 2
        first = await js.get_msg("KEEP", 1)
        assert first.data == b"before"
        assert (await js.stream_info("KEEP")).state.messages == 2
    finally:
        await nc.close()


async def test_a_killed_server_starts_again_with_its_data(server: NatsServerProcess) -> None:
    nc = await connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="CRASH", subjects=["crash.>"]))
        await js.publish("crash.a", b"kept")
    finally:
        await nc.close()
    port = server.port
    server.kill()
    assert not server.running
    server.start()
    assert server.port == port
    nc = await connect(server.url)
    try:
        assert (await nc.jetstream().get_msg("CRASH", 1)).data == b"kept"
    finally:
        await nc.close()


async def test_unreachable_server_is_a_clear_error(capfd: pytest.CaptureFixture[str]) -> None:
    closed = free_port()
    with pytest.raises(BrokerError, match=f"cannot reach NATS at nats://127.0.0.1:{closed}"):
        await connect(f"nats://127.0.0.1:{closed}", connect_timeout=1, initial_timeout=2)
    out, err = capfd.readouterr()
    assert out == err == ""  # connect never prints


# --- the project's daemon ------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    try:
        yield folder
    finally:
        daemon.down(folder)
        leftovers = kill_leftovers(folder)
        assert not leftovers, f"nats-server processes left running: {leftovers}"


def test_daemon_up_status_down(project: Path) -> None:
    assert daemon.status(project) is None
    state = daemon.up(project)
    assert daemon.up(project) == state  # a second `up` reuses it
    assert daemon.status(project) == state
    assert servers_using(project) == [state.pid]
    recorded = json.loads((project / ".callsheet" / "broker.json").read_text())
    assert recorded == {
        "pid": state.pid,
        "url": state.url,
        "monitor_url": state.monitor_url,
        "store_dir": str(project / ".callsheet" / "nats"),
        "started_at": state.started_at,
        "sync": "always",
        "listen": "127.0.0.1",
        "tls": False,
    }
    assert "Server is ready" in (project / ".callsheet" / "nats-server.log").read_text()
    assert daemon.down(project) is True
    assert not servers_using(project)
    assert not (project / ".callsheet" / "broker.json").exists()
    assert daemon.status(project) is None
    assert daemon.down(project) is False


async def test_daemon_server_speaks_jetstream(project: Path) -> None:
    state = daemon.up(project)
    nc = await connect(state.url)
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()


def test_daemon_uses_callsheet_home(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(daemon.ENV_HOME, str(project))
    state = daemon.up()
    assert daemon.status(project) == state
    assert daemon.down() is True


def test_daemon_outlives_the_command_that_started_it(project: Path) -> None:
    code = "import sys; from pathlib import Path; from callsheet.broker import up; "
    code += "print(up(Path(sys.argv[1])).pid)"
    started = subprocess.run(
        [sys.executable, "-c", code, str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pid = int(started.stdout)
    state = daemon.status(project)
    assert state is not None and state.pid == pid
    assert os.getsid(pid) == pid  # its own session: a Ctrl-C in the shell does not reach it
    assert daemon.down(project) is True
    assert not servers_using(project)


def test_concurrent_ups_start_one_server(project: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        states = list(pool.map(lambda _: daemon.up(project), range(4)))
    assert len({s.pid for s in states}) == 1
    assert servers_using(project) == [states[0].pid]


def test_daemon_handles_a_stale_state_file(project: Path) -> None:
    folder = project / ".callsheet"
    folder.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = {
        "pid": dead.pid,
        "url": "nats://127.0.0.1:1",
        "monitor_url": "http://127.0.0.1:1",
        "store_dir": str(folder / "nats"),
        "started_at": "2026-01-01T00:00:00+00:00",
    }
    (folder / "broker.json").write_text(json.dumps(stale))
    assert daemon.status(project) is None
    state = daemon.up(project)
    assert state.pid != stale["pid"]
    assert daemon.down(project) is True
    (folder / "broker.json").write_text(json.dumps(stale))
    assert daemon.down(project) is False
    assert not (folder / "broker.json").exists()
    (folder / "broker.json").write_text("not json")
    assert daemon.status(project) is None
    assert daemon.down(project) is False


def test_a_reused_pid_is_never_signalled(project: Path, tmp_path: Path) -> None:
    folder = project / ".callsheet"
    folder.mkdir()
    with NatsServerProcess(tmp_path / "other-store") as other:
        for pid in (os.getpid(), other.pid):  # not a nats-server; another project's server
            stale = {
                "pid": pid,
                "url": other.url,
                "monitor_url": other.monitor_url,
                "store_dir": str(folder / "nats"),
                "started_at": "2026-01-01T00:00:00+00:00",
            }
            (folder / "broker.json").write_text(json.dumps(stale))
            assert daemon.status(project) is None
            assert daemon.down(project) is False
        assert other.running
        state = daemon.up(project)
        assert state.pid != other.pid
        assert other.running


def test_a_server_whose_state_file_was_lost_is_not_doubled(project: Path) -> None:
    # nats-server does not lock its store: a second server on it must never start.
    first = daemon.up(project)
    (project / ".callsheet" / "broker.json").unlink()
    assert daemon.status(project) is None
    second = daemon.up(project)
    assert servers_using(project) == [second.pid] != [first.pid]
    (project / ".callsheet" / "broker.json").unlink()
    assert daemon.down(project) is True
    assert not servers_using(project)


def test_daemon_on_a_fixed_port(project: Path) -> None:
    port = free_port()
    state = daemon.up(project, port=port)
    assert state.url == f"nats://127.0.0.1:{port}"
    assert daemon.up(project, port=port) == state
    with pytest.raises(BrokerError, match="already runs at"):
        daemon.up(project, port=free_port())


def test_daemon_on_a_taken_port(project: Path, busy_port: int) -> None:
    with pytest.raises(PortInUseError, match=f"port {busy_port} on 127.0.0.1 is already in use"):
        daemon.up(project, port=busy_port)
    assert not servers_using(project)
    assert daemon.status(project) is None


def test_resolve_url(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "nats://example.invalid:4222")
    assert resolve_url(project) == ("nats://example.invalid:4222", False)
    assert resolve_url(project, autostart=False) == ("nats://example.invalid:4222", False)
    assert daemon.status(project) is None  # the env variable wins: nothing was started
    monkeypatch.delenv(ENV_URL)
    with pytest.raises(BrokerNotRunningError, match="callsheet up"):
        resolve_url(project, autostart=False)
    url, started = resolve_url(project)
    assert started
    assert resolve_url(project) == (url, False)
    assert resolve_url(project, autostart=False) == (url, False)
