"""Helpers shared by the eventsourcing conformance tests: a log per recorder, cleaned up."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ulid import ULID

from callsheet.esdb import JetStreamAggregateRecorder, JetStreamApplicationRecorder, LoopBridge
from callsheet.events.stream import StoreConfig

GOAL = "app"


def delete_streams(bridge: LoopBridge, config: StoreConfig) -> None:
    """Delete a test log's stream and blob bucket, if they exist and the bridge is open."""
    if bridge.closed:
        return

    async def delete() -> None:
        js = bridge.nc.jetstream()
        for stream in (config.stream, f"OBJ_{config.blob_bucket}"):
            with contextlib.suppress(Exception):
                await js.delete_stream(stream)

    with contextlib.suppress(Exception):
        bridge.run(delete)


def unique_config(**overrides: Any) -> StoreConfig:
    """Return the configuration of a log of its own (stream, root and blob bucket)."""
    uid = str(ULID()).lower()
    return StoreConfig(
        stream=f"ES_{uid}", root=f"t{uid}", blob_bucket=f"ES_{uid}_BLOBS", **overrides
    )


class Recorders:
    """Makes recorders on fresh logs and deletes them at the end."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.bridges: list[LoopBridge] = []
        self.made: list[tuple[LoopBridge, StoreConfig]] = []

    def bridge(self) -> LoopBridge:
        bridge = LoopBridge(self.nats_url.split(","), name="esdb-tests")
        self.bridges.append(bridge)
        return bridge

    def aggregate(self, **overrides: Any) -> JetStreamAggregateRecorder:
        bridge = self.bridge()
        recorder = JetStreamAggregateRecorder(bridge, unique_config(**overrides), goal=GOAL)
        recorder.create_stream()
        self.made.append((bridge, recorder.config))
        return recorder

    def application(self, **overrides: Any) -> JetStreamApplicationRecorder:
        bridge = self.bridge()
        recorder = JetStreamApplicationRecorder(bridge, unique_config(**overrides), goal=GOAL)
        recorder.create_stream()
        self.made.append((bridge, recorder.config))
        return recorder

    def close(self) -> None:
        if not os.environ.get("CALLSHEET_TEST_KEEP_STREAMS"):
            for bridge, config in self.made:
                delete_streams(bridge, config)
        for bridge in self.bridges:
            bridge.close()
