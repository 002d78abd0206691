"""The reverse sweep: shared expression DAG -> forward steps and adjoint steps.

Every distinct subexpression of the loss (keyed by SymPy's structural equality, so
shared subexpressions are one node) is visited once, children before parents. Each
node becomes a forward step ``_v<k> = f(children)``; the sweep then walks the nodes
in reverse, sums the cotangents that reached each node into its adjoint
``_v<k>_bar`` and asks the node's VJP rule for its children's cotangents.

One sweep serves both levels: a :class:`SweepLevel` says what the nodes are (scalar
elements, :data:`symbp.derive.scalar.SCALAR`; whole matrices,
:data:`symbp.derive.matrix.MATRIX`) and which rule registry pulls adjoints back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, field

import sympy as sp

from ..declare.variables import Variable
from ..nodes.graph import unique_nodes
from .scalar_rules import non_differentiable


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
    #: (param name, element index) -> gradient expression in the program's symbols, for
    #: every element the loss reads (the gradient of any other element is zero)
    gradients: dict[tuple[str, tuple[int, ...]], sp.Expr]

    @property
    def params(self) -> tuple[Variable, ...]:
        """The declared parameters, in declaration order."""
        return tuple(v for v in self.variables if v.role == "params")


LOSS_BAR = sp.Symbol("_loss_bar")

Pairs = list[tuple[sp.Basic, sp.Basic]]


class SweepLevel(ABC):
    """What the sweep needs to know about the expressions it walks.

    The sweep itself (:func:`sweep`) is the same for scalars and for whole
    matrices; a level says what a leaf, a child, a step symbol and a sum of
    cotangents are, and which VJP rules pull a node's adjoint back to its
    children. :data:`SCALAR` is the element-level one; the matrix level lives in
    :mod:`symbp.derive.matrix`.
    """

    @abstractmethod
    def leaves(self, variables: tuple[Variable, ...], root: sp.Basic) -> dict[sp.Basic, Leaf]:
        """Every expression of ``root`` that the kernels read from an array, and where."""

    def children(self, node: sp.Basic) -> list[sp.Basic]:
        """The nodes ``node`` is computed from."""
        return list(node.args)

    def is_atom(self, node: sp.Basic, leaves: dict[sp.Basic, Leaf]) -> bool:
        """Leaves and constants: no step of their own."""
        return (
            node in leaves or node.is_Number or node.is_NumberSymbol or node in (sp.true, sp.false)
        )

    def is_view(self, node: sp.Basic) -> bool:
        """A node written in place (no step); its cotangents pass straight through."""
        return False

    def rebuild(self, node: sp.Basic, ref: dict[sp.Basic, sp.Basic]) -> sp.Basic:
        """``node`` with its children replaced by their step symbols."""
        args = [ref.get(a, a) for a in node.args]
        return node.func(*args) if args else node

    def prefix(self, node: sp.Basic) -> str:
        """How the names of ``node``'s steps start (the step number follows)."""
        return "_v"

    def symbol(self, node: sp.Basic, name: str) -> sp.Basic:
        """A symbol named ``name`` of ``node``'s kind, for one of its steps."""
        return sp.Symbol(name, real=True)

    def total(self, node: sp.Basic, terms: list[sp.Basic]) -> sp.Basic:
        """The sum of the cotangents that reached ``node``."""
        return sp.Add(*terms)

    def seed(self, loss: sp.Basic) -> sp.Basic:
        """The loss's own adjoint."""
        return sp.S.One

    @abstractmethod
    def pullback(
        self, node: sp.Basic, local: sp.Basic, out_bar: sp.Basic, out: sp.Basic | None
    ) -> Pairs:
        """(child as written in ``local``, cotangent) for each child of ``node``.

        ``out`` is the node's own step symbol (None for a view), for rules that
        write the derivative through the output (``tanh' = 1 - out**2``).
        """

    @abstractmethod
    def gradient_leaves(
        self, var: Variable, leaves: dict[sp.Basic, Leaf]
    ) -> list[tuple[tuple[int, ...], sp.Basic, sp.Basic]]:
        """(index, leaf, zero) for each gradient entry of a parameter the loss reads.

        Entries the loss never reads have a zero gradient and are left out.
        """


def topological_order(
    root: sp.Basic, leaves: dict[sp.Basic, Leaf], level: SweepLevel
) -> list[sp.Basic]:
    """Distinct non-atomic subexpressions of ``root``, children before parents."""
    return unique_nodes(
        root, skip=lambda node: level.is_atom(node, leaves), children=level.children
    )


def count_steps(loss: sp.Basic, variables: tuple[Variable, ...], level: SweepLevel) -> int:
    """How many forward and adjoint steps the sweep of ``loss`` makes (without running it).

    One pass over the shared graph, the same classification as :func:`sweep`: a
    forward step per distinct non-atomic node, an adjoint step per node that depends
    on a parameter. Cheap (no rules, no SymPy arithmetic), so a model that is too
    large for straight-line code is refused before any work is done on it.
    """
    leaves = level.leaves(variables, loss)
    depends: dict[sp.Basic, bool] = {}
    steps = 0

    def needs_adjoint(child: sp.Basic) -> bool:
        leaf = leaves.get(child)
        return leaf.var.role == "params" if leaf is not None else depends.get(child, False)

    for node in topological_order(loss, leaves, level):
        depends[node] = any(needs_adjoint(c) for c in level.children(node))
        if not (level.is_view(node) or non_differentiable(node)):
            steps += 1 + depends[node]
    return steps


@dataclass
class Forward:
    """The forward half of a sweep: one step per distinct node, children first."""

    leaves: dict[sp.Basic, Leaf]
    order: list[sp.Basic]
    steps: list[Step]
    local: dict[sp.Basic, sp.Basic]  # node -> its expression in children's symbols
    ref: dict[sp.Basic, sp.Basic]  # node -> its symbol (views, inline nodes: local)
    symbol: dict[sp.Basic, sp.Basic]
    back: dict[sp.Basic, sp.Basic]  # a child as it appears in local expressions -> node
    depends: dict[sp.Basic, bool]  # whether a node depends on a parameter

    def needs_adjoint(self, child: sp.Basic) -> bool:
        """Whether ``child`` depends on a parameter (and so gets an adjoint)."""
        leaf = self.leaves.get(child)
        if leaf is not None:
            return leaf.var.role == "params"
        return self.depends.get(child, False)


def forward_pass(root: sp.Basic, variables: tuple[Variable, ...], level: SweepLevel) -> Forward:
    """The forward steps of ``root`` (a ``sp.Tuple`` root gives several outputs' steps).

    A Tuple root itself gets no step: ``ref`` maps each of its entries to its symbol.
    """
    leaves = level.leaves(variables, root)
    order = topological_order(root, leaves, level)
    result = Forward(leaves, order, [], {}, {}, {}, {}, {})
    for node in order:
        expr = level.rebuild(node, result.ref)
        result.local[node] = expr
        result.depends[node] = any(result.needs_adjoint(c) for c in level.children(node))
        if level.is_view(node) or non_differentiable(node) or isinstance(node, sp.Tuple):
            result.ref[node] = expr
            result.back[expr] = node
            continue
        target = level.symbol(node, f"{level.prefix(node)}{len(result.steps)}")
        result.symbol[node] = result.ref[node] = target
        result.back[target] = node
        result.steps.append(Step(target, expr, node))  # type: ignore[arg-type]
    return result


def reverse(
    fwd: Forward,
    root: sp.Basic,
    variables: tuple[Variable, ...],
    level: SweepLevel,
    suffix: str = "",
) -> tuple[list[Step], dict[tuple[str, tuple[int, ...]], sp.Expr]]:
    """The adjoint steps of ``root`` (a node of the forward pass ``fwd``) and the gradient
    of each parameter element it reads. Only the nodes ``root`` depends on get adjoints,
    so several roots of one forward pass (a Jacobian's rows) each sweep their own part;
    ``suffix`` keeps their adjoints' names apart (``_v3_bar`` + suffix)."""
    leaves, order, local, ref = fwd.leaves, fwd.order, fwd.local, fwd.ref
    symbol, back, depends = fwd.symbol, fwd.back, fwd.depends
    needs_adjoint = fwd.needs_adjoint

    cotangents: dict[sp.Basic, list[tuple[sp.Basic, sp.Basic]]] = defaultdict(list)

    def deliver(child_ref: sp.Basic, cotangent: sp.Basic, parent: sp.Basic) -> None:
        child = back.get(child_ref, child_ref)
        if not needs_adjoint(child):
            return
        if level.is_view(child):
            for grandchild, cot in level.pullback(child, local[child], cotangent, None):
                deliver(grandchild, cot, parent)
            return
        cotangents[child].append((parent, cotangent))

    if needs_adjoint(root) or root in leaves:
        deliver(ref.get(root, root), level.seed(root), LOSS_BAR)

    adjoint: list[Step] = []
    for node in reversed(order):
        if node not in symbol or not depends[node] or node not in cotangents:
            continue
        terms = cotangents.pop(node)
        target = level.symbol(node, f"{symbol[node]}_bar{suffix}")
        total = level.total(node, [c for _, c in terms])
        adjoint.append(Step(target, total, node, tuple(terms)))  # type: ignore[arg-type]
        for child_ref, cotangent in level.pullback(node, local[node], target, symbol[node]):
            deliver(child_ref, cotangent, symbol[node])

    gradients: dict[tuple[str, tuple[int, ...]], sp.Expr] = {}
    for var in variables:
        if var.role != "params":
            continue
        for index, leaf, zero in level.gradient_leaves(var, leaves):
            terms = [c for _, c in cotangents.get(leaf, [])]
            gradients[(var.name, index)] = level.total(leaf, terms) if terms else zero  # type: ignore[assignment]
    return adjoint, gradients


def sweep(loss: sp.Basic, variables: tuple[Variable, ...], level: SweepLevel) -> Derivation:
    """The reverse sweep over ``loss`` at ``level``: forward steps, then adjoint steps."""
    fwd = forward_pass(loss, variables, level)
    adjoint, gradients = reverse(fwd, loss, variables, level)
    return Derivation(
        variables=variables,
        leaves=fwd.leaves,
        forward=tuple(fwd.steps),
        adjoint=tuple(adjoint),
        loss=fwd.ref.get(loss, loss),  # type: ignore[arg-type]
        gradients=gradients,
    )
