"""Developer tools for callsheet (benchmarks and the like)."""
