"""infra/compose.yaml cannot run here (no Docker engine); its shape is checked instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).parents[2] / "infra" / "compose.yaml"


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_three_nats_nodes_form_one_jetstream_cluster_and_jaeger_takes_otlp() -> None:
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    nodes = {n: s for n, s in services.items() if n.startswith("nats")}
    assert sorted(nodes) == ["nats1", "nats2", "nats3"]
    names, client_ports = set(), set()
    for service in nodes.values():
        command = service["command"]
        assert "-js" in command and flag(command, "-sd") == "/data"
        assert flag(command, "--cluster_name") == "callsheet"
        routes = set(flag(command, "--routes").split(","))
        assert routes == {f"nats://{n}:6222" for n in nodes}  # each node knows all three
        assert flag(command, "--cluster") == "nats://0.0.0.0:6222"
        names.add(flag(command, "--name"))
        client_ports.add(next(p for p in service["ports"] if p.endswith(":4222")).split(":")[0])
        volume, sync = service["volumes"]
        assert volume.split(":")[0] in spec["volumes"]
        # Acknowledged means on disk: the mounted file says sync_interval: always.
        assert sync == "./jetstream-sync.conf:/etc/nats/sync.conf:ro"
        assert flag(command, "-c") == "/etc/nats/sync.conf"
        assert "sync_interval: always" in (COMPOSE.parent / "jetstream-sync.conf").read_text()
    assert len(names) == 3 and client_ports == {"4222", "4223", "4224"}
    jaeger = services["jaeger"]
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert {"16686:16686", "4318:4318"} <= set(jaeger["ports"])
