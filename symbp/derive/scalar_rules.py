"""Vector-Jacobian-product rules: the registry the reverse sweep consults.

A rule receives a node's *local* expression (its arguments already replaced by the
symbols of the forward program) and the node's adjoint ``out_bar``. It returns the
cotangents of the node's differentiable children as ``(child, cotangent)`` pairs, where
``child`` is an argument exactly as it appears in the local expression. A child that
is not differentiable (an exponent that is a number, a condition, a ``Heaviside``'s
value at zero) is simply left out.

Rules are pure SymPy: no numerics and no simplification. Lookup walks the class MRO,
so a subclass inherits its parent's rule on purpose (``sympy.Function`` is the last
resort and uses SymPy's own ``fdiff``).

Subgradient conventions at kinks (documented, tested):

* ``Abs(u)``: ``sign(u)``, so the derivative at ``u = 0`` is 0.
* ``Max(a_1, ..., a_n)`` / ``Min``: the whole adjoint goes to one winning argument.
  Ties are broken towards numeric constants first, then towards the earlier argument in
  SymPy's argument order. ReLU written ``Max(0, z)`` therefore has derivative 0 at
  ``z = 0``, the convention of ``torch.relu``.
* ``Heaviside``, ``sign``, ``floor``, ``ceiling``: derivative 0 everywhere it exists.
* ``Piecewise``: each branch's expression receives the adjoint exactly where its
  condition is the first one that holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef, ArgumentIndexError
from sympy.functions.elementary.piecewise import ExprCondPair

from ..errors import MissingVJPRule

Cotangents = Sequence[tuple[sp.Basic, sp.Expr]]
VJPRule = Callable[[Any, sp.Expr], Cotangents]

VJP_RULES: dict[type, VJPRule] = {}

#: Node types whose derivative is zero wherever it exists (no cotangents at all).
PIECEWISE_CONSTANT: tuple[type, ...] = (
    sp.Heaviside,
    sp.sign,
    sp.floor,
    sp.ceiling,
)


def vjp_rule(*classes: type) -> Callable[[VJPRule], VJPRule]:
    """Register ``func`` as the VJP rule of every class in ``classes``."""

    def register(func: VJPRule) -> VJPRule:
        for cls in classes:
            VJP_RULES[cls] = func
        return func

    return register


def find_rule(node: sp.Basic) -> VJPRule | None:
    """Return the rule for ``node``'s class, walking the MRO; ``None`` if there is none."""
    for cls in type(node).__mro__:
        rule = VJP_RULES.get(cls)
        if rule is not None:
            return rule
    return None


def describe(node: sp.Basic) -> str:
    """Short, readable name of a node's function for error messages."""
    func = node.func
    return getattr(func, "__name__", str(func))


@vjp_rule(sp.Add)
def _add(node: sp.Add, out_bar: sp.Expr) -> Cotangents:
    return [(arg, out_bar) for arg in node.args]


@vjp_rule(sp.Mul)
def _mul(node: sp.Mul, out_bar: sp.Expr) -> Cotangents:
    args = node.args
    pairs = []
    for i, arg in enumerate(args):
        if arg.is_Number:
            continue
        others = sp.Mul(*(a for j, a in enumerate(args) if j != i))
        pairs.append((arg, out_bar * others))
    return pairs


@vjp_rule(sp.Pow)
def _pow(node: sp.Pow, out_bar: sp.Expr) -> Cotangents:
    base, exp = node.args
    pairs = []
    if not base.is_Number:
        pairs.append((base, out_bar * exp * base ** (exp - 1)))
    if not exp.is_Number:
        pairs.append((exp, out_bar * node * sp.log(base)))
    return pairs


@vjp_rule(sp.Abs)
def _abs(node: sp.Abs, out_bar: sp.Expr) -> Cotangents:
    (arg,) = node.args
    return [(arg, out_bar * sp.sign(arg))]


@vjp_rule(*PIECEWISE_CONSTANT)
def _piecewise_constant(node: sp.Basic, out_bar: sp.Expr) -> Cotangents:
    return []


def _winner_conditions(args: Sequence[sp.Expr], better: Callable[..., Any]) -> list[Any]:
    """Condition under which each argument is the one that receives the adjoint."""
    # Numeric constants win ties first, then the earlier argument (see module docstring).
    priority = sorted(range(len(args)), key=lambda i: (not args[i].is_Number, i))
    rank = {i: r for r, i in enumerate(priority)}
    conditions = []
    for i, arg in enumerate(args):
        terms = []
        for j, other in enumerate(args):
            if j == i:
                continue
            strict = rank[j] < rank[i]
            terms.append(better(arg, other, strict))
        conditions.append(sp.And(*terms))
    return conditions


def _extremum_rule(greater: bool) -> VJPRule:
    def better(a: sp.Expr, b: sp.Expr, strict: bool) -> Any:
        if greater:
            return sp.StrictGreaterThan(a, b) if strict else sp.GreaterThan(a, b)
        return sp.StrictLessThan(a, b) if strict else sp.LessThan(a, b)

    def rule(node: sp.Basic, out_bar: sp.Expr) -> Cotangents:
        args = node.args
        conditions = _winner_conditions(args, better)
        return [
            (arg, sp.Piecewise((out_bar, cond), (0, True)))
            for arg, cond in zip(args, conditions, strict=True)
            if not arg.is_Number
        ]

    return rule


vjp_rule(sp.Max)(_extremum_rule(greater=True))
vjp_rule(sp.Min)(_extremum_rule(greater=False))


@vjp_rule(sp.Piecewise)
def _piecewise(node: sp.Piecewise, out_bar: sp.Expr) -> Cotangents:
    pairs = []
    earlier: list[Any] = []
    for pair in node.args:
        expr, cond = pair.args
        if not expr.is_Number:
            branches = [(0, c) for c in earlier] + [(out_bar, cond), (0, True)]
            pairs.append((expr, sp.Piecewise(*branches)))
        earlier.append(cond)
    return pairs


@vjp_rule(sp.Function)
def _function(node: sp.Function, out_bar: sp.Expr) -> Cotangents:
    """Any SymPy function: the local derivative comes from SymPy's own ``fdiff``."""
    if isinstance(node, AppliedUndef):
        raise MissingVJPRule(
            f"undefined function {describe(node)}() has no derivative rule; write it "
            "in terms of SymPy functions (exp, log, tanh, Max, ...)"
        )
    pairs = []
    for i, arg in enumerate(node.args):
        if arg.is_Number:
            continue
        try:
            partial = node.fdiff(i + 1)
        except ArgumentIndexError:
            raise MissingVJPRule(
                f"function {describe(node)} has no derivative with respect to argument "
                f"{i + 1} (SymPy's fdiff is not defined there)"
            ) from None
        if partial.has(sp.Derivative, sp.Subs):
            raise MissingVJPRule(
                f"function {describe(node)} has no closed-form derivative in SymPy "
                f"(fdiff gave {partial})"
            )
        pairs.append((arg, out_bar * partial))
    return pairs


def non_differentiable(node: sp.Basic) -> bool:
    """Nodes that carry no adjoint: relations, logic, and the pairs inside Piecewise."""
    return isinstance(node, sp.logic.boolalg.Boolean | sp.core.relational.Relational | ExprCondPair)
