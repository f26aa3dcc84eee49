"""A JetStream cluster of ``nats-server`` nodes on loopback, for tests and tools.

Each node is a ``NatsServerProcess`` with a generated configuration (its name, its
cluster port, routes to every node, the sync mode), so a node can be killed and started
again on the same ports and store, as a crashed machine would come back.

Example:
    with LocalCluster(tmp / "cluster") as cluster:
        nc = await connect(cluster.url)
        await cluster.wait_ready()
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import nats
import nats.errors

from callsheet.broker.config import SyncMode
from callsheet.broker.errors import BrokerError
from callsheet.broker.process import NatsServerProcess

__all__ = ["LocalCluster"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalCluster:
    """``size`` clustered nats-server nodes with JetStream, all on 127.0.0.1."""

    def __init__(
        self,
        folder: Path | str,
        *,
        size: int = 3,
        name: str = "callsheet-local",
        sync: SyncMode = "always",
        start_timeout: float = 20.0,
    ) -> None:
        """Describe the cluster; ``start`` runs it.

        Args:
            folder: Where each node keeps its store, configuration and log.
            size: Number of nodes.
            name: Cluster name (also the prefix of the nodes' server names).
            sync: JetStream sync mode of every node.
            start_timeout: Seconds each node may take to be ready.
        """
        self.folder = Path(folder)
        self.name = name
        self._cluster_ports = [_free_port() for _ in range(size)]
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self._cluster_ports)
        self.nodes: list[NatsServerProcess] = []
        self.server_names: list[str] = []
        for index, cluster_port in enumerate(self._cluster_ports):
            node_dir = self.folder / f"n{index + 1}"
            node_dir.mkdir(parents=True, exist_ok=True)
            server_name = f"{name}-n{index + 1}"
            lines = [
                f'server_name: "{server_name}"',
                "jetstream {",
                *(["  sync_interval: always"] if sync == "always" else []),
                "}",
                "cluster {",
                f'  name: "{name}"',
                f"  listen: 127.0.0.1:{cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
            conf = node_dir / "node.conf"
            conf.write_text("\n".join(lines) + "\n")
            self.server_names.append(server_name)
            self.nodes.append(
                NatsServerProcess(
                    node_dir / "store",
                    port=_free_port(),
                    config_file=conf,
                    log_file=node_dir / "server.log",
                    start_timeout=start_timeout,
                )
            )

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (what ``CALLSHEET_NATS_URL`` takes)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, server_name: str) -> NatsServerProcess:
        """The node with that server name (as stream infos name a leader).

        Raises:
            KeyError: No node has that name.
        """
        return self.nodes[self.server_names.index(server_name)]

    def start(self) -> Self:
        """Start every node that is not running.

        Raises:
            BrokerError: A node did not come up.
        """
        for node in self.nodes:
            node.start()
        return self

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until JetStream answers through the cluster (a meta leader is elected).

        Raises:
            BrokerError: It did not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        nc = await nats.connect(servers=self.url.split(","), connect_timeout=5)
        try:
            while True:
                try:
                    await nc.jetstream(timeout=2).account_info()
                    return
                except nats.errors.Error:
                    if time.monotonic() >= deadline:
                        raise BrokerError(
                            f"the cluster's JetStream did not answer within {timeout}s"
                        ) from None
                await asyncio.sleep(0.1)  # retry interval, bounded by the deadline
        finally:
            await nc.close()

    def stop(self) -> None:
        """Stop every node gracefully."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
