"""The scalar level of the sweep: nodes are scalar expressions over declared elements.

Only the elements the loss reads become leaves: declaring a 5000x5000
``MatrixSymbol`` of which the loss uses one entry costs one leaf, not 25 million.
Adjoints are pulled back by the rules of :mod:`symbp.derive.scalar_rules`.
"""

from __future__ import annotations

import sympy as sp

from ..declare.variables import Variable
from ..errors import MissingVJPRule
from ..nodes.elements import is_leaf_read
from ..nodes.graph import unique_nodes
from .scalar_rules import describe, find_rule
from .sweep import Derivation, Leaf, Pairs, SweepLevel, sweep


class ScalarLevel(SweepLevel):
    """Scalar expressions over the elements of the declared variables.

    Only the elements the loss reads become leaves: declaring a 5000x5000
    ``MatrixSymbol`` of which the loss uses one entry costs one leaf, not 25 million.
    """

    def leaves(self, variables: tuple[Variable, ...], root: sp.Basic) -> dict[sp.Basic, Leaf]:
        owner: dict[sp.Basic, Leaf] = {}
        matrices: dict[sp.Basic, Variable] = {}
        for var in variables:
            if var.is_explicit:  # its elements are symbols the user built already
                owner.update((var.element(index), Leaf(var, index)) for index in var.indices())
            elif var.shape:
                matrices[var.symbol] = var
            else:
                owner[var.symbol] = Leaf(var, ())
        found: dict[sp.Basic, Leaf] = {}
        for node in unique_nodes(root, stop=is_leaf_read):
            leaf = owner.get(node)
            if leaf is None and is_leaf_read(node) and node.args[0] in matrices:
                leaf = Leaf(matrices[node.args[0]], (int(node.args[1]), int(node.args[2])))
            if leaf is not None:
                found[node] = leaf
        return found

    def pullback(
        self, node: sp.Basic, local: sp.Basic, out_bar: sp.Basic, out: sp.Basic | None
    ) -> Pairs:
        rule = find_rule(node)
        if rule is None:
            raise MissingVJPRule(
                f"no derivative rule for {describe(node)} (in {node}); supported are "
                "SymPy's arithmetic, elementary and special functions, Abs, Max, Min, "
                "Heaviside and Piecewise"
            )
        try:
            pairs = rule(local, out_bar)
        except MissingVJPRule as err:
            raise MissingVJPRule(f"{err} (in {node})") from None
        if out is None:
            return list(pairs)
        return [(child, cot.xreplace({local: out})) for child, cot in pairs]

    def gradient_leaves(
        self, var: Variable, leaves: dict[sp.Basic, Leaf]
    ) -> list[tuple[tuple[int, ...], sp.Basic, sp.Basic]]:
        used = sorted((leaf.index, expr) for expr, leaf in leaves.items() if leaf.var == var)
        return [(index, expr, sp.S.Zero) for index, expr in used]


SCALAR = ScalarLevel()


def derive(loss: sp.Expr, variables: tuple[Variable, ...]) -> Derivation:
    """Run the reverse sweep over ``loss`` (a scalar expression in declared symbols)."""
    return sweep(loss, variables, SCALAR)
