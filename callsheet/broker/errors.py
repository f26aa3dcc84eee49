"""Errors of the embedded broker."""

from __future__ import annotations

__all__ = ["BrokerError", "BrokerNotRunningError", "InsecureListenError", "PortInUseError"]


class BrokerError(Exception):
    """The NATS server could not be found, started, stopped or reached."""


class PortInUseError(BrokerError):
    """The requested client port is taken by another process."""


class BrokerNotRunningError(BrokerError):
    """No server is running, and starting one was not allowed."""


class InsecureListenError(BrokerError):
    """The broker was asked to listen beyond this machine without credentials."""
