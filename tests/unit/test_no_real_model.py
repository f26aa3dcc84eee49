"""Tests never reach a real model unless asked to (``pytest --real-model``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from callsheet.models import OfflineModel, default_model
from tests.e2e.cli_support import cli_env

ROOT = Path(__file__).resolve().parents[2]
_FAKE_KEY = "sk-ant-not-a-real-key"
MODEL_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def test_no_model_credential_reaches_a_test_or_a_cli_subprocess(tmp_path: Path) -> None:
    assert [name for name in MODEL_CREDENTIALS if name in os.environ] == []
    assert isinstance(default_model(), OfflineModel)
    env = cli_env("nats://127.0.0.1:1", tmp_path)
    assert [name for name in MODEL_CREDENTIALS if name in env] == []
    # The model a CLI subprocess (the crew, a worker) would pick, with the tests' environment.
    probe = "from callsheet.models import default_model; print(type(default_model()).__name__)"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "OfflineModel"


def _inner(*options: str) -> subprocess.CompletedProcess[str]:
    """Run the test above in a pytest of its own, with a key set as in a developer's shell."""
    env = {**os.environ, "ANTHROPIC_API_KEY": _FAKE_KEY}
    inner = test_no_model_credential_reaches_a_test_or_a_cli_subprocess.__name__
    test = f"{Path(__file__).relative_to(ROOT)}::{inner}"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, test],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_key_set_in_the_shell_is_removed_before_the_tests_run() -> None:
    out = _inner()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


def test_real_model_keeps_the_key() -> None:
    out = _inner("--real-model")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ANTHROPIC_API_KEY" in out.stdout  # the assertion that failed names the key
