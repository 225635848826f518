"""Benchmarks of the snapshot engine against rsync and cp (see docs/benchmarks.md)."""
