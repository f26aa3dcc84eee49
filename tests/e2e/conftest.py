"""Fixtures shared by the end-to-end tests: an environment of the test's own, and its processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli_support import Processes, cli_env


@pytest.fixture
def env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: the session's server, a stream and subject root of the test's own."""
    return cli_env(nats_url, tmp_path)


@pytest.fixture
def procs(env: dict[str, str]) -> Iterator[Processes]:
    """The long-running CLI processes a test starts (crew, gatekeeper...), stopped after it."""
    result = Processes(env)
    try:
        yield result
    finally:
        result.stop()
