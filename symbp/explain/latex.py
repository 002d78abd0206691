"""The derivation as LaTeX: forward definitions, adjoints in sweep order, gradients, updates.

Everything printed comes from the model's :class:`~symbp.derive.sweep.Derivation` (the same
sweep the kernels are emitted from), contracted to named quantities by
:func:`symbp.explain.scalar.explain`; nothing is re-derived. The printer only changes names
(``_q3_bar`` -> ``\\bar{z}^{(1)}_{1}``, ``W1[0, 1]`` -> ``W^{(1)}_{12}``).

A model on the matrix path (``model.matrix``) prints at matrix level instead
(``\\bar{W}_2 = h_1^{\\top} \\bar{z}_2``, ``\\odot``), from its matrix-level Derivation:
see :mod:`symbp.explain.matrix`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..declare.variables import Variable
from ..optim.base import LR, G, Optimizer, P
from ..schedules import T
from .names import declared_name
from .scalar import AdjointLine, Explanation, Quantity
from .walkthrough import Walkthrough

#: Closed forms (Model.gradients()) are printed by default only up to this many sweep
#: steps: sympy.simplify on the closed forms of larger models can take minutes.
CLOSED_FORM_STEPS = 10
#: Gradients in terms of the forward quantities are skipped above this operation count.
SUBSTITUTED_OPS = 150
#: An Add with more terms than this is broken over several lines.
TERMS_PER_LINE = 4


class DerivationPrinter(LatexPrinter):
    """SymPy's LaTeX printer with symbp's names for quantities, adjoints and elements."""

    def __init__(self, names: Mapping[sp.Basic, str], **settings: Any):
        super().__init__(settings)
        self.names = dict(names)

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        name = self.names.get(expr)
        return name if name is not None else super()._print_Symbol(expr, style)

    def _print_MatrixSymbol(self, expr: Any, **kwargs: Any) -> str:
        name = self.names.get(expr)
        return name if name is not None else super()._print_MatrixSymbol(expr, **kwargs)

    def _print_MatrixElement(self, expr: Any) -> str:
        name = self.names.get(expr)
        return name if name is not None else super()._print_MatrixElement(expr)


def number(value: float) -> str:
    """A value as printed beside a formula: 8 decimals, or scientific when tiny or huge."""
    if value == 0:
        return "0"
    if 1e-4 <= abs(value) < 1e6:
        text = f"{value:.8f}".rstrip("0")
        return text[:-1] if text.endswith(".") else text
    mantissa, exponent = f"{value:.6e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def matrix(value: Any) -> str:
    """A float or 2-D array as LaTeX (``bmatrix`` for arrays)."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return number(float(array))
    rows = [" & ".join(number(float(v)) for v in row) for row in array]
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


@dataclass(frozen=True)
class Row:
    """One aligned line: ``lhs &= rhs && = value`` (``lhs`` empty on continuations)."""

    lhs: str
    rhs: str
    value: str | None = None
    relation: str = "="


@dataclass(frozen=True)
class Section:
    """A titled block of rows, with optional prose (document mode only)."""

    title: str
    rows: tuple[Row, ...]
    note: str = ""


class Renderer:
    """Build the sections of one derivation."""

    def __init__(self, explanation: Explanation, walk: Walkthrough | None):
        self.ex = explanation
        self.walk = walk
        self.printer = DerivationPrinter(explanation.names)
        self.loss = explanation.root.name.tex() if explanation.root is not None else "L"

    def tex(self, expr: sp.Basic) -> str:
        return self.printer.doprint(expr)

    def value(self, key: sp.Basic) -> str | None:
        if self.walk is None or key not in self.walk.values:
            return None
        return number(self.walk.values[key])

    def long(self, lhs: str, expr: sp.Expr, value: str | None, relation: str = "=") -> list[Row]:
        """``lhs = expr``, an Add with many terms broken over several rows."""
        if not isinstance(expr, sp.Add) or len(expr.args) <= TERMS_PER_LINE:
            return [Row(lhs, self.tex(expr), value, relation)]
        terms = list(expr.as_ordered_terms())
        rows = []
        for start in range(0, len(terms), TERMS_PER_LINE):
            chunk = self.tex(sp.Add(*terms[start : start + TERMS_PER_LINE], evaluate=False))
            if start:
                chunk = chunk if chunk.startswith("-") else "+ " + chunk
                rows.append(Row("", r"\quad " + chunk, None, ""))
            else:
                rows.append(Row(lhs, chunk, None, relation))
        last = rows[-1]
        rows[-1] = Row(last.lhs, last.rhs, value, last.relation)
        return rows

    # -- sections ---------------------------------------------------------------------
    def forward(self) -> Section:
        rows: list[Row] = []
        for q in self.ex.quantities:
            rows += self.long(q.name.tex(), q.shown, self.value(q.key))
        note = (
            "Each named quantity is one node of the sweep's expression graph; "
            r"$\sigma(z) = 1/(1 + e^{-z})$."
            if any(q.shown.func.__name__ == "sigma" for q in self.ex.quantities)
            else "Each named quantity is one node of the sweep's expression graph."
        )
        return Section("Forward pass", tuple(rows), note)

    def chain(self, line: AdjointLine, lhs: str) -> list[Row]:
        """``child_bar = sum parent_bar d parent / d child = ...`` for one adjoint line."""
        child = line.child
        value = self.value(child.bar)
        if not line.terms:
            constant = self.tex(line.constant)
            return [Row(lhs, constant, None if constant == value else value)]
        child_name = child.name.tex()
        partial, local = [], []
        for term in line.terms:
            bar = term.parent.name.tex(bar=True)
            partial.append(
                rf"{bar} \frac{{\partial {term.parent.name.tex()}}}{{\partial {child_name}}}"
            )
            local.append(self.product(bar, term.local))
        first = " + ".join(partial)
        second = " ".join(local).lstrip("+ ").replace("+ -", "- ")
        if line.constant != 0:
            second += " + " + self.tex(line.constant)
        if len(line.terms) == 1:
            if first == second:
                return [Row(lhs, first, value)]
            return [Row(lhs, f"{first} = {second}", value)]
        return [Row(lhs, first), Row("", second, value)]

    def product(self, bar: str, local: sp.Expr) -> str:
        if local == 1:
            return f"+ {bar}"
        if local == -1:
            return f"- {bar}"
        sign = "+"
        if local.could_extract_minus_sign():
            sign, local = "-", -local
        text = self.tex(local)
        if isinstance(local, sp.Add):
            text = rf"\left({text}\right)"
        joint = r" \cdot " if text[:1].isdigit() else r" \, "
        return f"{sign} {bar}{joint}{text}"

    def backward(self) -> Section:
        rows: list[Row] = []
        for line in self.ex.adjoints:
            rows += self.chain(line, line.child.name.tex(bar=True))
        note = (
            rf"The adjoint $\bar{{v}} = \partial {self.loss} / \partial v$ of each quantity, "
            "in the order of the reverse sweep: each sums, over the quantities that use $v$, "
            "the parent's adjoint times the local partial derivative (the chain rule)."
        )
        return Section("Backward pass (reverse sweep)", tuple(rows), note)

    def gradients(self) -> Section:
        rows: list[Row] = []
        for line in self.ex.gradients:
            element = line.child
            lhs = rf"\frac{{\partial {self.loss}}}{{\partial {element.name.tex()}}}"
            rows += self.chain(line, f"{lhs} = {element.name.tex(bar=True)}")
        if self.walk is not None:
            for var in self.ex.derivation.params:
                if var.shape:
                    name = _variable_tex(var)
                    rows.append(
                        Row(
                            rf"\nabla_{{{name}}} {self.loss}", matrix(self.walk.gradients[var.name])
                        )
                    )
        note = "The gradient of the per-sample loss for every parameter element."
        return Section("Gradients", tuple(rows), note)

    def substituted(self) -> Section | None:
        """Each gradient written in the forward quantities (the adjoints substituted)."""
        bar_value: dict[sp.Symbol, sp.Expr] = {}
        for line in self.ex.adjoints:
            bar_value[line.child.bar] = self.compose(line, bar_value)
        rows: list[Row] = []
        for line in self.ex.gradients:
            expr = self.compose(line, bar_value)
            if sp.count_ops(expr) > SUBSTITUTED_OPS:
                return None
            lhs = rf"\frac{{\partial {self.loss}}}{{\partial {line.child.name.tex()}}}"
            rows += self.long(lhs, expr, None)
        if all(line.child.bar not in bar_value for line in self.ex.gradients) and not rows:
            return None
        note = "The same gradients with every adjoint substituted, in the forward quantities."
        return Section("Gradients in the forward quantities", tuple(rows), note)

    @staticmethod
    def compose(line: AdjointLine, bar_value: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
        total = line.constant
        for term in line.terms:
            total += bar_value.get(term.parent.bar, term.parent.bar) * term.local
        return sp.factor_terms(total)

    def closed(self, closed: dict[str, Any]) -> Section:
        rows: list[Row] = []
        printer = DerivationPrinter({})
        for line in self.ex.gradients:
            element = line.child
            grad = closed[element.var.name]
            expr = grad[element.index] if element.index else grad
            lhs = rf"\frac{{\partial {self.loss}}}{{\partial {element.name.tex()}}}"
            rows.append(Row(lhs, printer.doprint(expr)))
        note = "In closed form, in the declared symbols (``Model.gradients()``)."
        return Section("Closed form", tuple(rows), note.replace("``", "`"))

    def second_order(self, hessian: sp.MatrixBase) -> Section:
        """The second derivatives: one row per entry on or above the diagonal."""
        rows: list[Row] = []
        printer = DerivationPrinter({})
        elements = [line.child for line in self.ex.gradients]
        for i, first in enumerate(elements):
            for j in range(i, len(elements)):
                entry = hessian[i, j]
                if entry == 0:
                    continue
                second = elements[j]
                if i == j:
                    lhs = rf"\frac{{\partial^2 {self.loss}}}{{\partial {first.name.tex()}^2}}"
                else:
                    lhs = (
                        rf"\frac{{\partial^2 {self.loss}}}"
                        rf"{{\partial {first.name.tex()}\,\partial {second.name.tex()}}}"
                    )
                rows.append(Row(lhs, printer.doprint(entry)))
        note = (
            "The second derivatives of the per-sample loss (``Model.hessian()``, by sweeping "
            "each gradient again); the entries below the diagonal mirror these, the others are 0."
        )
        return Section("Second derivatives", tuple(rows), note.replace("``", "`"))

    def update(self, optimizer: Optimizer) -> Section:
        rule = optimizer.rule()
        names: dict[sp.Basic, str] = {P: "p", G: "g", LR: r"\eta_t", T: "t"}
        for sym, _ in rule.state:
            names[sym] = rf"\mathrm{{{sym.name}}}"
        printer = DerivationPrinter(names)
        dotted = DerivationPrinter(names, mul_symbol="dot")
        rows = [Row(r"\eta_t", dotted.doprint(optimizer.schedule.expr()))]
        for sym, init in rule.state:
            rows.append(Row(rf"{names[sym]}_{{\text{{initial}}}}", number(init)))
        for sym, expr in rule.scalars + rule.updates:
            rhs = printer.doprint(expr)
            if isinstance(expr, sp.Add) and sym in expr.args:  # "p - lr g", not "- g lr + p"
                rest = printer.doprint(expr - sym)
                rhs = printer.doprint(sym) + ("" if rest.startswith("-") else " +") + " " + rest
            rows.append(Row(printer.doprint(sym), rhs, None, r"\leftarrow"))
        if self.walk is not None and self.walk.lr is not None:
            plain = len(rule.updates) == 1 and not rule.state and not rule.scalars
            rows.append(Row(r"\eta_0", number(self.walk.lr)))
            for line in self.ex.gradients:
                element = line.child
                start = float(self.walk.params[element.var.name][element.index])
                new = float(np.asarray(self.walk.updated[element.var.name])[element.index])
                grad = self.walk.values[element.bar]
                rhs = number(new)
                if plain and rule.updates[0][1] == P - LR * G:
                    rhs = rf"{number(start)} - {number(self.walk.lr)} \cdot {_paren(grad)} = {rhs}"
                rows.append(Row(element.name.tex(), rhs, None, r"\leftarrow"))
            for var in self.ex.derivation.params:
                if var.shape:
                    rows.append(
                        Row(
                            _variable_tex(var),
                            matrix(self.walk.updated[var.name]),
                            None,
                            r"\leftarrow",
                        )
                    )
        note = (
            f"{optimizer.describe()}: for every parameter element $p$ with gradient $g$, "
            "at step $t$ (counted from 0), in this order."
        )
        if self.walk is not None and self.walk.lr is not None:
            note += " Below it, the first step from the values above."
        return Section("Update", tuple(rows), note)


def _paren(value: float) -> str:
    text = number(value)
    return f"({text})" if value < 0 else text


def _variable_tex(var: Any) -> str:
    return declared_name(var).tex()


def _align(rows: tuple[Row, ...]) -> list[str]:
    lines = []
    for row in rows:
        text = f"{row.lhs} &{row.relation} {row.rhs}" if row.relation else f"{row.lhs} & {row.rhs}"
        if row.value is not None:
            text += f" && = {row.value}"
        lines.append(text)
    return lines


def fragment(sections: list[Section]) -> str:
    """One ``aligned`` block (for Jupyter / MathJax) with a heading row per section."""
    lines: list[str] = []
    for section in sections:
        if lines:
            lines[-1] += r" \\[1ex]"
        lines.append(rf"& \textbf{{{section.title}}} \\")
        body = _align(section.rows)
        lines += [line + r" \\" for line in body[:-1]] + body[-1:]
    return "\\begin{aligned}\n" + "\n".join(lines) + "\n\\end{aligned}"


def _escape(text: str) -> str:
    return text.replace("_", r"\_")


def document(
    name: str,
    variables: tuple[Variable, ...],
    reduction: str,
    sections: list[Section],
    optimizer: Optimizer | None,
    variable_tex: Callable[[Variable], str] = _variable_tex,
) -> str:
    """A standalone article that compiles with pdflatex (amsmath and geometry only).

    ``variable_tex`` names a declared variable as the sections do (each level has its
    notation)."""
    declared = []
    for var in variables:
        shape = r" \in \mathbb{R}" + (
            f"^{{{var.shape[0]} \\times {var.shape[1]}}}" if var.shape else ""
        )
        declared.append(f"${variable_tex(var)}{shape}$ ({var.role[:-1]})")
    out = [
        r"\documentclass[11pt]{article}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\usepackage{amsmath,amssymb}",
        r"\allowdisplaybreaks",
        r"\setlength{\parindent}{0pt}",
        r"\begin{document}",
        rf"\section*{{Backpropagation through model \texttt{{{_escape(name)}}}}}",
        "Declared: " + ", ".join(declared) + ". "
        rf"The loss is per sample; over a batch the losses are reduced by their {reduction}."
        " Generated by symbp from the reverse sweep its kernels are emitted from.",
    ]
    if optimizer is not None:
        out.append(rf" Optimizer: \texttt{{{_escape(optimizer.describe())}}}.")
    for section in sections:
        out.append(rf"\subsection*{{{section.title}}}")
        if section.note:
            out.append(section.note)
        body = _align(section.rows)
        out.append("\\begin{align*}\n" + " \\\\\n".join(body) + "\n\\end{align*}")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def scalar_sections(
    explanation: Explanation,
    walk: Walkthrough | None,
    *,
    closed: dict[str, Any] | None,
    hessian: sp.MatrixBase | None,
    optimizer: Optimizer | None,
) -> list[Section]:
    """The sections of an element-level derivation (``closed``: ``Model.gradients()``,
    printed when given; ``hessian``: ``Model.hessian()``, likewise)."""
    renderer = Renderer(explanation, walk)
    sections = [renderer.forward(), renderer.backward(), renderer.gradients()]
    substituted = renderer.substituted()
    if substituted is not None and substituted.rows:
        sections.append(substituted)
    if closed is not None:
        sections.append(renderer.closed(closed))
    if hessian is not None:
        sections.append(renderer.second_order(hessian))
    if optimizer is not None:
        sections.append(renderer.update(optimizer))
    return sections


__all__ = ["DerivationPrinter", "Quantity", "document", "fragment", "scalar_sections"]
