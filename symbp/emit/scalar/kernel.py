"""Program + update rule -> the one compiled entry point of a module, ``_kernel``.

Every operation on a model runs through the same function, so Numba compiles it once
(the first call of ``fit``, ``loss`` or ``grad``) and every later operation reuses the
compiled code (MEASUREMENTS.md: each separately jitted entry point costs seconds of
compilation, and a callee is code-generated again inside every caller)::

    _kernel(_mode, _theta, _slots, _grad, _orders, _shuffle, _epoch0, _t0, _steps,
            _batch, _lo, _hi, _losses, _info, _hyper, *data)

* ``_mode`` :data:`LOSS` / :data:`GRAD`: the rows ``_lo:_hi`` of the data in chunks of
  ``_batch``: ``_losses[0]`` gets the sum of their per-sample losses and, for
  :data:`GRAD`, ``_grad`` their gradient sums added;
* :data:`FIT`: ``_steps`` optimizer steps from the step counter ``_t0`` on the rows
  ``0:_hi`` in minibatches of ``_batch`` (epoch ``e`` in the order ``_orders[e -
  _epoch0]`` when ``_shuffle``), updating ``_theta`` and ``_slots`` in place and
  recording each batch loss in ``_losses``. It returns the number of steps done: fewer
  than ``_steps`` when a batch loss is not finite (the kernel stops before that
  update). ``_info[0]`` holds the last step's learning rate, ``_info[1]`` the flat
  index of the first non-finite parameter at the end (-1 when all are finite);
* :data:`UPDATE`: one optimizer step at step ``_t0`` from the gradient sum ``_grad``
  of ``_batch`` samples (for data-parallel training, where the gradient is reduced
  elsewhere).

Parameters travel as one flat array ``_theta`` in declaration order (row-major), so
the optimizer update is a single loop over its elements. The optimizer's numbers (its
learning-rate schedule's and rule's constants, :class:`symbp.optim.base.Template`)
arrive in ``_hyper``, so one compiled kernel serves every learning rate. Each level
supplies the code of one batch (``batch``): the per-sample straight-line program
here, the batched matrix program in :mod:`symbp.emit.matrix.kernel`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from ...derive.hessian import DIRECTION_PREFIX
from ...derive.sweep import Leaf
from ...optim.base import LR, G, P, Template
from ...schedules import T
from ...simplify.program import Program
from ..lines import Lines
from ..printer import NumbaPrinter, format_literal, make_printer

#: The decorator of every kernel, at both levels: one arithmetic model, IEEE's (NumPy's
#: error model: ``1/0 -> inf``, ``log(-1) -> nan``), never a Python exception from
#: compiled code. Python's error model would also put a branch before every division.
#: ``nogil`` lets the runtime evaluate large data sets on several threads.
DECORATOR = '@numba.njit(cache=True, error_model="numpy", nogil=True)'

#: The modes of ``_kernel`` (see the module docstring).
LOSS, GRAD, FIT, UPDATE = 0, 1, 2, 3

#: A scalar program of at most this many statements (and gradient entries) is written
#: twice, for shuffled and for ordered batches (see ``KernelWriter.batch``).
SPLIT_LIMIT = 60

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
    "_hyper",
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


#: Variables that are the same for every sample, read from a flat vector once per batch:
#: the parameters (``_theta``) and, in a Hessian-vector product, the direction
#: (``_dir``, laid out as the parameters; see symbp.derive.hessian).
SHARED_ROLES = {"params": "_theta", "directions": "_dir"}


def _leaf_read(leaf: Leaf, offsets: Mapping[str, int]) -> str:
    """Where the element comes from: a flat shared vector, or this sample's row of the data."""
    var, index = leaf.var, leaf.index
    if var.role in SHARED_ROLES:
        param = var.name if var.role == "params" else var.name.removeprefix(DIRECTION_PREFIX)
        flat = offsets[param] + (index[0] * var.shape[1] + index[1] if index else 0)
        return f"{SHARED_ROLES[var.role]}[{flat}]"
    return f"{var.name}[_s{sample_index(var.shape, index)}]"


def data_names(program: Program) -> list[str]:
    """Names of the data arguments, inputs then targets, in declaration order."""
    variables = program.derivation.variables
    return [v.name for role in ("inputs", "targets") for v in variables if v.role == role]


class KernelWriter:
    """Writes the kernel of one scalar-level program for one precision and update rule."""

    def __init__(self, program: Program, template: Template | None, dtype: str, reduction: str):
        self.program = program
        self.template = template
        self.rule = template.rule if template is not None else None
        self.lr = template.lr if template is not None else sp.Float(0.0)
        self.dtype = dtype
        self.reduction = reduction
        self.layout = layout(program)
        # Every element the program reads becomes a local, read once: a parameter once per
        # batch (the update changes _theta), a data element once per sample. Numba
        # compiles a 1-D read into a local much faster than repeated 2-D array reads.
        ordered = sorted(
            program.derivation.leaves.items(),
            key=lambda item: (
                item[1].var.role not in SHARED_ROLES,
                item[1].var.name,
                item[1].index,
            ),
        )
        self.leaves = [
            (_leaf_name(leaf), _leaf_read(leaf, self.layout.offsets), leaf) for _, leaf in ordered
        ]
        leaves = {expr: _leaf_name(leaf) for expr, leaf in program.derivation.leaves.items()}
        #: every printer the writer used (their helpers are the module's)
        self.printers: list[NumbaPrinter] = []
        self.print = self.printer(dtype, leaves)
        self.data = data_names(program)

    def printer(self, dtype: str, names: Mapping[sp.Basic, str]) -> NumbaPrinter:
        """A printer for this writer's code (its helpers are recorded)."""
        printer = make_printer(dtype, names)
        self.printers.append(printer)
        return printer

    def helpers(self) -> set[str]:
        """The helper functions the written code calls."""
        return set().union(*(p.helpers for p in self.printers))

    @property
    def blas(self) -> bool:
        """Whether the written code multiplies matrices with ``np.dot`` (BLAS)."""
        return False

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
            if leaf.var.role in SHARED_ROLES:
                out(f"{name} = {read}")

    def _grad_target(self, name: str, index: tuple[int, ...]) -> str:
        var = next(v for v in self.program.derivation.params if v.name == name)
        flat = self.layout.offsets[name] + (index[0] * var.shape[1] + index[1] if index else 0)
        return f"_gb[{flat}]"

    def batch(self, out: Lines) -> None:
        """The rows ``_blo:_bhi``: ``_total`` gets their loss sum and ``_gb`` their gradient
        sum (row ``r`` is sample ``_orders[_row, r]`` when shuffling).

        Each gradient entry is summed in a local over the samples and stored once. The
        per-sample loop always runs the backward statements too: a branch on ``_want``
        inside it made seed 002's 3000 steps 2.5x slower (LLVM does not unswitch it),
        and a second copy of the loop for the loss alone would double the code Numba
        compiles; a loss-only evaluation of a scalar model is cheap anyway. A small
        program gets one loop for shuffled and one for ordered batches (the branch on
        ``_shuffle`` costs 6% on seed 002), a large one a single loop.
        """
        program = self.program
        self._bind_params(out)
        entries = [(name, index, expr) for name, index, expr in program.gradients if expr != 0]
        if len(entries) < self.layout.size:  # some entries stay zero
            out("for _j in range(_gb.shape[0]):")
            with out.indent():
                out(f"_gb[_j] = {self.lit(0.0)}")
        out(f"_total = {self.lit(0.0)}")
        for k in range(len(entries)):
            out(f"_g{k} = {self.lit(0.0)}")
        if len(program.statements) + len(entries) <= SPLIT_LIMIT:
            out("if _shuffle:")
            with out.indent():
                self._sample_loop(out, entries, "_orders[_row, _r]")
            out("else:")
            with out.indent():
                self._sample_loop(out, entries, "_r")
        else:
            self._sample_loop(out, entries, "_orders[_row, _r] if _shuffle else _r")
        for k, (name, index, _) in enumerate(entries):
            out(f"{self._grad_target(name, index)} = _g{k}")

    def _sample_loop(self, out: Lines, entries: list, sample: str) -> None:
        """The loop over the batch's rows: forward, loss, adjoints, gradient sums."""
        program = self.program
        # forward: what the loss needs; then the adjoints and the values only they use
        forward = list(program.needed([program.loss]))
        needed = {t for t, _ in forward}
        backward = [(t, e) for t, e in program.statements if t not in needed]
        out("for _r in range(_blo, _bhi):")
        with out.indent():
            out(f"_s = {sample}")
            for name, read, leaf in self.leaves:
                if leaf.var.role not in SHARED_ROLES:
                    out(f"{name} = {read}")
            out("# forward")
            for target, expr in forward:
                out(f"{target.name} = {self.print(expr)}")
            out(f"_total += {self.print(program.loss)}")
            if backward:
                out("# reverse (adjoints)")
            for target, expr in backward:
                out(f"{target.name} = {self.print(expr)}")
            current = None
            for k, (name, _, expr) in enumerate(entries):
                if name != current:
                    out(f"# d loss / d {name}")
                    current = name
                out(f"_g{k} += {self.print(expr)}")

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
            out(
                '"""Loss, gradient, training and update of this model: see symbp.emit.scalar.kernel."""'
            )
            out(self.summary())
            out(f"_fit = _mode == {FIT}")
            out(f"_want = _mode != {LOSS}")
            out("_gb = np.empty_like(_theta)")
            self.bind(out)
            out("_per_epoch = (_hi + _batch - 1) // _batch")
            out("_items = _steps if _fit else (_hi - _lo + _batch - 1) // _batch")
            out("_done = _items")
            out("for _it in range(_items):")
            with out.indent():
                if self.rule is not None:
                    out(f"if _mode == {UPDATE}:")
                    with out.indent():
                        out("_t = _t0")
                        out(f"_count = {self.cast('_batch')}")
                        out("_src = _grad")
                    out("else:")
                    with out.indent():
                        self._batch_item(out)
                        out(f"_count = {self.cast('_bhi - _blo')}")
                        out("_src = _gb")
                    self.update(out)
                else:
                    self._batch_item(out)
                    out("return 0  # compiled without an optimizer: the runtime refuses to fit")
            if self.rule is not None:
                out("if _fit:  # _info[1]: the first non-finite parameter (-1: none)")
                with out.indent():
                    out("_info[1] = -1.0")
                    out("for _j in range(_theta.shape[0]):")
                    with out.indent():
                        out("if not math.isfinite(_theta[_j]):")
                        with out.indent():
                            out("_info[1] = _j")
                            out("break")
            out("return _done")

    def _batch_item(self, out: Lines) -> None:
        """Item ``_it``: a training step's batch, or a chunk of the rows ``_lo:_hi``."""
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
        hyper = {h: f"_hyper[{k}]" for k, h in enumerate(self.template.symbols)}  # type: ignore[union-attr]
        wide = self.printer("float64", {T: "np.float64(_t)", **hyper})
        earlier: dict[sp.Symbol, sp.Expr] = {LR: self.lr}  # the schedule, in float64 too
        for sym, expr in self.rule.scalars:
            full = expr.xreplace(earlier)
            earlier[sym] = full
            out(f"{names[sym]} = {self.cast(wide(full))}")

    def update(self, out: Lines) -> None:
        """One optimizer step of every element from the gradient sum ``_src`` of ``_count``
        samples at step ``_t``.

        In the fit mode the batch loss goes to ``_losses[_it]`` first, and a non-finite
        one stops the kernel before the update (the runtime checks the parameters).
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
        printer = self.printer(self.dtype, names)
        assert self.template is not None
        for k, h in enumerate(self.template.symbols):  # the optimizer's numbers, given at run time
            out(f"{h.name} = {self.cast(f'_hyper[{k}]')}")
        out(f"_tf = {self.cast('_t')}")
        out(f"_lr = {printer(self.lr)}")
        out("_info[0] = _lr  # the learning rate of the last step (for DivergenceError)")
        out(f"if _mode != {UPDATE}:")
        with out.indent():
            if self.reduction == "mean":
                out("_losses[_it] = _total / _count")
            else:
                out("_losses[_it] = _total")
            out("if not math.isfinite(_losses[_it]):")
            with out.indent():
                out("_done = _it")
                out("break")
        self._step_scalars(out, printer, names)
        out("for _j in range(_theta.shape[0]):")
        with out.indent():
            out("_p = _theta[_j]")
            g = "_src[_j]" if self.reduction == "sum" else "_src[_j] / _count"
            out(f"_g = {g}")
            for k, (sym, _) in enumerate(rule.state):
                out(f"{names[sym]} = _slots[{k}, _j]")
            for sym, expr in rule.updates:
                out(f"{names[sym]} = {printer(expr)}")
            for k, (sym, _) in enumerate(rule.state):
                out(f"_slots[{k}, _j] = {names[sym]}")
            out("_theta[_j] = _p")
