"""The kernels' names: the derivation's LaTeX names as Python identifiers, under one rule.

The rule (:func:`identifier`): the stem's letters (``\\hat{y}`` is ``y_hat``, a Greek
``\\alpha`` is ``alpha``, ``\\mathrm{loss}`` is ``loss``), then the superscript's digits,
then the subscript (commas become underscores), separated from what precedes it by an
underscore unless that is a single letter; an adjoint adds ``_bar``::

    u_{3} -> u3        \\bar{u}_{3} -> u3_bar      z^{(1)}_{2} -> z1_2
    W^{(1)}_{12} -> W1_12   \\bar{W}_{2} -> W2_bar   \\hat{y}_{1} -> y_hat_1   L -> L

A name already taken (by a declared variable's or an earlier quantity's identifier, or
a Python builtin the kernels call) gets a trailing underscore. :class:`CodeNames` maps
the symbols of a derivation (forward steps, adjoints, leaves) to these identifiers,
with the chain-rule comment of each adjoint; the emitter prints the program with them.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import sympy as sp

from ..derive.sweep import Derivation
from .matrix import MatrixNames
from .names import Name, element_name, variable_name
from .scalar import Naming, name_steps

#: Names the kernels use for themselves (calls and modules); a quantity never takes them.
TAKEN = frozenset(
    {"abs", "max", "min", "range", "float", "int", "len", "sum", "math", "np", "numba"}
)


def identifier(name: Name, bar: bool = False) -> str:
    """The Python identifier of a LaTeX name (see the module docstring)."""
    stem = name.stem
    hat = re.fullmatch(r"\\hat\{(.+)\}", stem)
    if hat is not None:
        stem = hat.group(1) + "_hat"
    stem = re.sub(r"\\mathrm\{(.+)\}", r"\1", stem).lstrip("\\")
    stem = re.sub(r"[^A-Za-z0-9_]", "", stem)
    sup = re.sub(r"[^0-9]", "", name.sup)
    sub = re.sub(r"[^0-9]+", "_", name.sub).strip("_")
    text = stem + sup
    if sub:
        text += ("_" if sup or len(stem) > 1 else "") + sub
    return text + ("_bar" if bar else "")


@dataclass
class CodeNames:
    """Identifiers for the symbols of one derivation, and the comments of its adjoints.

    ``names`` maps a forward step's symbol, an adjoint's symbol or a leaf (declared
    element or variable) to its identifier; ``signs[s] == -1`` where the named
    quantity is minus the step (``z = -(-b - W x)``); ``comments`` holds the chain-rule
    step of each named adjoint; ``gradients`` the identifier of each parameter element's
    adjoint, ``(name, index) -> W1_12_bar``.
    """

    names: dict[sp.Basic, str] = field(default_factory=dict)
    signs: dict[sp.Basic, int] = field(default_factory=dict)
    comments: dict[sp.Basic, str] = field(default_factory=dict)
    gradients: dict[tuple[str, tuple[int, ...]], str] = field(default_factory=dict)
    gradient_comments: dict[tuple[str, tuple[int, ...]], str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=lambda: set(TAKEN))

    def claim(self, text: str) -> str:
        """``text``, or ``text`` with trailing underscores until it is free; now taken."""
        while text in self.taken or keyword.iskeyword(text) or not text.isidentifier():
            text += "_"
        self.taken.add(text)
        return text

    def name(self, symbol: sp.Basic, text: str, sign: int = 1) -> str:
        """Give ``symbol`` the identifier ``text`` (made free); return it."""
        code = self.claim(text)
        self.names[symbol] = code
        if sign != 1:
            self.signs[symbol] = sign
        return code

    def copy(self) -> CodeNames:
        """An independent copy (a writer claims the names of its temporaries in it)."""
        return CodeNames(
            dict(self.names),
            dict(self.signs),
            dict(self.comments),
            dict(self.gradients),
            dict(self.gradient_comments),
            set(self.taken),
        )

    @property
    def kept(self) -> frozenset[sp.Basic]:
        """The named program symbols: the simplification keeps each as a statement."""
        return frozenset(self.names)


def _partial(parent: str, child: str) -> str:
    return f"d{parent}/d{child}"


def _comment(child: str, parents: list[str]) -> str:
    if not parents:
        return f"the seed: d{child}/d{child} = 1"
    return "chain rule: " + " + ".join(f"{p}_bar * {_partial(p, child)}" for p in parents)


def scalar_code_names(derivation: Derivation) -> CodeNames:
    """The identifiers of an element-level derivation's leaves, named quantities and
    adjoints."""
    code = CodeNames()
    for leaf, where in sorted(
        derivation.leaves.items(), key=lambda item: (item[1].var.name, item[1].index)
    ):
        code.name(leaf, identifier(element_name(where.var, where.index)))
    naming: Naming = name_steps(derivation)
    for sym in naming.ordered:
        name = naming.keys[sym][2]
        code.name(sym, identifier(name), naming.kept[sym])
    adjoint_of = naming.adjoint_of
    for sym in naming.ordered:
        step = adjoint_of.get(sym)
        if step is None:
            continue
        name = naming.keys[sym][2]
        code.name(step.target, identifier(name, bar=True), naming.kept[sym])
        parents = [code.names[p] for p in naming.parents(step)]
        code.comments[step.target] = _comment(code.names[sym], parents)
    bars = {a.target: s for s, a in adjoint_of.items()}
    for (param, index), expr in derivation.gradients.items():
        var = next(v for v in derivation.params if v.name == param)
        leaf_code = identifier(element_name(var, index))
        code.gradients[(param, index)] = code.claim(leaf_code + "_bar")
        used = sorted((s for s in sp.sympify(expr).free_symbols if s in bars), key=str)
        parents: list[str] = []
        for bar in used:
            anchor = bars[bar]
            if anchor in naming.kept:
                parents.append(code.names[anchor])
            else:
                parents += [code.names[p] for p in naming.parents(adjoint_of[anchor])]
        terms = [f"{p}_bar * {_partial(p, leaf_code)}" for p in dict.fromkeys(parents)]
        code.gradient_comments[(param, index)] = "chain rule: " + (" + ".join(terms) or "0")
    return code


def matrix_code_names(derivation: Derivation) -> CodeNames:
    """The identifiers of a matrix-level derivation's variables, steps and adjoints, the
    names its LaTeX gives them (:class:`symbp.explain.matrix.MatrixNames`)."""
    code = CodeNames()
    for var in derivation.variables:
        code.name(var.symbol, identifier(variable_name(var)))
    names = MatrixNames(derivation)
    for step in derivation.forward:
        if step.target in names.name:
            code.name(step.target, identifier(names.name[step.target]))
    for step in derivation.adjoint:
        if step.target in names.alias:
            continue
        forward = names.of[step.target]
        if forward not in names.name:
            continue
        child = code.names[forward]
        code.name(step.target, identifier(names.name[forward], bar=True))
        parents = []
        for parent, _ in step.terms:
            parent = names.inlined_in.get(parent, parent)
            if parent in code.names:
                parents.append(code.names[parent])
        code.comments[step.target] = _comment(child, list(dict.fromkeys(parents)))
    for var in derivation.params:
        if (var.name, ()) in derivation.gradients:
            code.gradients[(var.name, ())] = code.claim(identifier(variable_name(var), bar=True))
    return code
