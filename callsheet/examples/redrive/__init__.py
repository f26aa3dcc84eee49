"""Re-drive examples: agents changed on purpose, to compare with what the log recorded."""
