"""Benchmark scripts, run by hand (see docs/benchmarks.md)."""
