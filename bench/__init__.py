"""Benchmarks of Tally (not run in CI): see bench/README.md; `make bench` runs them all."""
