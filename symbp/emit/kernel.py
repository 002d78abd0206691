"""Program + update rule -> the one compiled entry point of a module, ``_kernel``.

Every operation on a model runs through the same function, so Numba compiles it once
(the first call of ``fit``, ``loss`` or ``grad``) and every later operation reuses the
compiled code (MEASUREMENTS.md: each separately jitted entry point costs seconds of
compilation, and a callee is code-generated again inside every caller)::

    _kernel(_mode, _theta, _slots, _grad, _orders, _shuffle, _epoch0, _t0, _steps,
            _batch, _lo, _hi, _losses, _info, *data)

* ``_mode`` :data:`LOSS` / :data:`GRAD`: the rows ``_lo:_hi`` of the data in chunks of
  ``_batch``: ``_losses[0]`` gets the sum of their per-sample losses and, for
  :data:`GRAD`, ``_grad`` their gradient sums added;
* :data:`FIT`: ``_steps`` optimizer steps from the step counter ``_t0`` on the rows
  ``0:_hi`` in minibatches of ``_batch`` (epoch ``e`` in the order ``_orders[e -
  _epoch0]`` when ``_shuffle``), updating ``_theta`` and ``_slots`` in place and
  recording each batch loss in ``_losses``. It returns the number of steps done: fewer
  than ``_steps`` when a batch loss is not finite (the kernel stops before that
  update; ``_info[0]`` holds the step's learning rate);
* :data:`FIT_CHECKED`: the same, also checking the parameters after every update; an
  update that makes one non-finite is undone and the kernel stops (``_info[1]`` = the
  flat index of the first bad parameter). The runtime replays a diverged fit this way;
* :data:`UPDATE`: one optimizer step at step ``_t0`` from the gradient sum ``_grad``
  of ``_batch`` samples (for data-parallel training, where the gradient is reduced
  elsewhere).

Parameters travel as one flat array ``_theta`` in declaration order (row-major), so
the optimizer update is a single loop over its elements. Each level supplies the code
of one batch (``batch``): the per-sample straight-line program here, the batched
matrix program in :mod:`symbp.matrix.kernel`.
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

#: The decorator of every kernel, at both levels: one arithmetic model, IEEE's (NumPy's
#: error model: ``1/0 -> inf``, ``log(-1) -> nan``), never a Python exception from
#: compiled code. Python's error model would also put a branch before every division.
#: ``nogil`` lets the runtime evaluate large data sets on several threads.
DECORATOR = '@numba.njit(cache=True, error_model="numpy", nogil=True)'

#: The modes of ``_kernel`` (see the module docstring).
LOSS, GRAD, FIT, FIT_CHECKED, UPDATE = 0, 1, 2, 3, 4

FIXED_ARGS = (
    "_mode",
    "_theta",
    "_slots",
    "_grad",
    "_orders",
    "_shuffle",
    "_epoch0",
    "_t0",
    "_steps",
    "_batch",
    "_lo",
    "_hi",
    "_losses",
    "_info",
)


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


def sample_index(shape: tuple[int, ...], index: tuple[int, ...]) -> str:
    """The index of one element of one sample in the data's storage layout.

    The runtime passes a scalar input as ``(n,)``, a row or column vector of length
    ``k`` as ``(n, k)`` and an ``r x c`` matrix as ``(n, r, c)``.
    """
    if not index:
        return ""
    rows, cols = shape
    if rows == 1 or cols == 1:
        return f", {index[0] * cols + index[1]}"
    return f", {index[0]}, {index[1]}"


def _leaf_name(leaf: Leaf) -> str:
    """The local variable holding one element.

    ``W1[0, 2]`` -> ``_W1_0_2``, ``x[0, 1]`` -> ``_x_0_1``, a scalar param ``w`` -> ``w``,
    a scalar input ``x`` -> ``_x_`` (user names never start with ``_``, so these never
    clash with each other or with the kernel's own names).
    """
    var, index = leaf.var, leaf.index
    if not index:
        return var.name if var.role == "params" else f"_{var.name}_"
    return "_" + "_".join([var.name, *map(str, index)])


def _leaf_read(leaf: Leaf, offsets: Mapping[str, int]) -> str:
    """Where the element comes from: the flat ``_theta``, or this sample's row of the data."""
    var, index = leaf.var, leaf.index
    if var.role == "params":
        flat = offsets[var.name] + (index[0] * var.shape[1] + index[1] if index else 0)
        return f"_theta[{flat}]"
    return f"{var.name}[_s{sample_index(var.shape, index)}]"


def data_names(program: Program) -> list[str]:
    """Names of the data arguments, inputs then targets, in declaration order."""
    variables = program.derivation.variables
    return [v.name for role in ("inputs", "targets") for v in variables if v.role == role]


class KernelWriter:
    """Writes the kernel of one scalar-level program for one precision and update rule."""

    def __init__(
        self, program: Program, rule: UpdateRule | None, lr: sp.Expr, dtype: str, reduction: str
    ):
        self.program = program
        self.rule = rule
        self.lr = lr
        self.dtype = dtype
        self.reduction = reduction
        self.layout = layout(program)
        # Every element the program reads becomes a local, read once: a parameter once per
        # batch (the update changes _theta), a data element once per sample. Numba
        # compiles a 1-D read into a local much faster than repeated 2-D array reads.
        ordered = sorted(
            program.derivation.leaves.items(),
            key=lambda item: (item[1].var.role != "params", item[1].var.name, item[1].index),
        )
        self.leaves = [
            (_leaf_name(leaf), _leaf_read(leaf, self.layout.offsets), leaf) for _, leaf in ordered
        ]
        leaves = {expr: _leaf_name(leaf) for expr, leaf in program.derivation.leaves.items()}
        self.print = make_printer(dtype, leaves)
        self.data = data_names(program)

    def lit(self, value: float) -> str:
        """A literal in the kernel precision."""
        return format_literal(value, self.dtype)

    def cast(self, text: str) -> str:
        """Convert an integer expression to the kernel precision."""
        return f"np.{self.dtype}({text})"

    # -- level hooks ------------------------------------------------------------------
    def bind(self, out: Lines) -> None:
        """Once per call: nothing at the scalar level (every element is a local)."""

    def _bind_params(self, out: Lines) -> None:
        """The parameter elements the program reads, once per batch."""
        for name, read, leaf in self.leaves:
            if leaf.var.role == "params":
                out(f"{name} = {read}")

    def _grad_target(self, name: str, index: tuple[int, ...]) -> str:
        var = next(v for v in self.program.derivation.params if v.name == name)
        flat = self.layout.offsets[name] + (index[0] * var.shape[1] + index[1] if index else 0)
        return f"_gb[{flat}]"

    def batch(self, out: Lines) -> None:
        """The rows ``_blo:_bhi``: ``_total`` gets their loss sum and, when ``_want``,
        ``_gb`` their gradient sum (row ``r`` is sample ``_orders[_row, r]`` when shuffling).
        """
        program = self.program
        # forward: what the loss needs; the rest (adjoints, values only they use) runs
        # only when the gradient is wanted
        forward = list(program.needed([program.loss]))
        needed = {t for t, _ in forward}
        backward = [(t, e) for t, e in program.statements if t not in needed]
        self._bind_params(out)
        out(f"_total = {self.lit(0.0)}")
        out("if _want:")
        with out.indent():
            out("for _j in range(_gb.shape[0]):")
            with out.indent():
                out(f"_gb[_j] = {self.lit(0.0)}")
        out("for _r in range(_blo, _bhi):")
        with out.indent():
            out("_s = _orders[_row, _r] if _shuffle else _r")
            for name, read, leaf in self.leaves:
                if leaf.var.role != "params":
                    out(f"{name} = {read}")
            out("# forward")
            for target, expr in forward:
                out(f"{target.name} = {self.print(expr)}")
            out(f"_total += {self.print(program.loss)}")
            out("if _want:")
            with out.indent():
                out("# reverse (adjoints)")
                for target, expr in backward:
                    out(f"{target.name} = {self.print(expr)}")
                current = None
                for name, index, expr in program.gradients:
                    if expr == 0:
                        continue
                    if name != current:
                        out(f"# d loss / d {name}")
                        current = name
                    out(f"{self._grad_target(name, index)} += {self.print(expr)}")
                if not backward and all(e == 0 for _, _, e in program.gradients):
                    out("pass")

    def chunk(self) -> int:
        """Samples per batch when the runtime evaluates a data set (no workspace here)."""
        return 256

    def summary(self) -> str:
        """A comment line with the size of the per-sample program."""
        program = self.program
        n_ops = sum(sp.count_ops(e) for _, e in program.statements)
        return f"# {len(program.statements)} statements, {n_ops} operations per sample"

    # -- the kernel ---------------------------------------------------------------------
    def kernel(self, out: Lines) -> None:
        """The one compiled entry point (see the module docstring)."""
        out(DECORATOR)
        out(f"def _kernel({', '.join([*FIXED_ARGS, *self.data])}):")
        with out.indent():
            out('"""Loss, gradient, training and update of this model: see symbp.emit.kernel."""')
            out(self.summary())
            out(f"_fit = _mode >= {FIT}")
            out(f"_want = _mode != {LOSS}")
            out("_gb = np.empty_like(_theta)")
            if self.rule is not None:
                out(f"_checked = _theta.shape[0] if _mode == {FIT_CHECKED} else 0")
                out("_keep = np.empty(_checked, dtype=_theta.dtype)")
                out("_keep_slots = np.empty((_slots.shape[0], _checked), dtype=_theta.dtype)")
            self.bind(out)
            if self.rule is not None:
                out(f"if _mode == {UPDATE}:")
                with out.indent():
                    out("_it = 0")
                    out("_t = _t0")
                    self.update(out, "_grad", self.cast("_batch"))
                    out("return 1")
            out("_per_epoch = (_hi + _batch - 1) // _batch")
            out("_items = _steps if _fit else (_hi - _lo + _batch - 1) // _batch")
            out("for _it in range(_items):")
            with out.indent():
                out("if _fit:")
                with out.indent():
                    out("_t = _t0 + _it")
                    out("_row = (_t // _per_epoch - _epoch0) if _shuffle else 0")
                    out("_blo = (_t % _per_epoch) * _batch")
                    out("_bhi = min(_blo + _batch, _hi)")
                out("else:")
                with out.indent():
                    out("_t = 0")
                    out("_row = 0")
                    out("_blo = _lo + _it * _batch")
                    out("_bhi = min(_blo + _batch, _hi)")
                self.batch(out)
                out("if not _fit:")
                with out.indent():
                    out("_losses[0] += _total")
                    out("if _want:")
                    with out.indent():
                        out("for _j in range(_gb.shape[0]):")
                        with out.indent():
                            out("_grad[_j] += _gb[_j]")
                    out("continue")
                if self.rule is None:
                    out("return 0  # compiled without an optimizer: the runtime refuses to fit")
                else:
                    count = self.cast("_bhi - _blo")
                    self.update(out, "_gb", count, record=True)
            out("return _items")

    def _step_scalars(
        self, out: Lines, printer: Callable[[sp.Basic], str], names: Mapping[sp.Basic, str]
    ) -> None:
        """The rule's per-step scalars, evaluated in float64 and rounded once.

        torch computes them as Python floats (``1 - beta2**step`` loses four digits
        in float32 arithmetic when beta2 = 0.999), so a float32 kernel does the same.
        """
        assert self.rule is not None
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

    def _copy(self, out: Lines, target: str, source: str) -> None:
        """Copy the parameters (and the optimizer state) between ``_theta`` and the backup."""
        slots = {"_keep": "_keep_slots", "_theta": "_slots"}
        out(f"for _j in range({source}.shape[0]):")
        with out.indent():
            out(f"{target}[_j] = {source}[_j]")
            out("for _q in range(_slots.shape[0]):")
            with out.indent():
                out(f"{slots[target]}[_q, _j] = {slots[source]}[_q, _j]")

    def update(self, out: Lines, grad: str, count: str, *, record: bool = False) -> None:
        """One optimizer step of every element from the gradient sum ``grad`` of ``count`` samples.

        With ``record``: the batch loss goes to ``_losses[_it]`` first, and a non-finite
        one stops the kernel before the update (:data:`FIT_CHECKED` also undoes an
        update that makes a parameter non-finite).
        """
        rule = self.rule
        assert rule is not None
        names = {T: "_tf", LR: "_lr", P: "_p", G: "_g"}
        for sym, _ in rule.state:
            names[sym] = f"_{sym.name}"
        for sym, _ in rule.scalars:
            names[sym] = f"_{sym.name}"
        for sym, _ in rule.updates:
            names.setdefault(sym, f"_{sym.name}")
        printer = make_printer(self.dtype, names)
        out(f"_count = {count}")
        out(f"_tf = {self.cast('_t')}")
        out(f"_lr = {printer(self.lr)}")
        if record:
            if self.reduction == "mean":
                out("_losses[_it] = _total / _count")
            else:
                out("_losses[_it] = _total")
            out("if not math.isfinite(_losses[_it]):")
            with out.indent():
                out("_info[0] = _lr")
                out("return _it")
            out(f"if _mode == {FIT_CHECKED}:")
            with out.indent():
                self._copy(out, "_keep", "_theta")
        self._step_scalars(out, printer, names)
        out("for _j in range(_theta.shape[0]):")
        with out.indent():
            out("_p = _theta[_j]")
            g = f"{grad}[_j]" if self.reduction == "sum" else f"{grad}[_j] / _count"
            out(f"_g = {g}")
            for k, (sym, _) in enumerate(rule.state):
                out(f"{names[sym]} = _slots[{k}, _j]")
            for sym, expr in rule.updates:
                out(f"{names[sym]} = {printer(expr)}")
            for k, (sym, _) in enumerate(rule.state):
                out(f"_slots[{k}, _j] = {names[sym]}")
            out("_theta[_j] = _p")
        if record:
            out(f"if _mode == {FIT_CHECKED}:")
            with out.indent():
                out("for _j in range(_theta.shape[0]):")
                with out.indent():
                    out("if not math.isfinite(_theta[_j]):")
                    with out.indent():
                        out("_info[0] = _lr")
                        out("_info[1] = _j")
                        self._copy(out, "_theta", "_keep")
                        out("return _it")
