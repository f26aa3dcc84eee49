"""Beyond loopback the embedded broker wants credentials; with a certificate, TLS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from callsheet.broker import daemon
from callsheet.broker.config import ServerSettings
from callsheet.broker.connect import ENV_CA, connect
from callsheet.broker.errors import BrokerError, InsecureListenError

CLI = [sys.executable, "-m", "callsheet.cli"]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA made here, and a server certificate it signed for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("pki")
    days = ["-days", "2"]
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-subj", "/CN=callsheet test CA", *days, cwd=folder)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=localhost", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-extfile", "san.ext", *days,
            cwd=folder)  # fmt: skip
    # Another CA, that signed nothing of this server's.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out",
            "other.pem", "-subj", "/CN=another CA", *days, cwd=folder)  # fmt: skip
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    try:
        yield folder
    finally:
        daemon.down(folder)


def test_a_public_address_without_credentials_is_refused(project: Path) -> None:
    with pytest.raises(InsecureListenError):
        daemon.up(project, listen="0.0.0.0")
    env = dict(os.environ, CALLSHEET_HOME=str(project))
    env.pop("CALLSHEET_BROKER_PASSWORD", None)
    done = subprocess.run(
        [*CLI, "up", "--listen", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "without credentials" in done.stderr
    assert daemon.status(project) is None


def test_loopback_needs_no_credentials(project: Path) -> None:
    assert daemon.up(project, listen="127.0.0.1").listen == "127.0.0.1"


async def test_tls_with_credentials_on_a_public_address(
    project: Path, pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ServerSettings(
        user="crew", password="s3cret:@/x", tls_cert=pki / "server.pem", tls_key=pki / "server.key"
    )
    state = daemon.up(project, listen="0.0.0.0", settings=settings)
    assert state.tls and state.url.startswith("tls://")
    assert "s3cret" not in daemon.redact(state.url)
    # The CA made here: the client checks the server's certificate and gets in.
    monkeypatch.setenv(ENV_CA, str(pki / "ca.pem"))
    nc = await connect(state.url, initial_timeout=5)
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()
    # Right CA, no credentials: refused.
    bare = state.url.replace(state.url.split("://")[1].split("@")[0] + "@", "")
    with pytest.raises(BrokerError):
        await connect(bare, initial_timeout=5, max_reconnect_attempts=0)
    # A CA that did not sign the certificate: refused.
    monkeypatch.setenv(ENV_CA, str(pki / "other.pem"))
    with pytest.raises(BrokerError):
        await connect(state.url, initial_timeout=5, max_reconnect_attempts=0)
    # The system's CAs only: refused too.
    monkeypatch.delenv(ENV_CA)
    with pytest.raises(BrokerError):
        await connect(state.url, initial_timeout=5, max_reconnect_attempts=0)


async def test_a_token_is_enough_to_listen_beyond_loopback(project: Path) -> None:
    state = daemon.up(project, listen="0.0.0.0", settings=ServerSettings(token="t0ken"))
    nc = await connect(state.url, initial_timeout=5)
    await nc.close()
    with pytest.raises(BrokerError):
        await connect(state.url.replace("t0ken@", ""), initial_timeout=5, max_reconnect_attempts=0)
