"""The embedded broker: real nats-server processes, started and stopped here."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.js.api import StreamConfig

from callsheet.broker import daemon
from callsheet.broker.binary import ENV_BINARY, find_nats_server
from callsheet.broker.connect import ENV_URL, connect, resolve_url
from callsheet.broker.errors import BrokerError, BrokerNotRunningError, PortInUseError
from callsheet.broker.process import NatsServerProcess
from tests.support import assert_eventually


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    proc = NatsServerProcess(store_dir=tmp_path / "store")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_starts_on_a_free_port_with_jetstream(server: NatsServerProcess) -> None:
    assert server.port > 0
    assert server.url == f"nats://127.0.0.1:{server.port}"
    nc = await connect(server.url)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
    finally:
        await nc.close()


def test_taken_port_is_reported(tmp_path: Path, busy_port: int) -> None:
    proc = NatsServerProcess(store_dir=tmp_path, port=busy_port)
    with pytest.raises(PortInUseError, match=f"port {busy_port} on 127.0.0.1 is already in use"):
        proc.start()


def test_missing_binary_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BINARY, str(tmp_path / "no-such-nats-server"))
    with pytest.raises(BrokerError, match="not an executable file"):
        find_nats_server()
    with pytest.raises(BrokerError, match="not an executable file"):
        NatsServerProcess(store_dir=tmp_path).start()


def test_binary_comes_from_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BINARY, raising=False)
    path = find_nats_server()
    assert path.name == "nats-server"
    assert os.access(path, os.X_OK)


async def test_restart_keeps_port_and_data_and_clients_reconnect(
    server: NatsServerProcess,
) -> None:
    nc = await connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="KEEP", subjects=["keep.>"]))
        await js.publish("keep.a", b"before")
        port = server.port
        server.restart()
        assert server.port == port

        async def published_again() -> bool:
            try:
                await js.publish("keep.b", b"after", timeout=1)
            except Exception:
                return False
            return True

        await assert_eventually(published_again, timeout=20, message="client did not reconnect")
        first = await js.get_msg("KEEP", 1)
        assert first.data == b"before"
        assert (await js.stream_info("KEEP")).state.messages == 2
    finally:
        await nc.close()


async def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(BrokerError, match=f"cannot reach NATS at nats://127.0.0.1:{closed}"):
        await connect(f"nats://127.0.0.1:{closed}", connect_timeout=1, initial_timeout=2)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    daemon.down(tmp_path)


def test_daemon_up_status_down(project: Path) -> None:
    assert daemon.status(project) is None
    state = daemon.up(project)
    assert daemon.up(project).pid == state.pid  # a second `up` reuses it
    assert daemon.status(project) == state
    recorded = json.loads((project / ".callsheet" / "broker.json").read_text())
    assert recorded["url"] == state.url
    assert Path(state.store_dir) == project / ".callsheet" / "nats"
    assert daemon.down(project) is True
    assert daemon.status(project) is None
    assert not Path(f"/proc/{state.pid}/cmdline").exists() or daemon.status(project) is None
    assert daemon.down(project) is False


def test_daemon_handles_a_stale_state_file(project: Path) -> None:
    folder = project / ".callsheet"
    folder.mkdir()
    stale = {
        "pid": 2**22 + 17,
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
    (folder / "broker.json").write_text("not json")
    assert daemon.down(project) is False


def test_daemon_on_a_taken_port(project: Path, busy_port: int) -> None:
    with pytest.raises(PortInUseError, match=f"port {busy_port}"):
        daemon.up(project, port=busy_port)


def test_resolve_url(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "nats://example.invalid:4222")
    assert resolve_url(project) == ("nats://example.invalid:4222", False)
    monkeypatch.delenv(ENV_URL)
    with pytest.raises(BrokerNotRunningError, match="callsheet up"):
        resolve_url(project, autostart=False)
    url, started = resolve_url(project)
    assert started
    assert resolve_url(project) == (url, False)
