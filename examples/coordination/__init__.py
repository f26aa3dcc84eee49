"""The five coordination patterns, each a small runnable crew (see README.md here)."""
