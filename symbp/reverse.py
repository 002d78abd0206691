"""The reverse sweep: shared expression DAG -> forward steps and adjoint steps.

Every distinct subexpression of the loss (keyed by SymPy's structural equality, so
shared subexpressions are one node) is visited once, children before parents. Each
node becomes a forward step ``_v<k> = f(children)``; the sweep then walks the nodes
in reverse, sums the cotangents that reached each node into its adjoint
``_v<k>_bar`` and asks the node's VJP rule for its children's cotangents.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sympy as sp

from .declare import Variable
from .errors import MissingVJPRule
from .graph import unique_nodes
from .rules import describe, find_rule, non_differentiable


@dataclass(frozen=True)
class Leaf:
    """A scalar the kernels read from an array: one element of a declared variable."""

    var: Variable
    index: tuple[int, ...]


@dataclass(frozen=True)
class Step:
    """One assignment ``target = expr`` of the derivation.

    For a forward step, ``node`` is the original subexpression it computes. For an
    adjoint step, ``node`` is the subexpression whose adjoint it is, and ``terms``
    lists each contribution as ``(parent symbol, cotangent)`` in sweep order.
    """

    target: sp.Symbol
    expr: sp.Expr
    node: sp.Basic
    terms: tuple[tuple[sp.Symbol, sp.Expr], ...] = field(default=())


@dataclass(frozen=True)
class Derivation:
    """The result of the reverse sweep: a straight-line program, before simplification."""

    variables: tuple[Variable, ...]
    leaves: dict[sp.Basic, Leaf]
    forward: tuple[Step, ...]
    adjoint: tuple[Step, ...]
    loss: sp.Expr
    #: (param name, element index) -> gradient expression in the program's symbols
    gradients: dict[tuple[str, tuple[int, ...]], sp.Expr]

    @property
    def params(self) -> tuple[Variable, ...]:
        """The declared parameters, in declaration order."""
        return tuple(v for v in self.variables if v.role == "params")


def _is_atom(expr: sp.Basic, leaves: dict[sp.Basic, Leaf]) -> bool:
    return expr in leaves or expr.is_Number or expr.is_NumberSymbol or expr in (sp.true, sp.false)


def topological_order(root: sp.Basic, leaves: dict[sp.Basic, Leaf]) -> list[sp.Basic]:
    """Distinct non-atomic subexpressions of ``root``, children before parents."""
    return unique_nodes(root, skip=lambda node: _is_atom(node, leaves))


def derive(loss: sp.Expr, variables: tuple[Variable, ...]) -> Derivation:
    """Run the reverse sweep over ``loss`` (a scalar expression in declared symbols)."""
    leaves: dict[sp.Basic, Leaf] = {}
    for var in variables:
        for index in var.indices():
            leaves[var.element(index)] = Leaf(var, index)

    order = topological_order(loss, leaves)
    local: dict[sp.Basic, sp.Basic] = {}  # node -> its expression in children's symbols
    symbol: dict[sp.Basic, sp.Symbol] = {}
    back: dict[sp.Basic, sp.Basic] = {}  # a child as it appears in local expressions -> node
    depends: dict[sp.Basic, bool] = {}
    forward: list[Step] = []

    def ref(child: sp.Basic) -> sp.Basic:
        if child in symbol:
            return symbol[child]
        if child in local:  # an inline (boolean) node
            return local[child]
        return child

    def needs_adjoint(child: sp.Basic) -> bool:
        leaf = leaves.get(child)
        if leaf is not None:
            return leaf.var.role == "params"
        return depends.get(child, False)

    for node in order:
        args = [ref(child) for child in node.args]
        expr = node.func(*args) if args else node
        depends[node] = any(needs_adjoint(child) for child in node.args)
        if non_differentiable(node):
            local[node] = expr
            continue
        target = sp.Symbol(f"_v{len(forward)}", real=True)
        local[node] = expr
        symbol[node] = target
        back[target] = node
        forward.append(Step(target, expr, node))

    cotangents: dict[sp.Basic, list[tuple[sp.Symbol, sp.Expr]]] = defaultdict(list)
    root_bar = sp.Integer(1)
    adjoint: list[Step] = []
    if loss in symbol:
        cotangents[loss].append((sp.Symbol("_loss_bar"), root_bar))
    elif loss in leaves:
        cotangents[loss].append((sp.Symbol("_loss_bar"), root_bar))

    for node in reversed(order):
        if node not in symbol or not depends[node] or node not in cotangents:
            continue
        terms = cotangents.pop(node)
        target = sp.Symbol(f"{symbol[node].name}_bar", real=True)
        adjoint.append(Step(target, sp.Add(*(c for _, c in terms)), node, tuple(terms)))
        rule = find_rule(node)
        if rule is None:
            raise MissingVJPRule(
                f"no derivative rule for {describe(node)} (in {node}); supported are "
                "SymPy's arithmetic, elementary and special functions, Abs, Max, Min, "
                "Heaviside and Piecewise"
            )
        try:
            pairs = rule(local[node], target)
        except MissingVJPRule as err:
            raise MissingVJPRule(f"{err} (in {node})") from None
        for child_ref, cotangent in pairs:
            child = back.get(child_ref, child_ref)
            if not needs_adjoint(child):
                continue
            cotangent = cotangent.xreplace({local[node]: symbol[node]})
            cotangents[child].append((symbol[node], cotangent))

    gradients: dict[tuple[str, tuple[int, ...]], sp.Expr] = {}
    for var in variables:
        if var.role != "params":
            continue
        for index in var.indices():
            terms = cotangents.get(var.element(index), [])
            gradients[(var.name, index)] = sp.Add(*(c for _, c in terms))
    return Derivation(
        variables=variables,
        leaves=leaves,
        forward=tuple(forward),
        adjoint=tuple(adjoint),
        loss=ref(loss),  # type: ignore[arg-type]
        gradients=gradients,
    )
