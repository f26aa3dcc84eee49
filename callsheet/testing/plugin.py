"""callsheet's pytest plugin (entry point ``pytest11: callsheet``): fixtures for your tests.

Fixtures:

- ``callsheet_nats_url`` (session): a JetStream nats-server for the session, from
  ``--callsheet-backend process`` (``nats-server`` from the wheel, the default) or
  ``container`` (testcontainers; the tests skip with the reason where no Docker
  engine answers), or the server given by ``--callsheet-nats-url``.
- ``callsheet_store``: a log of its own for the test (stream, subjects and buckets
  no other test uses), removed afterwards.
- ``callsheet_agents``: ``await callsheet_agents(agent, ...)`` runs agents on that
  log until the test ends.
- ``callsheet_crew``: a whole crew (``build_crew``) running on it; options with
  ``@pytest.mark.callsheet_crew(roles=(...), review=True, ...)``.
- ``recorded_model``: a model answering from ``recordings/<module>.<test>.jsonl``
  beside the test; ``pytest --callsheet-record`` records it again with the real
  model (Claude with ``ANTHROPIC_API_KEY``, else the offline one).

With them, ``callsheet.testing``'s ``publish``, ``wait_for_event``,
``wait_for_state`` and ``assert_redrives_identically``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from ulid import ULID

from callsheet.agents import Agent, AgentRuntime
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.models import Model, default_model
from callsheet.testing.models import RecordedModel, RecordingModel
from callsheet.testing.servers import BACKENDS, container_unavailable, nats_server

__all__ = [
    "StartAgents",
    "callsheet_agents",
    "callsheet_crew",
    "callsheet_nats_url",
    "callsheet_store",
    "callsheet_store_config",
    "recorded_model",
]

StartAgents = Callable[..., Awaitable[AgentRuntime]]
"""The type of ``callsheet_agents``: ``await start(agent, ..., **AgentRuntime options)``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """The kit's options."""
    group = parser.getgroup("callsheet", "callsheet test kit")
    group.addoption(
        "--callsheet-backend",
        choices=BACKENDS,
        default=os.environ.get("CALLSHEET_TEST_BACKEND", "process"),
        help="where the session's nats-server runs: a child process (default) or a "
        "container (testcontainers; skipped where no Docker engine answers)",
    )
    group.addoption(
        "--callsheet-nats-url",
        default=None,
        help="use this nats-server (JetStream enabled) instead of starting one",
    )
    group.addoption(
        "--callsheet-record",
        action="store_true",
        default=False,
        help="recorded_model: ask the real model and write the recordings again",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the kit's marker."""
    config.addinivalue_line(
        "markers", "callsheet_crew(**options): build_crew options of the callsheet_crew fixture"
    )
    config.addinivalue_line(
        "markers", "callsheet_model(path): the recording file of the recorded_model fixture"
    )


@pytest.fixture(scope="session")
def callsheet_nats_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of the session's nats-server (see the module docstring)."""
    given = request.config.getoption("--callsheet-nats-url")
    if given:
        yield str(given)
        return
    backend = request.config.getoption("--callsheet-backend")
    if backend == "container":
        reason = container_unavailable()
        if reason is not None:
            pytest.skip(f"the container backend cannot run: {reason}")
    with nats_server(backend, tmp_path_factory.mktemp("callsheet-nats")) as url:
        yield url


@pytest.fixture
def callsheet_store_config() -> StoreConfig:
    """A stream, subject root and blob bucket that no other test uses."""
    uid = str(ULID()).lower()
    return StoreConfig(stream=f"T_{uid}", root=f"t{uid}", blob_bucket=f"B_{uid}")


@pytest_asyncio.fixture
async def callsheet_store(
    callsheet_nats_url: str, callsheet_store_config: StoreConfig
) -> AsyncIterator[EventStore]:
    """The test's own log on the session's server; removed after the test."""
    nc = await nats.connect(
        servers=callsheet_nats_url.split(","), name="callsheet-testing", connect_timeout=5
    )
    try:
        yield await EventStore.open(nc, callsheet_store_config)
    finally:
        js = nc.jetstream()
        config = callsheet_store_config
        with contextlib.suppress(Exception):
            await js.delete_stream(config.stream)
        with contextlib.suppress(Exception):
            await js.delete_object_store(config.blob_bucket)
        for suffix in ("LEADERS", "TOKENS"):
            with contextlib.suppress(Exception):
                await js.delete_key_value(f"{config.stream}_{suffix}")
        await nc.close()


@pytest_asyncio.fixture
async def callsheet_agents(callsheet_store: EventStore) -> AsyncIterator[StartAgents]:
    """Run agents on the test's log until it ends: ``await start(agent, ...)``."""
    runtimes: list[AgentRuntime] = []

    async def start(*agents: Agent, **options: Any) -> AgentRuntime:
        runtime = AgentRuntime(callsheet_store, list(agents), **options)
        await runtime.start()
        runtimes.append(runtime)
        return runtime

    try:
        yield start
    finally:
        for runtime in reversed(runtimes):
            await runtime.stop()


@pytest_asyncio.fixture
async def callsheet_crew(
    request: pytest.FixtureRequest, callsheet_agents: StartAgents
) -> AgentRuntime:
    """A crew (``build_crew``) running on the test's log; see ``@pytest.mark.callsheet_crew``."""
    from callsheet.crew import build_crew

    marker = request.node.get_closest_marker("callsheet_crew")
    options: dict[str, Any] = {"lease_seconds": 2.0, "step_seconds": 0.02}
    if marker is not None:
        options.update(marker.kwargs)
    return await callsheet_agents(*build_crew(**options))


def _recording_path(request: pytest.FixtureRequest) -> Path:
    marker = request.node.get_closest_marker("callsheet_model")
    if marker is not None:
        given = Path(marker.args[0] if marker.args else marker.kwargs["path"])
        return given if given.is_absolute() else request.path.parent / given
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return request.path.parent / "recordings" / f"{request.path.stem}.{name}.jsonl"


@pytest.fixture
def recorded_model(request: pytest.FixtureRequest) -> Iterator[Model]:
    """A model that answers from the test's recording; ``--callsheet-record`` records it."""
    path = _recording_path(request)
    if request.config.getoption("--callsheet-record"):
        recording = RecordingModel(default_model())
        yield recording
        recording.save(path)
        return
    if not path.is_file():
        pytest.fail(
            f"no model recording at {path}: run pytest --callsheet-record once to make it",
            pytrace=False,
        )
    yield RecordedModel.load(path)
