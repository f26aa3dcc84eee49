"""Test harness: a real nats-server per session, a fresh stream per test.

``--nats-url nats://host:port[,nats://other:port]`` (or ``CALLSHEET_TEST_NATS_URL``) runs the
whole suite against an external server or cluster instead (``CALLSHEET_TEST_REPLICAS=3``
for replicated streams); every test still gets its own stream,
subject root and blob bucket, so runs never see each other's events.

Tests never call a real model: ``ANTHROPIC_API_KEY`` (and the SDK's other credential,
``ANTHROPIC_AUTH_TOKEN``) are removed from the environment before any test runs, so the
crew, in this process and in every CLI subprocess (which inherit the environment), uses the
offline model. ``--real-model`` keeps them, to run the suite against Claude on purpose.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from ulid import ULID

from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.ingress.gatekeeper import ingress_stream

MODEL_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
"""Environment variables that would make the crew (or the SDK) call a real model."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--nats-url",
        default=os.environ.get("CALLSHEET_TEST_NATS_URL"),
        help="run against this NATS server (JetStream enabled) instead of starting one",
    )
    parser.addoption(
        "--real-model",
        action="store_true",
        default=False,
        help="keep ANTHROPIC_API_KEY: let the crew call Claude (costs money); "
        "without it the key is removed and every test uses the offline model",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Here rather than in a fixture: before any test, in-process or in a subprocess that
    # inherits os.environ, can read the key.
    # One server for the suite: --nats-url is the kit's server too.
    if config.getoption("--nats-url") and not config.getoption("--callsheet-nats-url"):
        config.option.callsheet_nats_url = config.getoption("--nats-url")
    if not config.getoption("--real-model"):
        for name in MODEL_CREDENTIALS:
            os.environ.pop(name, None)


@pytest.fixture(scope="session")
def external_nats_url(request: pytest.FixtureRequest) -> str | None:
    value = request.config.getoption("--nats-url")
    return str(value) if value else None


@pytest.fixture(scope="session")
def nats_url(external_nats_url: str | None, request: pytest.FixtureRequest) -> str:
    """URL of the session's server: the test kit's (``callsheet_nats_url``) unless --nats-url.

    The kit (``callsheet.testing``, a pytest plugin) starts it on a free port, or in a
    container with ``--callsheet-backend container``; tests that use the kit's fixtures
    and those that use this one share the one server.
    """
    if external_nats_url:
        return external_nats_url
    url: str = request.getfixturevalue("callsheet_nats_url")
    return url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(
        servers=nats_url.split(","), name="callsheet-tests", connect_timeout=5
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def store_config() -> StoreConfig:
    """A stream, subject root and bucket that no other test uses."""
    uid = str(ULID()).lower()
    replicas = int(os.environ.get("CALLSHEET_TEST_REPLICAS", "1"))
    return StoreConfig(stream=f"T_{uid}", root=f"t{uid}", blob_bucket=f"B_{uid}", replicas=replicas)


@pytest.fixture
async def store(nc: Client, store_config: StoreConfig) -> AsyncIterator[EventStore]:
    store = await EventStore.open(nc, store_config)
    yield store
    if not os.environ.get("CALLSHEET_TEST_KEEP_STREAMS"):
        js = nc.jetstream()
        await js.delete_stream(store_config.stream)
        with contextlib.suppress(Exception):  # made with the log (EventStore.open)
            await js.delete_stream(ingress_stream(store_config.root).name or "")
        # The bucket exists only if a test stored a large event.
        with contextlib.suppress(Exception):
            await js.delete_object_store(store_config.blob_bucket)


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder used as CALLSHEET_HOME."""
    monkeypatch.setenv("CALLSHEET_HOME", str(tmp_path))
    return tmp_path
