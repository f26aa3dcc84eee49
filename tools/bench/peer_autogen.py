"""Run in the peers' venv: AutoGen's gRPC runtime, one-way dispatch latency.

``python peer_autogen.py N`` prints a JSON list of N latencies in microseconds:
from just before ``send_message`` on one worker runtime to the entry of the
receiving agent's handler on another, both through a ``GrpcWorkerAgentRuntimeHost``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from dataclasses import dataclass

from autogen_core import AgentId, MessageContext, RoutedAgent, message_handler
from autogen_core._serialization import try_get_known_serializers_for_type
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime, GrpcWorkerAgentRuntimeHost


@dataclass
class Ping:
    """The message: when it was sent."""

    sent: int


ENTERED: list[int] = []


class Receiver(RoutedAgent):  # type: ignore[misc]
    """Notes when each message arrives."""

    def __init__(self) -> None:
        super().__init__("receiver")

    @message_handler  # type: ignore[untyped-decorator]
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Ping:
        ENTERED.append(time.perf_counter_ns() - message.sent)
        return message  # the runtime cannot carry a None reply


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(n: int, warmup: int = 20) -> list[float]:
    address = f"127.0.0.1:{_free_port()}"
    host = GrpcWorkerAgentRuntimeHost(address=address)
    host.start()
    sender = GrpcWorkerAgentRuntime(host_address=address)
    receiver = GrpcWorkerAgentRuntime(host_address=address)
    for runtime in (sender, receiver):
        runtime.add_message_serializer(try_get_known_serializers_for_type(Ping))
        await runtime.start()
    await Receiver.register(receiver, "receiver", Receiver)
    target = AgentId("receiver", "default")
    for _ in range(warmup + n):
        await sender.send_message(Ping(time.perf_counter_ns()), target)
    await sender.stop()
    await receiver.stop()
    await host.stop()
    return [ns / 1000 for ns in ENTERED[warmup:]]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1])))))
