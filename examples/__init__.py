"""Runnable examples: the coordination patterns, re-drive, an eventsourcing application."""
