"""The embedded broker fsyncs before it acknowledges, unless lazy is asked for explicitly."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callsheet.broker import daemon
from callsheet.broker.config import CONFIG_FILE, ServerSettings
from callsheet.broker.errors import BrokerError

CLI = [sys.executable, "-m", "callsheet.cli"]


def jetstream_config(monitor_url: str) -> dict[str, Any]:
    """The running server's own account of its JetStream settings (``/varz``)."""
    with urllib.request.urlopen(f"{monitor_url}/varz", timeout=5) as answer:
        config: dict[str, Any] = json.load(answer)["jetstream"]["config"]
    return config


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    try:
        yield folder
    finally:
        daemon.down(folder)


def test_the_embedded_broker_syncs_always_by_default(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLSHEET_SYNC", raising=False)
    state = daemon.up(project)
    assert state.sync == "always"
    assert jetstream_config(state.monitor_url)["sync_always"] is True
    generated = project / ".callsheet" / CONFIG_FILE
    assert "sync_interval: always" in generated.read_text()
    assert stat.S_IMODE(generated.stat().st_mode) == 0o600  # it may hold a password


def test_lazy_sync_is_an_explicit_choice(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSHEET_SYNC", "lazy")
    state = daemon.up(project)
    assert state.sync == "lazy"
    assert jetstream_config(state.monitor_url).get("sync_always", False) is False
    # Asking the running server for another mode is refused, not silently ignored.
    with pytest.raises(BrokerError, match="sync lazy"):
        daemon.up(project, settings=ServerSettings(sync="always"))


def test_up_sync_lazy_on_the_command_line(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CALLSHEET_SYNC", "CALLSHEET_NATS_URL")}
    env["CALLSHEET_HOME"] = str(project)
    done = subprocess.run(
        [*CLI, "up", "--sync", "lazy"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "sync lazy" in done.stdout
    state = daemon.status(project)
    assert state is not None
    assert jetstream_config(state.monitor_url).get("sync_always", False) is False


def test_an_unknown_sync_mode_is_one_line_and_exit_2(project: Path) -> None:
    env = dict(os.environ, CALLSHEET_HOME=str(project), CALLSHEET_SYNC="sometimes")
    done = subprocess.run([*CLI, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "sometimes" in done.stderr
    assert daemon.status(project) is None


INFRA = Path(__file__).parents[2] / "infra"


@pytest.mark.parametrize(
    "conf",
    sorted(p for p in INFRA.rglob("*.conf") if p.name != "permissions.conf"),
    ids=lambda p: str(p.relative_to(INFRA)),
)
def test_every_server_config_in_infra_syncs_always(conf: Path) -> None:
    text = conf.read_text()
    jetstream = text[text.index("jetstream {") :]
    assert "sync_interval: always" in jetstream[: jetstream.index("}")]
