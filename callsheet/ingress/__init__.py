"""Untrusted ingress: the gatekeeper and its dead-letter records."""

from callsheet.ingress.gatekeeper import Gatekeeper, GatekeeperStats
from callsheet.ingress.records import DeadLetter

__all__ = ["DeadLetter", "Gatekeeper", "GatekeeperStats"]
