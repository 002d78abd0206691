"""symbp.plot (optional matplotlib): every picture renders to a non-trivial PNG."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_example

pytest.importorskip("matplotlib")

from symbp import plot


def is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_losses_and_compare(tmp_path):
    curve = np.exp(-np.linspace(0, 5, 40))
    assert is_png(plot.save(plot.losses(curve, label="decay"), tmp_path / "losses.png"))
    ax = plot.compare({"a": curve, "b": 2 * curve, "flat": np.ones(40)}, title="t")
    assert len(ax.get_lines()) == 3 and ax.get_yscale() == "log"
    assert is_png(plot.save(ax, tmp_path / "compare.png"))


def test_fitted_line(tmp_path):
    xs = np.random.default_rng(1).random(20)
    ax = plot.fitted_line(xs, 3 * xs + 0.8, lambda v: 3 * v + 0.8)
    assert is_png(plot.save(ax, tmp_path / "fit.png"))


def test_graph_shows_values_and_adjoints(tmp_path):
    example = load_example("seed_004")
    ax = plot.graph(example.model, {**example.PARAMS, **example.DATA})
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "0.751365" in texts and r"\bar{z}^{(2)}_{1}" in texts and "0.138499" in texts
    assert is_png(plot.save(ax, tmp_path / "graph.png", dpi=60))
    small = load_example("seed_002")
    ax = plot.graph(small.model)
    assert any("2 r" in t.get_text() for t in ax.texts)  # the local partial dL/dr
    assert is_png(plot.save(ax, tmp_path / "graph_small.png"))
