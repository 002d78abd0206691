"""The matrix-level derivation as LaTeX: ``z_1 = x W_1 + b_1``, ``\\bar{W}_2 = h_1^{\\top} \\bar{z}_2``.

For a model on the matrix path (``model.matrix``) every row printed here is one step of
``model.derivation`` (the sweep of :mod:`symbp.derive.matrix` the kernels are emitted
from), in sweep order; nothing is re-derived. Only the names change: each forward step
gets a name chosen from the model's structure (pre-activations ``z_k``, activations
``h_k``, the prediction ``\\hat{y}``, the loss ``L``; upper case for matrices that are not
vectors, ``u_j`` for any other intermediate) instead of the sweep's ``_V<k>``.

Two display contractions keep the page close to a textbook, without changing a value:
a product ``x W`` with a parameter that only feeds one sum is written inside that sum
(``z_1 = x W_1 + b_1``), and its adjoint, which the sum's rule passes on unchanged, is
written as the sum's adjoint (``\\bar{W}_1 = x^{\\top} \\bar{z}_1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from ..derive.sweep import Derivation
from ..errors import OptionError
from ..nodes.matrix import block_grid
from ..nodes.scan import Scan
from ..optim.base import Optimizer
from ..simplify.scan import scan_step
from .latex import Renderer, Row, Section
from .names import Name, variable_name
from .scalar import Explanation

NOTE_ELEMENTWISE = (
    r"A scalar function of a matrix (e.g. $\tanh(z)$, $\exp(z)$) applies to every element; "
    r"$A \odot B$ is the elementwise (Hadamard) product, $A^{\odot 2}$ the elementwise square, "
    r"$A^{\top}$ the transpose and $\mathbf{1}_{r \times c}$ the all-ones matrix "
    "(its products are sums and broadcasts)."
)


class MatrixPrinter(LatexPrinter):  # type: ignore[misc]
    """SymPy's LaTeX printer with symbp's names and matrix-level notation.

    ``Transpose`` -> ``^{\\top}``, ``HadamardProduct`` -> ``\\odot``, ``OneMatrix`` ->
    ``\\mathbf{1}``, and an elementwise function ``f.(X)`` -> ``f(X)`` (its body printed
    with ``X`` in place of the element; powers of it as Hadamard powers ``X^{\\odot n}``).
    """

    def __init__(self, names: Mapping[sp.Basic, str], **settings: Any):
        super().__init__(settings)
        self.names = dict(names)
        self.element: sp.Basic | None = None

    def _named(self, expr: sp.Basic) -> str | None:
        return self.names.get(expr)

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        name = self._named(expr)
        return name if name is not None else super()._print_Symbol(expr, style)

    def _print_Dummy(self, expr: sp.Dummy) -> str:
        name = self._named(expr)
        return name if name is not None else super()._print_Dummy(expr)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        name = self._named(expr)
        return name if name is not None else super()._print_MatrixSymbol(expr)

    def _atomic(self, expr: sp.Basic) -> bool:
        return expr in self.names or isinstance(expr, sp.MatrixSymbol | sp.Symbol)

    def parenthesize(
        self, item: Any, level: int, is_neg: bool = False, strict: bool = False
    ) -> str:
        if isinstance(item, ElementwiseApplyFunction):
            body = item.function.expr
            text = self._print(item)
            if precedence(body) < level or (strict and precedence(body) == level):
                return rf"\left({text}\right)"
            return text
        return super().parenthesize(item, level, is_neg, strict)  # type: ignore[no-any-return]

    def _print_Transpose(self, expr: Any) -> str:
        arg = expr.arg
        text = self._print(arg)
        if not self._atomic(arg):
            text = rf"\left({text}\right)"
        elif "^" in text:
            text = f"{{{text}}}"
        return rf"{text}^{{\top}}"

    def _print_HadamardProduct(self, expr: Any) -> str:
        return r" \odot ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in expr.args)

    def _print_OneMatrix(self, expr: Any) -> str:
        rows, cols = expr.shape
        if (rows, cols) == (1, 1):
            return "1"
        return rf"\mathbf{{1}}_{{{rows} \times {cols}}}"

    def _print_ZeroMatrix(self, expr: Any) -> str:
        rows, cols = expr.shape
        return rf"\mathbf{{0}}_{{{rows} \times {cols}}}"

    def _print_Unit(self, expr: Any) -> str:
        row, col = expr.position
        return rf"e^{{({row + 1},{col + 1})}}"

    def _print_Pow(self, expr: sp.Pow) -> str:
        if self.element is not None and expr.base == self.element:
            base = self._print(expr.base)
            if "^" in base:
                base = f"{{{base}}}"
            return rf"{base}^{{\odot {self._print(expr.exp)}}}"
        return super()._print_Pow(expr)  # type: ignore[no-any-return]

    def _print_MatrixSlice(self, expr: Any) -> str:
        parent = expr.parent
        text = self._print(parent)
        if not self._atomic(parent):
            text = rf"\left({text}\right)"
        elif "_" in text or "^" in text:
            text = f"{{{text}}}"
        axes = [
            slice_tex(*bounds, size)
            for bounds, size in zip((expr.rowslice, expr.colslice), parent.shape, strict=True)
        ]
        return rf"{text}_{{{axes[0]},{axes[1]}}}"

    def _print_BlockMatrix(self, expr: Any) -> str:
        rows = [" & ".join(self._print(b) for b in row) for row in block_grid(expr)]
        return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"

    def _print_Scan(self, expr: Any) -> str:
        which = "h_{1..T}" if expr.return_all else "h_T"
        seqs = ", ".join(self._print(s) for s in expr.sequences)
        return (
            rf"\operatorname{{scan}}_{{t=1}}^{{{expr.steps}}}\left({which};\ "
            rf"h_0 = {self._print(expr.init)},\ x_t = \text{{row }} t \text{{ of }} {seqs}\right)"
        )

    def _print_ScanGrad(self, expr: Any) -> str:
        operand = expr.operand
        what = self._print(operand) if expr.k else "h_0"
        return rf"\operatorname{{BPTT}}_{{{what}}}\left({self._print(expr.out_bar)}\right)"

    def _print_ElementwiseApplyFunction(self, expr: Any) -> str:
        lam = expr.function
        (var,) = lam.variables
        arg = self._print(expr.expr)
        if not self._atomic(expr.expr):
            arg = rf"\left({arg}\right)"
        # the body's products are elementwise products of matrices
        inner = MatrixPrinter({**self.names, var: arg}, mul_symbol=r" \odot ")
        inner.element = var
        return inner.doprint(lam.expr)  # type: ignore[no-any-return]


def slice_tex(start: Any, stop: Any, step: Any, size: Any) -> str:
    """One axis of a slice, 1-based as in the textbooks: ``:``, ``3``, ``2{:}11``."""
    start, stop, step = int(start), min(int(stop), int(size)), int(step)
    if (start, stop, step) == (0, int(size), 1):
        return ":"
    if stop == start + 1:
        return str(start + 1)
    middle = "" if step == 1 else f"{step}{{:}}"
    return f"{start + 1}{{:}}{middle}{stop}"


def _case(stem: str, shape: tuple[int, int] | None) -> str:
    """Lower case for vectors and 1x1 matrices, upper case for anything wider."""
    if shape is not None and min(shape) > 1:
        return stem.upper()
    return stem


def _shape(expr: sp.Basic) -> tuple[int, int] | None:
    return tuple(expr.shape) if isinstance(expr, sp.MatrixExpr) else None  # type: ignore[return-value]


def _symbols(expr: sp.Basic) -> set[sp.Basic]:
    return set(expr.atoms(sp.MatrixSymbol)) | set(expr.atoms(sp.Symbol))


class MatrixNames:
    """Names for the steps of one matrix-level derivation, chosen from its structure."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        params = {v.symbol for v in derivation.params}
        forward = derivation.forward
        users: dict[sp.Basic, list[Any]] = {s.target: [] for s in forward}
        uses: Counter[sp.Basic] = Counter()
        for step in forward:
            for sym in _symbols(step.expr):
                if sym in users:
                    users[sym].append(step)
                    uses[sym] += 1

        def product_with_param(expr: sp.Basic) -> bool:
            return isinstance(expr, sp.MatMul) and any(a in params for a in expr.args)

        #: forward symbol -> its expression, written inside the one sum that uses it
        self.inlined: dict[sp.Basic, sp.Basic] = {}
        #: forward symbol of an inlined product -> the sum it is written in
        self.inlined_in: dict[sp.Basic, sp.Basic] = {}
        self.name: dict[sp.Basic, Name] = {}
        layer_of: dict[sp.Basic, int] = {}
        layer = other = scans = 0
        for step in forward:
            target, expr = step.target, step.expr
            shape = _shape(target)
            if (
                product_with_param(expr)
                and uses[target] == 1
                and isinstance(users[target][0].expr, sp.MatAdd)
                and target != derivation.loss
            ):
                self.inlined[target] = expr
                self.inlined_in[target] = users[target][0].target
                continue
            if target == derivation.loss:
                self.name[target] = Name("L")
            elif isinstance(expr, Scan):
                scans += 1
                self.name[target] = Name(_case("h", shape), "", "" if scans == 1 else str(scans))
            elif isinstance(expr, sp.MatAdd) and any(
                a in self.inlined or product_with_param(a) for a in expr.args
            ):
                layer += 1
                layer_of[target] = layer
                self.name[target] = Name(_case("z", shape), "", str(layer))
            elif (
                isinstance(expr, ElementwiseApplyFunction)
                and expr.expr in layer_of
                and uses[target] > 0
            ):
                k = layer_of[expr.expr]
                feeds_layer = any(
                    product_with_param(u.expr)
                    or (
                        isinstance(u.expr, sp.MatAdd)
                        and any(product_with_param(a) and target in a.args for a in u.expr.args)
                    )
                    for u in users[target]
                )
                if feeds_layer:
                    self.name[target] = Name(_case("h", shape), "", str(k))
                else:
                    self.name[target] = Name(rf"\hat{{{_case('y', shape)}}}")
            else:
                other += 1
                self.name[target] = Name(_case("u", shape), "", str(other))
        # only one prediction gets the hat without a subscript
        hats = [s for s, n in self.name.items() if n.stem.startswith(r"\hat")]
        for i, sym in enumerate(hats[1:] if len(hats) > 1 else [], start=2):
            self.name[sym] = Name(self.name[sym].stem, "", str(i))

        forward_of = {s.node: s.target for s in forward}
        adjoint_syms = {a.target for a in derivation.adjoint}
        #: adjoint symbol -> the adjoint it equals (an inlined product's pass-through)
        self.alias: dict[sp.Basic, sp.Basic] = {}
        #: adjoint symbol -> its forward symbol
        self.of: dict[sp.Basic, sp.Basic] = {}
        for step in derivation.adjoint:
            fwd = forward_of[step.node]
            self.of[step.target] = fwd
            if fwd in self.inlined and step.expr in adjoint_syms:
                self.alias[step.target] = self.alias.get(step.expr, step.expr)

        self.variables: dict[sp.Basic, str] = {}
        for var in derivation.variables:
            self.variables[var.symbol] = variable_name(var).tex()

    def bar_name(self, adjoint: sp.Basic, printer: MatrixPrinter) -> str:
        fwd = self.of[adjoint]
        if fwd in self.name:
            return self.name[fwd].tex(bar=True)
        return rf"\overline{{{printer.doprint(self.inlined[fwd])}}}"

    def printers(self) -> tuple[MatrixPrinter, MatrixPrinter]:
        """(forward printer: inlined products bare, adjoint printer: them parenthesized)."""
        base: dict[sp.Basic, str] = dict(self.variables)
        base.update({sym: name.tex() for sym, name in self.name.items()})
        plain = MatrixPrinter(base)
        forward = dict(base)
        adjoint = dict(base)
        for sym, expr in self.inlined.items():
            text = plain.doprint(expr)
            forward[sym] = text
            adjoint[sym] = rf"\left({text}\right)"
        adjoint_printer = MatrixPrinter(adjoint)
        for step in self.derivation.adjoint:
            if step.target not in self.alias:
                adjoint[step.target] = self.bar_name(step.target, plain)
        adjoint_printer.names = adjoint
        return MatrixPrinter(forward), adjoint_printer


def sections(
    derivation: Derivation, optimizer: Optimizer | None, closed: dict[str, Any] | None
) -> list[Section]:
    """Forward steps, adjoints in sweep order, gradients (and updates) as Sections;
    ``closed`` (``Model.gradients()``) is printed when given."""
    names = MatrixNames(derivation)
    fwd, adj = names.printers()
    loss = names.name[derivation.loss].tex() if derivation.loss in names.name else "L"

    def shape_of(sym: sp.Basic) -> str:
        shape = _shape(sym)
        if shape is None or shape == (1, 1):
            return ""
        return rf"\in \mathbb{{R}}^{{{shape[0]} \times {shape[1]}}}"

    rows = []
    for step in derivation.forward:
        if step.target in names.inlined:
            continue
        rows.append(
            Row(
                names.name[step.target].tex(), fwd.doprint(step.expr), shape_of(step.target) or None
            )
        )
    forward = Section(
        "Forward pass",
        tuple(_shapes(rows)),
        "Each quantity is one step of the matrix-level sweep (per sample, shapes beside). "
        + NOTE_ELEMENTWISE,
    )

    rows = []
    for step in derivation.adjoint:
        if step.target in names.alias:
            continue
        expr = step.expr.xreplace(names.alias)
        rows.append(Row(adj.names[step.target], adj.doprint(expr)))
    backward = Section(
        "Backward pass (reverse sweep)",
        tuple(rows),
        rf"The adjoint $\bar{{v}} = \partial {loss} / \partial v$ of each quantity (a matrix "
        "of the shape of $v$), in the order of the reverse sweep: each sums the cotangents "
        "the quantities that use $v$ sent to it (the chain rule at matrix level).",
    )

    rows = []
    for var in derivation.params:
        expr = derivation.gradients[(var.name, ())]
        expr = expr.xreplace(names.alias)
        name = names.variables[var.symbol]
        bar = Name(variable_name(var).stem, "", variable_name(var).sub).tex(bar=True)
        lhs = rf"\frac{{\partial {loss}}}{{\partial {name}}} = {bar}"
        rows.append(Row(lhs, adj.doprint(expr)))
    gradients = Section(
        "Gradients",
        tuple(rows),
        "The gradient of the per-sample loss for every parameter, "
        "a matrix of the parameter's shape.",
    )
    out = [forward, backward, gradients]
    data = frozenset(v.symbol for v in derivation.variables if v.role in ("inputs", "targets"))
    for step in derivation.forward:
        if isinstance(step.expr, Scan):
            out.append(recurrence(step.expr, names.name[step.target].tex(), names.variables, data))
    if closed is not None:
        plain = MatrixPrinter(names.variables)
        rows = [
            Row(
                rf"\frac{{\partial {loss}}}{{\partial {names.variables[v.symbol]}}}",
                plain.doprint(closed[v.name]),
            )
            for v in derivation.params
        ]
        out.append(
            Section("Closed form", tuple(rows), "In the declared symbols (`Model.gradients()`).")
        )
    if optimizer is not None:
        empty = Explanation(derivation, (), (), (), {}, None)
        update = Renderer(empty, None).update(optimizer)
        out.append(
            Section(
                update.title,
                update.rows,
                update.note.replace("parameter element", "parameter (elementwise)"),
            )
        )
    return out


def recurrence(
    scan: Scan, value: str, variables: Mapping[sp.Basic, str], data: frozenset[sp.Basic]
) -> Section:
    """The step of a scan and its backpropagation through time, as the textbooks write
    them: ``h_t = tanh(x_t W_x + h_{t-1} W_h + b)``, ``\\bar h_{t-1} = (\\bar h_t \\odot
    (1 - h_t^2)) W_h^T``, ``\\bar W_h = \\sum_t h_{t-1}^T (...)``, from the step's own sweep
    (:func:`symbp.simplify.scan.scan_step`), the program the kernels loop over."""
    step = scan_step(scan, "e", data)
    derivation = step.derivation
    names = MatrixNames(derivation)
    loss_step = derivation.forward[-1].target
    others = 0
    for target, name in list(names.name.items()):
        if target == step.root:
            names.name[target] = Name("h", "", "t")
        elif name.stem in ("z", "Z"):
            names.name[target] = Name(name.stem, "", "t")
        else:
            others += 1
            names.name[target] = Name(
                name.stem.removeprefix(r"\hat{").rstrip("}") or "u", f"({others})", "t"
            )
    names.variables.update(variables)
    names.variables[scan.state] = "h_{t-1}"
    several = len(scan.row_symbols) > 1
    for k, row in enumerate(scan.row_symbols):
        names.variables[row] = f"x^{{({k + 1})}}_t" if several else "x_t"
    names.variables[step.cotangent] = r"\bar{h}_{t}"
    fwd, adj = names.printers()
    forward_of = {s.node: s.target for s in derivation.forward}
    rows = [
        Row(names.name[s.target].tex(), fwd.doprint(s.expr))
        for s in derivation.forward
        if s.target not in names.inlined and s.target != loss_step
    ]
    for s in derivation.adjoint:
        if s.target in names.alias or forward_of[s.node] in (loss_step, step.root):
            continue
        rows.append(Row(adj.names[s.target], adj.doprint(s.expr.xreplace(names.alias))))
    by_name = {v.name: v.symbol for v in derivation.variables}
    for (name, _), expr in derivation.gradients.items():
        symbol = by_name[name]
        text = adj.doprint(expr.xreplace(names.alias))
        if symbol == scan.state:
            rows.append(Row(r"\bar{h}_{t-1}", text))
        elif symbol in scan.row_symbols:
            k = scan.row_symbols.index(symbol)
            if not (scan.sequences[k].free_symbols <= data):
                bar = f"\\bar{{x}}^{{({k + 1})}}_t" if several else r"\bar{x}_t"
                rows.append(Row(bar, text))
        elif symbol not in data:
            bar = Name(names.variables[symbol]).tex(bar=True)
            rows.append(Row(bar, rf"\sum_{{t=1}}^{{{scan.steps}}} {text}"))
    printer = fwd
    start = printer.doprint(scan.init)
    note = (
        f"${value}$ runs ${scan.steps}$ steps of one recurrence from $h_0 = {start}$ "
        f"({'every state, stacked' if scan.return_all else 'the last state'}): the forward "
        "rows are one step, the kernels loop over $t$. Its reverse mode is "
        r"backpropagation through time: from $\bar{h}_T$ (plus, for every state, each "
        r"state's own cotangent) back to $t = 1$, $\bar{h}_{t-1}$ is carried to the previous "
        "step and the parameters' gradients are summed over the steps."
    )
    return Section(f"Recurrence ${value}$ (backpropagation through time)", tuple(rows), note)


def _shapes(rows: list[Any]) -> list[Any]:
    """Shapes are shown as a remark after the formula, not as a value (``&& \\in ...``)."""
    out = []
    for row in rows:
        if row.value:
            out.append(Row(row.lhs, rf"{row.rhs} \qquad {row.value}", None, row.relation))
        else:
            out.append(row)
    return out


def check_values(values: Any) -> None:
    """The numeric walk-through is element-level only; say so in one clear error."""
    if values is not None:
        raise OptionError(
            "values= (the numeric walk-through) is not supported for matrix-level models yet; "
            "drop values=, or index the loss ([0, 0]) to get the element-level derivation "
            "with numbers"
        )


def declared_tex(var: Any) -> str:
    """A declared variable as the matrix-level page names it: ``W1`` -> ``W_{1}``."""
    return variable_name(var).tex()


__all__ = ["MatrixNames", "MatrixPrinter", "check_values", "declared_tex", "sections"]
