"""Pictures with the optional ``plot`` extra (matplotlib): losses, fits, graphs.

Every function draws into ``ax`` (a new figure when it is None) and returns the Axes;
:func:`save` writes a PNG. Nothing here is imported by the rest of symbp.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OptionError
from .explain.latex import DerivationPrinter
from .explain.scalar import explain
from .explain.walkthrough import evaluate
from .model import Model


def _pyplot() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in (
            "agg",
            "module://matplotlib_inline.backend_inline",
        ):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise OptionError("plotting needs matplotlib: pip install 'symbp[plot]'") from None
    return plt


def _axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=size)
    return ax


def _curve(fit: Any) -> np.ndarray:
    losses = getattr(fit, "losses", fit)
    return np.asarray(losses, dtype=float).ravel()


def losses(fit: Any, ax: Any = None, *, label: str | None = None, log: bool = True) -> Any:
    """The batch loss before each step of a :class:`~symbp.Fit` (or an array of losses)."""
    ax = _axes(ax, (6, 3.8))
    curve = _curve(fit)
    ax.plot(np.arange(len(curve)), curve, label=label, lw=1.8)
    if log and np.all(curve > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="major", alpha=0.3)
    if label:
        ax.legend()
    return ax


def compare(
    curves: Mapping[str, Any], ax: Any = None, *, title: str | None = None, log: bool = True
) -> Any:
    """Several loss curves (label -> Fit or losses) on one log-scaled plot."""
    ax = _axes(ax, (7, 4.2))
    positive = True
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]
    for i, (label, fit) in enumerate(curves.items()):
        curve = _curve(fit)
        positive &= bool(np.all(curve > 0))
        line, marker = styles[i % len(styles)]
        # distinct line styles and markers keep overlapping curves (0.001 and 0.999) apart
        ax.plot(
            np.arange(len(curve)),
            curve,
            label=label,
            lw=1.8,
            ls=line,
            marker=marker,
            ms=4,
            markevery=max(1, len(curve) // 20),
            alpha=0.9,
        )
    if log and positive:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title)
    return ax


def fitted_line(
    x: Any,
    y: Any,
    predict: Callable[[np.ndarray], np.ndarray],
    ax: Any = None,
    *,
    title: str | None = None,
) -> Any:
    """Data points and a fitted curve ``predict(x)`` (seed 002's picture)."""
    ax = _axes(ax, (6, 4))
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    grid = np.linspace(x.min(), x.max(), 200)
    ax.scatter(x, y, c="tab:red", s=16, label="data", zorder=3)
    ax.plot(grid, predict(grid), c="tab:blue", lw=2, label="fitted")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def graph(model: Model, values: Mapping[str, Any] | None = None, ax: Any = None) -> Any:
    """The computational graph of the named quantities, with values and adjoints.

    Leaves (parameters, inputs, targets) are on the left of their first use; each
    quantity shows its value and, in red, its adjoint; edges carry the local partial
    derivative of the sweep. Meant for small models (a few dozen nodes).
    """
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixElement

    ex = explain(model.derivation)
    walk = evaluate(ex, values) if values is not None else None
    printer = DerivationPrinter(ex.names)
    leaves = ex.derivation.leaves
    # nodes: quantity keys and leaf elements; edges child -> parent
    depth: dict[sp.Basic, int] = {}
    edges: list[tuple[sp.Basic, sp.Basic]] = []
    for q in ex.quantities:
        children = [s for s in q.expr.free_symbols if s in ex.names]
        children += [e for e in q.expr.atoms(MatrixElement) if e in leaves]
        children = sorted(set(children), key=sp.default_sort_key)
        depth[q.key] = 1 + max((depth.get(c, 0) for c in children if c not in leaves), default=0)
        edges += [(c, q.key) for c in children]
    for child, parent in edges:
        if child in leaves:
            depth[child] = min(depth.get(child, 99), depth[parent] - 1)
    columns: dict[int, list[sp.Basic]] = {}
    order = {q.key: i for i, q in enumerate(ex.quantities)}
    for node in sorted(depth, key=lambda n: (depth[n], order.get(n, -1), sp.default_sort_key(n))):
        columns.setdefault(depth[node], []).append(node)
    tallest = max(len(c) for c in columns.values())
    ax = _axes(ax, (2.3 * (len(columns)) + 1, 1.15 * tallest + 1.2))
    pos: dict[sp.Basic, tuple[float, float]] = {}
    for col, nodes in columns.items():
        for row, node in enumerate(nodes):
            pos[node] = (col, (len(nodes) - 1) / 2 - row)
    local: dict[tuple[sp.Basic, sp.Basic], sp.Expr] = {}
    for line in ex.adjoints + ex.gradients:
        child = line.child.key if hasattr(line.child, "key") else line.child.leaf  # type: ignore[union-attr]
        for term in line.terms:
            local[(child, term.parent.key)] = term.local
    for child, parent in edges:
        (x0, y0), (x1, y1) = pos[child], pos[parent]
        ax.annotate(
            "",
            xy=(x1 - 0.3, y1),
            xytext=(x0 + 0.3, y0),
            arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 1},
        )
        partial = local.get((child, parent))
        if partial is not None and len(edges) <= 16:
            ax.text(
                x0 + 0.62 * (x1 - x0),
                y0 + 0.62 * (y1 - y0) + 0.08,
                f"${printer.doprint(partial)}$",
                fontsize=8,
                color="tab:blue",
                ha="center",
                va="bottom",
            )
    bars = {q.key: q.bar for q in ex.quantities}
    bars.update({line.child.leaf: line.child.bar for line in ex.gradients})  # type: ignore[union-attr]
    for node, (x, y) in pos.items():
        is_leaf = node in leaves
        text = f"${ex.names[node]}$"
        if walk is not None and node in walk.values:
            text += f"\n= {_plain_number(walk.values[node])}"
        elif walk is not None and is_leaf:
            var = leaves[node]
            text += f"\n= {_plain_number(float(np.asarray(values[var.var.name]).reshape(var.var.shape or ())[var.index]))}"  # type: ignore[index]
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=10,
            bbox={
                "boxstyle": "round,pad=0.35",
                "fc": "#eef3fb" if not is_leaf else "#f4f4f4",
                "ec": "0.4",
            },
        )
        bar = bars.get(node)
        if bar is not None:
            adjoint = f"${ex.names[bar]}$"
            if walk is not None and bar in walk.values:
                adjoint += f" = {_plain_number(walk.values[bar])}"
            ax.text(x, y - 0.36, adjoint, ha="center", va="top", fontsize=8.5, color="tab:red")
    ax.set_xlim(min(columns) - 0.6, max(columns) + 0.6)
    ax.set_ylim(-tallest / 2 - 0.3, tallest / 2 + 0.1)
    ax.axis("off")
    ax.set_title(
        f"computational graph of {model.name!r}: values (black), adjoints (red), "
        "local partials (blue)",
        fontsize=10,
    )
    return ax


def _plain_number(value: float) -> str:
    return f"{value:.6g}"


def save(ax: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write the figure of ``ax`` to ``path`` (a PNG), creating the folder; close it."""
    plt = _pyplot()
    figure = ax.figure
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=dpi)
    plt.close(figure)
    return out
