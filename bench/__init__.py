"""Benchmarks run by `make bench`; each section module writes its own results file under bench/results/."""
