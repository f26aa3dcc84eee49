"""The embedded broker: find ``nats-server``, run it, connect to it.

``NatsServerProcess`` runs a server as a child process (tests, tools); ``up``, ``down``
and ``status`` manage the project's detached server used by the CLI; ``resolve_url`` and
``connect`` give a client, from ``CALLSHEET_NATS_URL`` or that embedded server.
"""

from callsheet.broker.binary import ENV_BINARY, find_nats_server
from callsheet.broker.config import ServerSettings
from callsheet.broker.connect import ENV_URL, connect, resolve_url
from callsheet.broker.daemon import ENV_HOME, BrokerState, down, status, up
from callsheet.broker.errors import (
    BrokerError,
    BrokerNotRunningError,
    InsecureListenError,
    PortInUseError,
)
from callsheet.broker.process import NatsServerProcess

__all__ = [
    "ENV_BINARY",
    "ENV_HOME",
    "ENV_URL",
    "BrokerError",
    "BrokerNotRunningError",
    "BrokerState",
    "InsecureListenError",
    "NatsServerProcess",
    "PortInUseError",
    "ServerSettings",
    "connect",
    "down",
    "find_nats_server",
    "resolve_url",
    "status",
    "up",
]
