"""The kernel of a matrix-level model: the same entry point, batched inside.

``_kernel`` keeps the signature and modes of :mod:`symbp.emit.scalar.kernel` (so the
runtime's validation and drivers, the batching semantics, resumable state and the
optimizers' fused update loop are shared). Each batch's samples are the rows
``_blo:_bhi`` of the data (a slice, no copy) or, when shuffling, gathered into
buffers allocated once per call; the batch is computed with matrix products and fused
elementwise loops (:mod:`symbp.emit.matrix.lower`) in a workspace allocated once per call.

The kernel runs serially: a minibatch step is 10-200 us of work, less than waking
threads costs (MEASUREMENTS.md saw ``prange`` fall to 0.2x on the shared 2-core
machines), and ``parallel=True`` is the slowest thing Numba compiles. Large
evaluations run on several threads from the runtime instead (the kernel releases the
GIL), over a fixed partition of the rows, so the result does not depend on the thread
count.
"""

from __future__ import annotations

from ...optim.base import Template
from ...simplify.matrix import MatrixProgram
from ..lines import Lines
from ..scalar.kernel import KernelWriter
from . import vecmath  # noqa: F401  (registers the vectorizable tanh)
from .lower import BatchLowering, Value


class MatrixKernelWriter(KernelWriter):
    """Writes the kernel of a :class:`MatrixProgram`."""

    def __init__(
        self, program: MatrixProgram, template: Template | None, dtype: str, reduction: str
    ):
        super().__init__(program, template, dtype, reduction)
        self.lowering = BatchLowering(program, dtype)
        self.inputs: list[Value] = self.lowering.data

    def helpers(self) -> set[str]:
        return super().helpers() | self.lowering.print.helpers

    @property
    def blas(self) -> bool:
        return self.lowering.blas

    def chunk(self) -> int:
        """Samples per evaluation batch (BatchLowering.chunk: the workspace stays cache-sized)."""
        return self.lowering.chunk()

    def summary(self) -> str:
        fixed, per_sample = self.lowering.workspace()
        steps = len(self.program.statements)
        return f"# {steps} matrix statements; workspace {fixed} + {per_sample} per sample"

    def bind(self, out: Lines) -> None:
        out("_cap = max(1, min(_batch, _hi - _lo))")
        self.lowering.bind(out)
        for value in self.inputs:
            rows = "_cap if _shuffle else 0"
            out(
                f"_in_{value.name[3:]} = np.empty({value.storage_shape(rows)}, dtype=np.{self.dtype})"
            )

    def _copy_sample(self, out: Lines, value: Value) -> None:
        """Row ``_r`` of the gather buffer <- sample ``_s`` of the data."""
        name = value.name[3:]  # "_b_x" -> "x"
        if value.rows == 1 and value.cols == 1:
            out(f"_in_{name}[_r] = {name}[_s]")
        elif value.rows == 1 or value.cols == 1:
            out(f"for _c in range({value.size}):")
            with out.indent():
                out(f"_in_{name}[_r, _c] = {name}[_s, _c]")
        else:
            out(f"for _c in range({value.rows}):")
            with out.indent():
                out(f"for _e in range({value.cols}):")
                with out.indent():
                    out(f"_in_{name}[_r, _c, _e] = {name}[_s, _c, _e]")

    def batch(self, out: Lines) -> None:
        out("_nb = _bhi - _blo")
        if self.inputs:
            out("if _shuffle:")
            with out.indent():
                out("for _r in range(_nb):")
                with out.indent():
                    out("_s = _orders[_row, _blo + _r]")
                    for value in self.inputs:
                        self._copy_sample(out, value)
                for value in self.inputs:
                    out(f"{value.name} = _in_{value.name[3:]}[:_nb]")
            out("else:")
            with out.indent():
                for value in self.inputs:
                    out(f"{value.name} = {value.name[3:]}[_blo:_bhi]")
        self.lowering.forward(out)
        out("if _want:")
        with out.indent():
            self.lowering.backward(out)
