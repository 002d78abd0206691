"""Scalar-level emission: straight-line per-sample code (kernel and predict)."""
