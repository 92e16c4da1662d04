"""Benchmarks: load-generated measurements of the real app (never timed tests)."""
