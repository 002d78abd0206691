"""The kernels of a matrix-level model: the same three entry points, batched inside.

``_loss_kernel``, ``_grad_kernel`` and ``_fit_kernel`` keep the signatures of
:mod:`symbp.emit.kernel` (so the runtime's validation and drivers, the batching
semantics, resumable state and the optimizers' fused update loop are shared). Inside,
they gather each batch's samples into contiguous arrays and call one batch function
(``_loss_batch`` / ``_grad_batch``, see :mod:`symbp.matrix.lower`) that computes the
whole batch with matrix products and fused elementwise loops.

* ``_fit_kernel`` allocates its workspace once per fit, for the largest batch, and
  without shuffling passes row slices of the data (no copy at all). It runs serially:
  a minibatch step is 10-200 us of work, less than waking threads costs, and
  MEASUREMENTS.md saw ``prange`` fall to 0.2x on the shared 2-core machines.
* ``_loss_kernel`` and ``_grad_kernel`` (evaluation over any number of samples) cut
  the samples into chunks of :data:`CHUNK` and run groups of chunks in a ``prange``
  with per-group partial sums added in order afterwards: the full-data gradient of
  the 64-512-10 digits MLP (1500 samples) took 5.3 ms instead of 9.5 ms on 2 threads,
  and the result does not depend on the thread count.
"""

from __future__ import annotations

import sympy as sp

from ..emit.kernel import KernelWriter
from ..emit.lines import Lines
from ..optim.base import UpdateRule
from .lower import BatchLowering, Value
from .program import MatrixProgram
from .vecmath import PARALLEL_DECORATOR, helpers_for

#: Samples per call of the batch function when evaluating loss or gradient.
CHUNK = 256
#: At most this many chunk groups run in parallel (a constant, for determinism).
GROUPS = 8


class MatrixKernelWriter(KernelWriter):
    """Writes the kernels of a :class:`MatrixProgram`."""

    def __init__(
        self, program: MatrixProgram, rule: UpdateRule, lr: sp.Expr, dtype: str, reduction: str
    ):
        super().__init__(program, rule, lr, dtype, reduction)
        self.loss_batch = BatchLowering(program, dtype, with_grad=False)
        self.grad_batch = BatchLowering(program, dtype, with_grad=True)
        self.inputs: list[Value] = self.grad_batch.data
        self.shapes = {v.name: v.shape for v in program.derivation.variables}

    # -- helpers -----------------------------------------------------------------------
    def _workspace(self, lowering: BatchLowering, cap: str) -> str:
        fixed, per_sample = lowering.workspace()
        return f"np.empty({fixed} + {per_sample} * {cap}, dtype=np.{self.dtype})"

    def _gather_buffers(self, out: Lines, cap: str) -> None:
        for value in self.inputs:
            shape = value.storage_shape(cap)
            out(f"_in_{value.name} = np.empty({shape}, dtype=np.{self.dtype})")

    def _gather(self, out: Lines, index: str) -> None:
        """Copy the sample ``index`` into row ``_r`` of the gather buffers."""
        for value in self.inputs:
            src = self._sample(value, index)
            out(f"_in_{value.name}[_r] = {src}")

    def _sample(self, value: Value, index: str) -> str:
        """One sample of a data array as the runtime lays it out, ``(n, *declared shape)``."""
        if not self.shapes[value.name]:
            return f"{value.name}[{index}]"
        if value.rows == 1 and value.cols == 1:
            return f"{value.name}[{index}, 0, 0]"
        if value.rows == 1:
            return f"{value.name}[{index}, 0]"
        if value.cols == 1:
            return f"{value.name}[{index}, :, 0]"
        return f"{value.name}[{index}]"

    # -- kernels --------------------------------------------------------------------
    def loss_kernel(self, out: Lines) -> None:
        """Helpers, the batch function, and the sum of per-sample losses over ``_idx[_lo:_hi]``."""
        for helper in helpers_for(self.loss_batch.body.text() + self.grad_batch.body.text()):
            out(*helper.rstrip("\n").splitlines())
            out.blank(2)
        self.loss_batch.write(out, "_loss_batch", "Sum of the per-sample losses of one batch.")
        out.blank(2)
        self._chunked(out, "_loss_kernel", self.loss_batch, with_grad=False)

    def grad_kernel(self, out: Lines) -> None:
        """The batch function, and loss and gradient sums over ``_idx[_lo:_hi]``."""
        self.grad_batch.write(
            out,
            "_grad_batch",
            "Sum of the per-sample losses of one batch; assigns their gradient sum to _grad.",
        )
        out.blank(2)
        self._chunked(out, "_grad_kernel", self.grad_batch, with_grad=True)

    def _chunked(self, out: Lines, name: str, lowering: BatchLowering, *, with_grad: bool) -> None:
        """Loss (and gradient) sums over ``_idx[_lo:_hi]``, in parallel chunks.

        The samples are cut into chunks of up to :data:`CHUNK` and the chunks into at
        most :data:`GROUPS` contiguous groups, one ``prange`` iteration each, with its
        own workspace and partial sums; the partial sums are added in group order.
        Both cuts depend only on the sample count, so the result is the same for any
        number of threads.
        """
        fixed = ["_theta", "_idx", "_lo", "_hi"] + (["_grad"] if with_grad else [])
        out(PARALLEL_DECORATOR)
        out(self._signature(name, fixed))
        with out.indent():
            what = "; adds their gradients to _grad" if with_grad else ""
            out(f'"""Sum of the per-sample losses of the samples _idx[_lo:_hi]{what}."""')
            out(f"_cap = max(1, min(_hi - _lo, {CHUNK}))")
            out("_chunks = (_hi - _lo + _cap - 1) // _cap")
            out(f"_groups = min(_chunks, {GROUPS})")
            out(f"_totals = np.zeros(_groups, dtype=np.{self.dtype})")
            if with_grad:
                out(f"_parts = np.zeros((_groups, _grad.shape[0]), dtype=np.{self.dtype})")
            out("for _g in numba.prange(_groups):")
            with out.indent():
                out(f"_ws = {self._workspace(lowering, '_cap')}")
                if with_grad:
                    out("_part = np.empty_like(_grad)")
                self._gather_buffers(out, "_cap")
                out("for _c in range(_g * _chunks // _groups, (_g + 1) * _chunks // _groups):")
                with out.indent():
                    out("_start = _lo + _c * _cap")
                    out("_nb = min(_cap, _hi - _start)")
                    if self.inputs:
                        out("for _r in range(_nb):")
                        with out.indent():
                            self._gather(out, "_idx[_start + _r]")
                    batch = [f"_in_{v.name}[:_nb]" for v in self.inputs]
                    call = "_grad_batch" if with_grad else "_loss_batch"
                    args = ["_theta", "_part"] if with_grad else ["_theta"]
                    out(
                        f"_totals[_g] += {call}({', '.join([*args, '_ws', '_cap', '_nb', *batch])})"
                    )
                    if with_grad:
                        out("for _j in range(_grad.shape[0]):")
                        with out.indent():
                            out("_parts[_g, _j] += _part[_j]")
            out(f"_total = {self.lit(0.0)}")
            out("for _g in range(_groups):")
            with out.indent():
                out("_total += _totals[_g]")
                if with_grad:
                    out("for _j in range(_grad.shape[0]):")
                    with out.indent():
                        out("_grad[_j] += _parts[_g, _j]")
            out("return _total")

    # -- fit kernel hooks -----------------------------------------------------------------
    def _fit_buffers(self, out: Lines) -> None:
        out("_grad = np.empty_like(_theta)")
        out("_cap = min(_batch, _n)")
        out(f"_ws = {self._workspace(self.grad_batch, '_cap')}")
        self._gather_buffers(out, "_cap")
        for value in self.inputs:
            shape = value.storage_shape(f"{value.name}.shape[0]")
            out(f"_all_{value.name} = {value.name}.reshape({shape})")

    def _fit_batch_gradient(self, out: Lines) -> None:
        out("_nb = _hi - _lo")
        if self.inputs:
            out("if _shuffle:")
            with out.indent():
                out("for _r in range(_nb):")
                with out.indent():
                    self._gather(out, "_orders[_row, _lo + _r]")
                for value in self.inputs:
                    out(f"_b_{value.name} = _in_{value.name}[:_nb]")
            out("else:")
            with out.indent():
                for value in self.inputs:
                    out(f"_b_{value.name} = _all_{value.name}[_lo:_hi]")
        batch = [f"_b_{v.name}" for v in self.inputs]
        args = ["_theta", "_grad", "_ws", "_cap", "_nb", *batch]
        out(f"_total = _grad_batch({', '.join(args)})")
