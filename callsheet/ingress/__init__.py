"""Untrusted ingress: the gatekeeper, its dead-letter records, and the HTTP producers' tokens."""

from callsheet.ingress.gatekeeper import Gatekeeper, GatekeeperStats
from callsheet.ingress.records import DeadLetter
from callsheet.ingress.tokens import TokenError, TokenRecord, Tokens

__all__ = ["DeadLetter", "Gatekeeper", "GatekeeperStats", "TokenError", "TokenRecord", "Tokens"]
