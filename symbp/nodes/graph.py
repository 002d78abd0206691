"""DAG-aware traversal of SymPy expressions.

SymPy's own ``free_symbols``, ``has`` and ``atoms`` walk an expression as a tree: a
subexpression shared by k parents is visited k times, which is exponential in depth
for models that reuse their layers (f_{i+1} = sin(p_i f_i) + f_i). Everything symbp
does before emission walks the shared graph instead, visiting each distinct node once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp


def unique_nodes(
    root: sp.Basic,
    stop: Callable[[sp.Basic], bool] | None = None,
    *,
    skip: Callable[[sp.Basic], bool] | None = None,
    children: Callable[[sp.Basic], Sequence[sp.Basic]] | None = None,
) -> list[sp.Basic]:
    """Every distinct subexpression of ``root`` (itself included), children first.

    ``stop(node)`` true: include the node but do not descend into it. ``skip(node)``
    true: leave the node out entirely (the sweeps skip their atoms). ``children``
    replaces ``node.args`` as the edges of the graph. Children are visited in order,
    so the result is deterministic (a DFS post-order).
    """
    args = children or (lambda node: node.args)
    order: list[sp.Basic] = []
    seen: set[sp.Basic] = set()
    stack: list[tuple[sp.Basic, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen or (skip is not None and skip(node)):
            continue
        seen.add(node)
        stack.append((node, True))
        if stop is not None and stop(node):
            continue
        for child in reversed(args(node)):
            if child not in seen:
                stack.append((child, False))
    return order


def node_count(root: sp.Basic) -> int:
    """Number of distinct subexpressions."""
    return len(unique_nodes(root))
