"""The embedded broker: find ``nats-server``, run it, connect to it."""

from callsheet.broker.binary import find_nats_server
from callsheet.broker.connect import ENV_URL, connect, resolve_url
from callsheet.broker.daemon import BrokerState, down, status, up
from callsheet.broker.errors import BrokerError, BrokerNotRunningError, PortInUseError
from callsheet.broker.process import NatsServerProcess

__all__ = [
    "ENV_URL",
    "BrokerError",
    "BrokerNotRunningError",
    "BrokerState",
    "NatsServerProcess",
    "PortInUseError",
    "connect",
    "down",
    "find_nats_server",
    "resolve_url",
    "status",
    "up",
]
