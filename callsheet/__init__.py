"""callsheet: event-sourced choreography for teams of AI agents, on NATS JetStream.

The public API lives in the packages, one per role (each lists it in ``__all__``):
``callsheet.events`` (the contract and the log), ``callsheet.agents``,
``callsheet.projections``, ``callsheet.replay``, ``callsheet.crew``,
``callsheet.ingress``, ``callsheet.testing`` and the others. The top level stays
light, so that ``callsheet --help`` starts at once.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
