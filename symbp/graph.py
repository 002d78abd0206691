"""DAG-aware traversal of SymPy expressions.

SymPy's own ``free_symbols``, ``has`` and ``atoms`` walk an expression as a tree: a
subexpression shared by k parents is visited k times, which is exponential in depth
for models that reuse their layers (f_{i+1} = sin(p_i f_i) + f_i). Everything symbp
does before emission walks the shared graph instead, visiting each distinct node once.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp


def unique_nodes(root: sp.Basic, stop: Callable[[sp.Basic], bool] | None = None) -> list[sp.Basic]:
    """Every distinct subexpression of ``root`` (itself included), children first.

    ``stop(node)`` true means: include the node but do not descend into it.
    """
    order: list[sp.Basic] = []
    seen: set[sp.Basic] = set()
    stack: list[tuple[sp.Basic, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        if stop is not None and stop(node):
            continue
        for child in reversed(node.args):
            if child not in seen:
                stack.append((child, False))
    return order


def node_count(root: sp.Basic) -> int:
    """Number of distinct subexpressions."""
    return len(unique_nodes(root))


def short_text(expr: sp.Basic, limit: int = 400) -> str:
    """``str(expr)`` when small, else a summary (printing a shared DAG is exponential)."""
    if node_count(expr) > 120:
        return f"<expression with {node_count(expr)} distinct nodes>"
    text = sp.sstr(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."
