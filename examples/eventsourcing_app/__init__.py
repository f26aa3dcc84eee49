"""An ``eventsourcing`` application whose events are recorded in callsheet's JetStream."""
