"""Program + update rule -> the source of the three Numba kernels of a module.

* ``_loss_kernel(_theta, _idx, _lo, _hi, *data)``: sum of per-sample losses over
  the samples ``_idx[_lo:_hi]``.
* ``_grad_kernel(_theta, _idx, _lo, _hi, _grad, *data)``: the same sum, and adds
  each sample's gradient into ``_grad``.
* ``_fit_kernel(...)``: the whole training loop: batch selection, gradient,
  batch loss, learning-rate schedule and the fused optimizer update.

Parameters travel as one flat array ``_theta`` in declaration order (row-major), so
the optimizer update is a single loop over its elements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from ..optim.base import LR, G, P, UpdateRule
from ..reverse import Leaf
from ..schedules import T
from ..simplify import Program
from .lines import Lines
from .printer import format_literal, make_printer


@dataclass(frozen=True)
class Layout:
    """Where each parameter lives in the flat parameter vector."""

    offsets: dict[str, int]
    size: int


def layout(program: Program) -> Layout:
    """Offsets of the params in declaration order."""
    offsets: dict[str, int] = {}
    size = 0
    for var in program.derivation.params:
        offsets[var.name] = size
        size += var.size
    return Layout(offsets, size)


def _leaf_name(leaf: Leaf) -> str:
    var, index = leaf.var, leaf.index
    if var.role == "params":
        return var.name if not index else f"{var.name}[{index[0]}, {index[1]}]"
    if not index:
        return f"{var.name}[_s]"
    return f"{var.name}[_s, {index[0]}, {index[1]}]"


def data_names(program: Program) -> list[str]:
    """Names of the data arguments, inputs then targets, in declaration order."""
    variables = program.derivation.variables
    return [v.name for role in ("inputs", "targets") for v in variables if v.role == role]


class KernelWriter:
    """Writes the kernels of one program for one precision and one update rule."""

    def __init__(self, program: Program, rule: UpdateRule, lr: sp.Expr, dtype: str, reduction: str):
        self.program = program
        self.rule = rule
        self.lr = lr
        self.dtype = dtype
        self.reduction = reduction
        self.layout = layout(program)
        leaves = {expr: _leaf_name(leaf) for expr, leaf in program.derivation.leaves.items()}
        self.print = make_printer(dtype, leaves)
        self.data = data_names(program)

    def lit(self, value: float) -> str:
        """A literal in the kernel precision."""
        return format_literal(value, self.dtype)

    def cast(self, text: str) -> str:
        """Convert an integer expression to the kernel precision."""
        return f"np.{self.dtype}({text})"

    # -- shared pieces ------------------------------------------------------------
    def _bind_params(self, out: Lines, with_grad: bool) -> None:
        """Name every parameter: views for shaped ones, values for scalars."""
        self._bind_views(out, with_grad)
        self._bind_scalars(out)

    def _bind_views(self, out: Lines, with_grad: bool) -> None:
        """Shaped parameters as views of ``_theta`` (and their gradients of ``_grad``)."""
        for var in self.program.derivation.params:
            start = self.layout.offsets[var.name]
            stop = start + var.size
            if var.shape:
                out(f"{var.name} = _theta[{start}:{stop}].reshape({var.shape})")
                if with_grad:
                    out(f"grad_{var.name} = _grad[{start}:{stop}].reshape({var.shape})")

    def _bind_scalars(self, out: Lines) -> None:
        """Scalar parameters by value: a loop that updates ``_theta`` rebinds them each step."""
        for var in self.program.derivation.params:
            if not var.shape:
                out(f"{var.name} = _theta[{self.layout.offsets[var.name]}]")

    def _signature(self, name: str, fixed: list[str]) -> str:
        return f"def {name}({', '.join(fixed + self.data)}):"

    def _grad_target(self, name: str, index: tuple[int, ...]) -> str:
        if not index:
            return f"_grad[{self.layout.offsets[name]}]"
        return f"grad_{name}[{index[0]}, {index[1]}]"

    def _statements(self, out: Lines, statements: tuple[tuple[sp.Symbol, sp.Expr], ...]) -> None:
        for target, expr in statements:
            out(f"{target.name} = {self.print(expr)}")

    # -- kernels --------------------------------------------------------------------
    def loss_kernel(self, out: Lines) -> None:
        """Sum of the per-sample losses over ``_idx[_lo:_hi]``."""
        program = self.program
        statements = program.needed([program.loss])
        out("@numba.njit(cache=True)")
        out(self._signature("_loss_kernel", ["_theta", "_idx", "_lo", "_hi"]))
        with out.indent():
            out('"""Sum of the per-sample losses of the samples _idx[_lo:_hi]."""')
            self._bind_params(out, with_grad=False)
            out(f"_total = {self.lit(0.0)}")
            out("for _r in range(_lo, _hi):")
            with out.indent():
                out("_s = _idx[_r]")
                self._statements(out, statements)
                out(f"_total += {self.print(program.loss)}")
            out("return _total")

    def grad_kernel(self, out: Lines) -> None:
        """Loss sum and gradient sum over ``_idx[_lo:_hi]``."""
        program = self.program
        n_ops = sum(sp.count_ops(e) for _, e in program.statements)
        out("@numba.njit(cache=True)")
        out(self._signature("_grad_kernel", ["_theta", "_idx", "_lo", "_hi", "_grad"]))
        with out.indent():
            out(
                '"""Sum of the per-sample losses of _idx[_lo:_hi]; adds their gradients to _grad."""'
            )
            out(f"# {len(program.statements)} statements, {n_ops} operations per sample")
            self._bind_params(out, with_grad=True)
            self._batch_gradient(out)
            out("return _total")

    def _batch_gradient(self, out: Lines) -> None:
        """Loop over ``_idx[_lo:_hi]``: ``_total`` gets the loss sum, ``_grad`` the gradients."""
        program = self.program
        out(f"_total = {self.lit(0.0)}")
        out("for _r in range(_lo, _hi):")
        with out.indent():
            out("_s = _idx[_r]")
            adjoints = {s.target for s in program.derivation.adjoint}
            out("# forward")
            in_reverse = False
            for target, expr in program.statements:
                if target in adjoints and not in_reverse:
                    out("# reverse (adjoints)")
                    in_reverse = True
                out(f"{target.name} = {self.print(expr)}")
            out(f"_total += {self.print(program.loss)}")
            current = None
            for name, index, expr in program.gradients:
                if expr == 0:
                    continue
                if name != current:
                    out(f"# d loss / d {name}")
                    current = name
                out(f"{self._grad_target(name, index)} += {self.print(expr)}")

    def _step_scalars(
        self, out: Lines, printer: Callable[[sp.Basic], str], names: Mapping[sp.Basic, str]
    ) -> None:
        """The rule's per-step scalars, evaluated in float64 and rounded once.

        torch computes them as Python floats (``1 - beta2**step`` loses four digits
        in float32 arithmetic when beta2 = 0.999), so a float32 kernel does the same.
        """
        if self.dtype == "float64":
            for sym, expr in self.rule.scalars:
                out(f"{names[sym]} = {printer(expr)}")
            return
        wide = make_printer("float64", {T: "np.float64(_t)"})
        earlier: dict[sp.Symbol, sp.Expr] = {LR: self.lr}  # the schedule, in float64 too
        for sym, expr in self.rule.scalars:
            full = expr.xreplace(earlier)
            earlier[sym] = full
            out(f"{names[sym]} = {self.cast(wide(full))}")

    # -- fit kernel hooks (the matrix-level writer overrides these two) -----------
    def _fit_buffers(self, out: Lines) -> None:
        """Allocate what the training loop needs, once per fit.

        The per-sample program is written into the loop itself rather than called
        through ``_grad_kernel``: views bound once per fit, not once per step, were
        3.5x faster on seed 004's 10,000 single-sample steps.
        """
        out("_grad = np.empty_like(_theta)")
        self._bind_views(out, with_grad=True)

    def _fit_batch_gradient(self, out: Lines) -> None:
        """Set ``_total`` (batch loss sum) and ``_grad`` (batch gradient sum) for ``_lo:_hi``."""
        out(f"_grad[:] = {self.lit(0.0)}")
        self._bind_scalars(out)
        out("_idx = _orders[_row]")
        self._batch_gradient(out)

    def fit_kernel(self, out: Lines) -> None:
        """The whole training loop with the fused optimizer update."""
        rule = self.rule
        names = {T: "_tf", LR: "_lr"}
        names[P] = "_p"
        names[G] = "_g"
        for sym, _ in rule.state:
            names[sym] = f"_{sym.name}"
        for sym, _ in rule.scalars:
            names[sym] = f"_{sym.name}"
        for sym, _ in rule.updates:
            names.setdefault(sym, f"_{sym.name}")
        printer = make_printer(self.dtype, names)
        count = "_count"
        out("@numba.njit(cache=True)")
        fixed = [
            "_theta",
            "_slots",
            "_orders",
            "_epoch0",
            "_shuffle",
            "_t0",
            "_steps",
            "_batch",
            "_n",
            "_losses",
        ]
        out(self._signature("_fit_kernel", fixed))
        with out.indent():
            out(
                '"""Run _steps optimizer steps in place on _theta and _slots; record batch losses."""'
            )
            self._fit_buffers(out)
            out("_per_epoch = (_n + _batch - 1) // _batch")
            out("for _k in range(_steps):")
            with out.indent():
                out("_t = _t0 + _k")
                out("_row = (_t // _per_epoch - _epoch0) if _shuffle else 0")
                out("_lo = (_t % _per_epoch) * _batch")
                out("_hi = min(_lo + _batch, _n)")
                self._fit_batch_gradient(out)
                if self.reduction == "mean":
                    out(f"{count} = {self.cast('_hi - _lo')}")
                    out(f"_losses[_k] = _total / {count}")
                else:
                    out("_losses[_k] = _total")
                out(f"_tf = {self.cast('_t')}")
                out(f"_lr = {printer(self.lr)}")
                self._step_scalars(out, printer, names)
                out("for _j in range(_theta.shape[0]):")
                with out.indent():
                    out("_p = _theta[_j]")
                    grad = "_grad[_j]" if self.reduction == "sum" else f"_grad[_j] / {count}"
                    out(f"_g = {grad}")
                    for k, (sym, _) in enumerate(rule.state):
                        out(f"{names[sym]} = _slots[{k}, _j]")
                    for sym, expr in rule.updates:
                        out(f"{names[sym]} = {printer(expr)}")
                    for k, (sym, _) in enumerate(rule.state):
                        out(f"_slots[{k}, _j] = {names[sym]}")
                    out("_theta[_j] = _p")
