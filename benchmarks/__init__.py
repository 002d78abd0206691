"""Benchmarks comparing symbp with peer frameworks (run with ``python benchmarks/run.py``)."""
