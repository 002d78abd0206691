"""Readable names for a :class:`~symbp.derive.sweep.Derivation`: the display graph.

The sweep works on SymPy's own tree, which is finer than a textbook's: a sigmoid is
four nodes (``-z``, ``exp``, ``+1``, ``1/``) and SymPy distributes the minus sign into
the pre-activation. :func:`explain` contracts that tree to the quantities a reader
names (pre-activations ``z``, activations ``h`` and ``\\hat{y}``, residuals ``r``,
linear sums ``a``, the loss ``L``) and writes every adjoint as a chain-rule sum over
the named parents. It never differentiates anything: each local partial is the
composition of the cotangents the sweep recorded along the contracted nodes, so the
explanation shows exactly what the generated kernels compute.

A named quantity is ``sign * value(anchor)`` for one forward step ``anchor`` of the
derivation (``sign = -1`` turns SymPy's ``-b - W x`` back into ``z = W x + b``), so
its adjoint is ``sign * anchor_bar``. The :class:`Explanation` is the interface
:mod:`symbp.explain.latex` renders; a matrix-level derivation can produce one with matrix
quantities and the renderer stays as is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from ..declare.variables import Variable
from ..derive.sweep import Derivation, Step
from ..errors import EmitError
from ..nodes.scalar import Sigmoid
from .names import SIGMA, Name, element_name


@dataclass(frozen=True)
class Quantity:
    """A named intermediate: ``key = expr`` (printed as ``shown``), ``sign * anchor``."""

    key: sp.Symbol
    bar: sp.Symbol
    name: Name
    role: str
    anchor: sp.Symbol
    sign: int
    expr: sp.Expr
    shown: sp.Expr


@dataclass(frozen=True)
class Term:
    """One chain-rule term ``parent_bar * d parent / d child``."""

    parent: Quantity
    local: sp.Expr


@dataclass(frozen=True)
class AdjointLine:
    """``child_bar = sum(parent_bar * local)``; ``child`` is a Quantity or a ParamElement."""

    child: Quantity | ParamElement
    terms: tuple[Term, ...]
    constant: sp.Expr = sp.S.Zero


@dataclass(frozen=True)
class ParamElement:
    """One scalar element of a parameter, with its adjoint symbol."""

    var: Variable
    index: tuple[int, ...]
    leaf: sp.Expr
    name: Name
    bar: sp.Symbol


@dataclass(frozen=True)
class Explanation:
    """The display graph: named forward quantities, adjoints in sweep order, gradients."""

    derivation: Derivation
    quantities: tuple[Quantity, ...]
    adjoints: tuple[AdjointLine, ...]
    gradients: tuple[AdjointLine, ...]
    #: every symbol and leaf that appears in the expressions above -> its LaTeX
    names: dict[sp.Basic, str]
    root: Quantity | None


# -- activations: a registry of patterns over the sweep's local expressions ---------------
@dataclass(frozen=True)
class Activation:
    """How to recognise an activation, print it, and write its derivative by its output."""

    name: str
    #: (step, steps by symbol, uses) -> (absorbed symbols, argument, sign) or None
    match: Callable[[Step, dict[sp.Symbol, Step], Counter[sp.Symbol]], tuple | None]
    shown: Callable[[sp.Expr], sp.Expr]
    #: d output / d argument written with the output y, or None to keep the sweep's form
    derivative: Callable[[sp.Expr], sp.Expr] | None


def _match_sigmoid(step: Step, steps: dict, uses: Counter) -> tuple | None:
    expr = step.expr
    if not (isinstance(expr, sp.Pow) and expr.exp == -1 and expr.base in steps):
        return None
    base = steps[expr.base]
    if uses[base.target] != 1 or not isinstance(base.expr, sp.Add) or len(base.expr.args) != 2:
        return None
    one, exp_sym = sorted(base.expr.args, key=lambda a: not a.is_Number)
    if one != 1 or exp_sym not in steps or uses[exp_sym] != 1:
        return None
    inner = steps[exp_sym].expr
    if not isinstance(inner, sp.exp):
        return None
    arg = inner.args[0]
    absorbed = {base.target, exp_sym}
    if arg in steps and uses[arg] == 1:
        neg = steps[arg].expr
        if isinstance(neg, sp.Mul) and len(neg.args) == 2 and neg.args[0] == -1:
            if neg.args[1] not in steps:  # sigma(w) of a leaf w: no z to name
                return absorbed | {arg}, neg.args[1], 1
    return absorbed, arg, -1


def _match_function(func: type) -> Callable[..., tuple | None]:
    def match(step: Step, steps: dict, uses: Counter) -> tuple | None:
        if step.expr.func is not func:
            return None
        args = [a for a in step.expr.args if not a.is_Number]
        if len(args) != 1 or (func is sp.Max and sp.Integer(0) not in step.expr.args):
            return None
        return set(), args[0], 1

    return match


ACTIVATIONS: tuple[Activation, ...] = (
    Activation("sigmoid", _match_sigmoid, SIGMA, lambda y: y * (1 - y)),
    # the stable primitive the kernels compute (symbp.simplify.stability)
    Activation("sigmoid", _match_function(Sigmoid), SIGMA, lambda y: y * (1 - y)),
    Activation("tanh", _match_function(sp.tanh), sp.tanh, lambda y: 1 - y**2),
    Activation("relu", _match_function(sp.Max), lambda z: sp.Max(0, z), None),
)


# -- the contraction ------------------------------------------------------------------------
def _children(step: Step, steps: dict[sp.Symbol, Step]) -> list[sp.Symbol]:
    return sorted((s for s in step.expr.free_symbols if s in steps), key=lambda s: s.name)


def _target_of(expr: sp.Basic, derivation: Derivation, steps: dict) -> bool:
    """Is ``expr`` a target element, or a forward step negating one?"""
    leaf = derivation.leaves.get(expr)
    if leaf is not None:
        return leaf.var.role == "targets"
    if expr in steps:
        inner = steps[expr].expr
        if isinstance(inner, sp.Mul) and len(inner.args) == 2 and inner.args[0] == -1:
            return _target_of(inner.args[1], derivation, steps)
    return False


def _has_param_product(expr: sp.Expr, derivation: Derivation, steps: dict) -> bool:
    """Does an Add contain a product of a parameter with something else (a linear layer)?"""
    for arg in expr.args:
        term = steps[arg].expr if arg in steps else arg
        if isinstance(term, sp.Mul):
            roles = {derivation.leaves[f].var.role for f in term.args if f in derivation.leaves}
            if "params" in roles and (len(roles) > 1 or any(f in steps for f in term.args)):
                return True
    return False


@dataclass(frozen=True)
class Naming:
    """The named quantities of an element-level derivation (:func:`name_steps`).

    ``kept`` maps each named forward step's symbol to its sign (the quantity is
    ``sign * step``), ``keys`` to ``(display symbol, display adjoint symbol, Name)``;
    ``ordered`` lists them in forward order.
    """

    steps: dict[sp.Symbol, Step]
    order: dict[sp.Symbol, int]
    adjoint_of: dict[sp.Symbol, Step]
    root: sp.Symbol | None
    activation: dict[sp.Symbol, tuple[Activation, sp.Expr, int]]
    kept: dict[sp.Symbol, int]
    ordered: list[sp.Symbol]
    roles: dict[sp.Symbol, tuple[str, str, str]]
    keys: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol, Name]]

    def parents(self, step: Step) -> list[sp.Symbol]:
        """The named quantities whose adjoints the adjoint ``step`` sums (through unnamed
        ones), in sweep order; the loss's own seed is left out."""
        found: list[sp.Symbol] = []
        seen: set[sp.Symbol] = set()

        def walk(terms: tuple[tuple[sp.Symbol, sp.Expr], ...]) -> None:
            for parent, _ in terms:
                if parent in seen or parent not in self.adjoint_of:
                    continue
                seen.add(parent)
                if parent in self.kept:
                    found.append(parent)
                else:
                    walk(self.adjoint_of[parent].terms)

        walk(step.terms)
        return found


def name_steps(derivation: Derivation) -> Naming:
    """Which forward steps of an element-level ``derivation`` get a name, which, and why.

    Steps 1-3 of the contraction (see the module docstring): activations and what they
    absorb, the steps kept as named quantities (with their sign), and their names by
    role and layer. Cheap (one pass over the steps, no SymPy simplification): the
    kernels are named with it too.
    """
    steps = {s.target: s for s in derivation.forward}
    order = {s.target: i for i, s in enumerate(derivation.forward)}
    adjoint_of = {_anchor(a, steps): a for a in derivation.adjoint}
    uses: Counter[sp.Symbol] = Counter()
    for step in derivation.forward:
        uses.update(_children(step, steps))
    root_sym = derivation.loss if derivation.loss in steps else None
    if root_sym is not None:
        uses[root_sym] += 1

    # 1. activations and what they absorb
    activation: dict[sp.Symbol, tuple[Activation, sp.Expr, int]] = {}
    absorbed: set[sp.Symbol] = set()
    for step in derivation.forward:
        for act in ACTIVATIONS:
            found = act.match(step, steps, uses)
            if found is not None:
                inner, arg, sign = found
                activation[step.target] = (act, arg, sign)
                absorbed |= inner
                break

    # 2. which forward steps get a name, and with which sign
    kept: dict[sp.Symbol, int] = {}
    for step in derivation.forward:
        sym = step.target
        if sym in absorbed:
            continue
        if (
            sym == root_sym
            or sym in activation
            or uses[sym] > 1
            or (isinstance(step.expr, sp.Add) and len(step.expr.args) > 1 and sym in adjoint_of)
        ):
            kept[sym] = 1
    pre_of: dict[sp.Symbol, sp.Symbol] = {}
    for sym, (_act, arg, sign) in activation.items():
        if arg in steps:
            kept[arg] = sign
            pre_of[arg] = sym

    # 3. layers: how many activations lie below (depth) and whether one lies above
    depth: dict[sp.Symbol, int] = {}
    for step in derivation.forward:
        below = max((depth[c] for c in _children(step, steps)), default=0)
        depth[step.target] = below + (1 if step.target in activation else 0)
    above: dict[sp.Symbol, bool] = defaultdict(bool)
    for step in reversed(derivation.forward):
        for child in _children(step, steps):
            above[child] |= above[step.target] or step.target in activation
    layers = max((depth[s] for s in activation), default=0)

    def role(sym: sp.Symbol) -> tuple[str, str, str]:
        """(role, stem, superscript) of a kept step."""
        if sym == root_sym:
            return "loss", "L", ""
        if sym in activation:
            if not above[sym]:
                return "output", r"\hat{y}", ""
            return "activation", "h", f"({depth[sym]})" if layers > 1 else ""
        if sym in pre_of:
            act = pre_of[sym]
            return "preactivation", "z", f"({depth[act]})" if layers > 1 else ""
        expr = steps[sym].expr
        if isinstance(expr, sp.Add):
            if any(_target_of(a, derivation, steps) for a in expr.args):
                return "residual", "r", ""
            if _has_param_product(expr, derivation, steps):
                return "sum", "a", ""
        return "intermediate", "u", ""

    ordered = sorted(kept, key=order.__getitem__)
    roles = {sym: role(sym) for sym in ordered}
    groups = Counter((stem, sup) for _, stem, sup in roles.values())
    counter: Counter[tuple[str, str]] = Counter()
    keys: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol, Name]] = {}
    for i, sym in enumerate(ordered):
        _, stem, sup = roles[sym]
        counter[(stem, sup)] += 1
        sub = str(counter[(stem, sup)]) if groups[(stem, sup)] > 1 else ""
        keys[sym] = (
            sp.Symbol(f"_q{i}", real=True),
            sp.Symbol(f"_q{i}_bar", real=True),
            Name(stem, sup, sub),
        )
    return Naming(steps, order, adjoint_of, root_sym, activation, kept, ordered, roles, keys)


def explain(derivation: Derivation) -> Explanation:
    """Contract ``derivation`` to named quantities and chain-rule adjoint lines."""
    missing = [
        v.name for v in derivation.params if v.shape and (v.name, ()) in derivation.gradients
    ]
    if missing:
        raise EmitError(
            f"the derivation of {missing[0]!r} is at matrix level; symbp.explain.matrix prints "
            "it (model.latex()), and indexing the loss ([0, 0]) gives the element-level one"
        )
    naming = name_steps(derivation)
    steps, order, adjoint_of = naming.steps, naming.order, naming.adjoint_of
    root_sym, activation, kept = naming.root, naming.activation, naming.kept
    ordered, roles, keys = naming.ordered, naming.roles, naming.keys
    sweep = {sym: i for i, sym in enumerate(_anchor(a, steps) for a in derivation.adjoint)}

    # 4. forward expressions in named quantities
    inline: dict[sp.Symbol, sp.Expr] = {}

    def display(sym: sp.Symbol) -> sp.Expr:
        if sym in kept:
            return kept[sym] * keys[sym][0]
        if sym not in inline:
            step = steps[sym]
            inline[sym] = step.expr.xreplace({c: display(c) for c in _children(step, steps)})
        return inline[sym]

    def in_display(expr: sp.Expr) -> sp.Expr:
        syms = sorted((s for s in expr.free_symbols if s in steps), key=order.__getitem__)
        return expr.xreplace({s: display(s) for s in syms})

    quantities: dict[sp.Symbol, Quantity] = {}
    for sym in ordered:
        key, bar, name = keys[sym]
        sign = kept[sym]
        step = steps[sym]
        expr = sign * step.expr.xreplace({c: display(c) for c in _children(step, steps)})
        shown = expr
        if sym in activation:
            act, arg, arg_sign = activation[sym]
            shown = act.shown(arg_sign * (display(arg) if arg in steps else arg))
        quantities[sym] = Quantity(key, bar, name, roles[sym][0], sym, sign, expr, shown)

    # 5. adjoints: compose the recorded cotangents along contracted nodes
    memo: dict[sp.Symbol, dict[sp.Symbol, sp.Expr]] = {}

    def contributions(terms: tuple[tuple[sp.Symbol, sp.Expr], ...]) -> dict[sp.Symbol, sp.Expr]:
        out: dict[sp.Symbol, sp.Expr] = defaultdict(lambda: sp.Integer(0))
        for parent, cot in terms:
            if parent not in adjoint_of:
                out[parent] += cot  # the seed of the root
                continue
            pbar = adjoint_of[parent].target
            if parent in kept:
                out[parent] += cot.xreplace({pbar: kept[parent] * keys[parent][1]})
                continue
            if parent not in memo:
                memo[parent] = contributions(adjoint_of[parent].terms)
            for anc, c in memo[parent].items():
                out[anc] += cot.xreplace({pbar: c})
        return out

    def line(child: Quantity | ParamElement, sign: int, terms: tuple) -> AdjointLine:
        parts = contributions(terms)
        result: list[Term] = []
        constant = sp.Integer(0)
        for parent in sorted(parts, key=lambda p: sweep.get(p, -1)):
            value = sign * parts[parent]
            if parent not in kept:
                constant += value
                continue
            quantity = quantities[parent]
            local = in_display(value.xreplace({quantity.bar: sp.Integer(1)}))
            local = _tidy(local, quantity, child, activation)
            result.append(Term(quantity, local))
        return AdjointLine(child, tuple(result), constant)

    adjoints = []
    for step in derivation.adjoint:
        sym = _anchor(step, steps)
        if sym in kept:
            adjoints.append(line(quantities[sym], kept[sym], step.terms))

    bars = {a.target: _anchor(a, steps) for a in derivation.adjoint}
    gradients = []
    names: dict[sp.Basic, str] = {}
    for var in derivation.params:
        for index in var.indices():
            leaf = var.element(index)
            name = element_name(var, index)
            element = ParamElement(var, index, leaf, name, sp.Symbol(f"_{var.name}_{index}_bar"))
            names[element.bar] = name.tex(bar=True)
            expr = derivation.gradients.get((var.name, index), sp.S.Zero)
            used = sorted((s for s in expr.free_symbols if s in bars), key=lambda s: s.name)
            terms = tuple((bars[b], expr.xreplace({o: 0 for o in used if o != b})) for b in used)
            if not used:
                terms = ((sp.Symbol("_loss_bar"), expr),)
            gradients.append(line(element, 1, terms))
    for var in derivation.variables:
        for index in var.indices():
            names[var.element(index)] = element_name(var, index).tex()
    for q in quantities.values():
        names[q.key] = q.name.tex()
        names[q.bar] = q.name.tex(bar=True)
    root = quantities.get(root_sym) if root_sym is not None else None
    return Explanation(
        derivation, tuple(quantities.values()), tuple(adjoints), tuple(gradients), names, root
    )


def _anchor(step: Step, steps: dict[sp.Symbol, Step]) -> sp.Symbol:
    """The forward symbol whose adjoint ``step`` computes (``_v3_bar`` -> ``_v3``)."""
    return sp.Symbol(step.target.name[: -len("_bar")], real=True)


def _tidy(
    local: sp.Expr,
    parent: Quantity,
    child: Quantity | ParamElement,
    activation: dict[sp.Symbol, tuple[Activation, sp.Expr, int]],
) -> sp.Expr:
    """Write an activation's derivative by its output (``y (1 - y)``) when it equals it."""
    found = activation.get(parent.anchor)
    if found is None or found[0].derivative is None:
        return local
    form = found[0].derivative(parent.key)
    as_value = form.xreplace({parent.key: parent.expr})
    difference = as_value - local
    if sp.count_ops(difference) > 60:
        return local
    if sp.simplify(difference) == 0:
        return form
    return local
