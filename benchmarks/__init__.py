"""Benchmarks (run with `make bench-serve`; not part of the tests)."""
