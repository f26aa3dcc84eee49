"""Helpers shared by the eventsourcing conformance tests: a stream per recorder, cleaned up."""

from __future__ import annotations

import contextlib
import os

from ulid import ULID

from callsheet.esdb import JetStreamAggregateRecorder, JetStreamApplicationRecorder, LoopBridge
from callsheet.esdb.recorders import Layout


def delete_stream(bridge: LoopBridge, stream: str) -> None:
    """Delete a test stream if it exists and the bridge is open."""
    if bridge.closed:
        return

    async def delete() -> None:
        await bridge.nc.jetstream().delete_stream(stream)

    with contextlib.suppress(Exception):
        bridge.run(delete)


def unique_layout(purpose: str = "es") -> Layout:
    uid = str(ULID()).lower()
    return Layout(stream=f"ES_{uid}", prefix=f"t{uid}.{purpose}")


class Recorders:
    """Makes recorders on fresh streams and deletes the streams at the end."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.bridges: list[LoopBridge] = []
        self.made: list[tuple[LoopBridge, str]] = []

    def bridge(self) -> LoopBridge:
        bridge = LoopBridge(self.nats_url.split(","), name="esdb-tests")
        self.bridges.append(bridge)
        return bridge

    def aggregate(self, **kwargs: int) -> JetStreamAggregateRecorder:
        bridge = self.bridge()
        recorder = JetStreamAggregateRecorder(bridge, unique_layout(), **kwargs)
        recorder.create_stream()
        self.made.append((bridge, recorder.layout.stream))
        return recorder

    def application(self, **kwargs: int) -> JetStreamApplicationRecorder:
        bridge = self.bridge()
        recorder = JetStreamApplicationRecorder(bridge, unique_layout(), **kwargs)
        recorder.create_stream()
        self.made.append((bridge, recorder.layout.stream))
        return recorder

    def close(self) -> None:
        if not os.environ.get("CALLSHEET_TEST_KEEP_STREAMS"):
            for bridge, stream in self.made:
                delete_stream(bridge, stream)
        for bridge in self.bridges:
            bridge.close()
