"""The driver of a module's model function: ``_kernel``, every mode in one compiled function.

Every operation on a model runs through this one function, so Numba compiles it (and
the model function it calls) once, at the first ``fit``, ``loss`` or ``grad``, and every
later operation reuses the compiled code (MEASUREMENTS.md: each separately jitted entry
point costs seconds of compilation)::

    _kernel(_mode, _theta, _slots, _grad, _t0, _steps, _batch, _lo, _hi, _losses, _info,
            _hyper, *data)

* ``_mode`` :data:`LOSS` / :data:`GRAD`: the rows ``_lo:_hi`` of the data in batches of
  ``_batch``: ``_losses[0]`` gets the sum of their per-sample losses and, for
  :data:`GRAD`, ``_grad`` their gradient sums added;
* :data:`FIT`: ``_steps`` optimizer steps from the step counter ``_t0`` on the rows
  ``0:_hi`` in minibatches of ``_batch`` (step ``t`` takes the chunk ``t mod
  ceil(_hi / _batch)``; a shuffled fit passes each epoch's permutation of the data, see
  :func:`symbp.runtime.fit.fit_steps`), updating ``_theta`` and ``_slots`` in place
  and recording each batch loss in ``_losses``. It
  returns the number of steps done: fewer than ``_steps`` when a batch loss is not
  finite (the kernel stops before that update). ``_info[0]`` holds the last step's
  learning rate, ``_info[1]`` the flat index of the first non-finite parameter at the
  end (-1 when all are finite);
* :data:`UPDATE`: one optimizer step at step ``_t0`` from the gradient sum ``_grad`` of
  ``_batch`` samples (for data-parallel training, where the gradient is reduced
  elsewhere).

The model's own lines are the level's model function (``loss_and_grad``, written by
:mod:`symbp.emit.scalar.kernel` or :mod:`symbp.emit.matrix.kernel`); this module writes
what is the same at both levels, the machinery (its names start with ``_``), and the
optimizer's update, which reads like the update equations ``model.latex(optimizer=...)``
prints (``p = p - g*lr``). The optimizer's numbers (its learning-rate schedule's and
rule's constants, :class:`symbp.optim.base.Template`) arrive in ``_hyper``, so one
compiled kernel serves every learning rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import sympy as sp

from ..declare.variables import Variable
from ..optim.base import LR, G, P, Template
from ..runtime.spec import FIT, GRAD, LOSS, UPDATE  # the modes: the runtime's protocol
from ..schedules import T
from .layout import DECORATOR, data_argument, write_batch_end, write_workspace
from .lines import Lines
from .printer import make_printer

FIXED_ARGS = (
    "_mode",
    "_theta",
    "_slots",
    "_grad",
    "_t0",
    "_steps",
    "_batch",
    "_lo",
    "_hi",
    "_losses",
    "_info",
    "_hyper",
)


class ModelWriter(Protocol):
    """What the driver needs of a level's model-function writer."""

    function: str

    def workspace(self) -> tuple[int, int]:
        """``(fixed, per_sample)`` elements of workspace of a batch."""

    def helpers(self) -> set[str]:
        """The helper functions its code calls."""

    def constants(self) -> dict[str, str]:
        """The module-level constant arrays its code reads: name -> definition."""


class DriverWriter:
    """Writes ``_kernel`` around a model function for one precision and update rule.

    ``numbers``: the optimizer's numbers are known (a module generated with them): each
    constant's line says its value.
    """

    def __init__(
        self,
        model: ModelWriter,
        data: list[Variable],
        template: Template | None,
        dtype: str,
        reduction: str,
        *,
        numbers: bool = False,
    ):
        self.model = model
        self.data = data
        self.template = template
        self.rule = template.rule if template is not None else None
        self.lr = template.lr if template is not None else sp.Float(0.0)
        self.dtype = dtype
        self.reduction = reduction
        self.numbers = numbers
        self.printers: list[Any] = []

    def printer(self, dtype: str, names: Mapping[sp.Basic, str]) -> Callable[[sp.Basic], str]:
        """A printer for the update's code (its helpers are recorded)."""
        printer = make_printer(dtype, names)
        self.printers.append(printer)
        return printer  # type: ignore[no-any-return]

    def helpers(self) -> set[str]:
        """The helper functions the driver's code calls."""
        return set().union(*(p.helpers for p in self.printers))

    def cast(self, text: str) -> str:
        """Convert an integer expression to the kernel precision."""
        return f"np.{self.dtype}({text})"

    # -- the kernel ---------------------------------------------------------------------
    def write(self, out: Lines) -> None:
        """The one compiled entry point (see the module docstring)."""
        data = [data_argument(v) for v in self.data]
        out(DECORATOR)
        out(f"def _kernel({', '.join([*FIXED_ARGS, *data])}):")
        with out.indent():
            out(
                f'"""Runs {self.model.function} in every mode: the loss ({LOSS}) and gradient '
                f"({GRAD}) sums over the samples _lo:_hi, training ({FIT}), one update ({UPDATE}); "
                'see symbp.emit.driver."""'
            )
            out(f"_fit = _mode == {FIT}")
            out(f"_want = _mode != {LOSS}")
            out("_gb = np.empty_like(_theta)")
            write_workspace(out, *self.model.workspace(), self.dtype, "_batch")
            out("_per_epoch = (_hi + _batch - 1) // _batch")
            out("_items = _steps if _fit else (_hi - _lo + _batch - 1) // _batch")
            out("_done = _items")
            out("for _it in range(_items):")
            with out.indent():
                if self.rule is not None:
                    out(f"if _mode == {UPDATE}:  # one step from the gradient sum in _grad")
                    with out.indent():
                        out("_t = _t0")
                        out(f"_count = {self.cast('_batch')}")
                        out("_g_sum = _grad")
                    out("else:")
                    with out.indent():
                        self._batch_item(out, data)
                        out(f"_count = {self.cast('_last - _first')}")
                        out("_g_sum = _gb")
                    self.update(out)
                else:
                    self._batch_item(out, data)
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

    def _batch_item(self, out: Lines, data: list[str]) -> None:
        """Item ``_it``: a training step's batch, or a batch of the rows ``_lo:_hi``."""
        out("if _fit:")
        with out.indent():
            out("_t = _t0 + _it")
            out("_first = (_t % _per_epoch) * _batch")
        out("else:")
        with out.indent():
            out("_t = 0")
            out("_first = _lo + _it * _batch")
        write_batch_end(out, "_batch")
        args = ["_theta", "_gb", "_work", "_want", "_first", "_last", *data]
        out(f"_total = {self.model.function}({', '.join(args)})")
        out("if not _fit:")
        with out.indent():
            out("_losses[0] += _total")
            out("if _want:")
            with out.indent():
                out("for _j in range(_gb.shape[0]):")
                with out.indent():
                    out("_grad[_j] += _gb[_j]")
            out("continue")

    # -- the optimizer's update ---------------------------------------------------------
    def _step_scalars(
        self, out: Lines, printer: Callable[[sp.Basic], str], names: Mapping[sp.Basic, str]
    ) -> None:
        """The rule's per-step scalars, evaluated in float64 and rounded once.

        torch computes them as Python floats (``1 - beta2**step`` loses four digits
        in float32 arithmetic when beta2 = 0.999), so a float32 kernel does the same.
        """
        assert self.rule is not None and self.template is not None
        if self.dtype == "float64":
            for sym, expr in self.rule.scalars:
                out(f"{names[sym]} = {printer(expr)}")
            return
        hyper = {h: f"_hyper[{k}]" for k, h in enumerate(self.template.symbols)}
        wide = self.printer("float64", {T: "np.float64(_t)", **hyper})
        earlier: dict[sp.Basic, sp.Basic] = {LR: self.lr}  # the schedule, in float64 too
        for sym, expr in self.rule.scalars:
            full = expr.xreplace(earlier)
            earlier[sym] = full
            out(f"{names[sym]} = {self.cast(wide(full))}")

    def update(self, out: Lines) -> None:
        """One optimizer step of every element from the gradient sum ``_g_sum`` of
        ``_count`` samples at step ``_t``, written like the rule's equations.

        In the fit mode the batch loss goes to ``_losses[_it]`` first, and a non-finite
        one stops the kernel before the update (the runtime checks the parameters).
        """
        rule, template = self.rule, self.template
        assert rule is not None and template is not None
        names: dict[sp.Basic, str] = {T: "t", LR: "lr", P: "p", G: "g"}
        for k, h in enumerate(template.symbols):
            names[h] = f"h{k}"
        for sym, _ in (*rule.state, *rule.scalars, *rule.updates):
            names.setdefault(sym, sym.name)
        printer = self.printer(self.dtype, names)
        out(
            "# the optimizer's step: for every parameter element p with its gradient g "
            "(model.latex(optimizer=...))"
        )
        for k, h in enumerate(template.symbols):  # the optimizer's numbers, given at run time
            known = f"  # {template.constants[k]!r}" if self.numbers else ""
            out(f"{names[h]} = {self.cast(f'_hyper[{k}]')}{known}")
        out(f"t = {self.cast('_t')}")
        out(f"lr = {printer(self.lr)}")
        out("_info[0] = lr  # the learning rate of the last step (for DivergenceError)")
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
            out("p = _theta[_j]")
            out("g = _g_sum[_j]" if self.reduction == "sum" else "g = _g_sum[_j] / _count")
            for k, (sym, _) in enumerate(rule.state):
                out(f"{names[sym]} = _slots[{k}, _j]")
            for sym, expr in rule.updates:
                out(f"{names[sym]} = {printer(expr)}")
            for k, (sym, _) in enumerate(rule.state):
                out(f"_slots[{k}, _j] = {names[sym]}")
            out("_theta[_j] = p")
