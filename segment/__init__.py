"""Predictive customer segmentation: the import root and kernel.

`segment.pipeline`, `segment.features` and `segment.models` are installed from the top-level folders of
the same names (see docs/architecture.md). This package itself is the kernel every layer may import: the
schema (names and contracts), the config types and the user-facing errors. It imports nothing above it.
"""
