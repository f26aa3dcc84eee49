"""callsheet.events."""
