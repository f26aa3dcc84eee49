"""callsheet: event-sourced choreography for teams of AI agents, on NATS JetStream."""

__version__ = "0.1.0"
