"""callsheet.cli."""
