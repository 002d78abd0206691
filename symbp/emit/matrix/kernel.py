"""The model function of a matrix-level program: one batch, with matrix products and fused
elementwise loops, in the derivation's names.

``loss_and_grad(_theta, _grad, _work, _want, _lo, _hi, *data)`` takes the rows ``_lo:_hi``
of each data array as the batch (``x`` is the batch's rows of the input ``x``), reads the
parameters as views of ``_theta`` in their declared shapes, computes the forward pass
into the workspace ``_work`` (each quantity the LaTeX names is an array of its own:
``z1``, ``h1``) and returns the sum of the per-sample losses; when ``_want``, the
backward block assigns the sum of the per-sample gradients to the views of ``_grad``
(``W1_bar``, ...). The lowering is :mod:`symbp.emit.matrix.lower`; the driver around
it (modes, batches, shuffling, the optimizer's update) is :mod:`symbp.emit.driver`.

The function runs serially: a minibatch step is 10-200 us of work, less than waking
threads costs (MEASUREMENTS.md saw ``prange`` fall to 0.2x on the shared 2-core
machines), and ``parallel=True`` is the slowest thing Numba compiles. Large
evaluations run on several threads from the runtime instead (the kernel releases the
GIL), over a fixed partition of the rows, so the result does not depend on the thread
count.
"""

from __future__ import annotations

from ...explain.code import CodeNames
from ...simplify.matrix import MatrixProgram
from ..layout import DECORATOR, data_argument, data_variables
from ..lines import Lines
from . import vecmath  # noqa: F401  (registers the vectorizable tanh)
from .lower import BatchLowering


class LoweredWriter:
    """What every matrix-level writer reports of its :class:`BatchLowering` (``lowering``):
    the module-level constants, helpers and BLAS its code uses, its workspace and batch."""

    lowering: BatchLowering

    def constants(self) -> dict[str, str]:
        """The module-level constant arrays the code reads (explicit numeric matrices)."""
        return dict(self.lowering.constants)

    def helpers(self) -> set[str]:
        """The helper functions the written code calls."""
        return set(self.lowering.print.helpers)

    @property
    def blas(self) -> bool:
        """Whether the written code calls ``np.dot`` (BLAS, through SciPy)."""
        return self.lowering.blas

    def workspace(self) -> tuple[int, int]:
        """``(fixed, per_sample)``: a batch of ``n`` samples needs ``fixed + per_sample * n``."""
        return self.lowering.workspace()

    def chunk(self) -> int:
        """Samples per evaluation batch (BatchLowering.chunk: the workspace stays cache-sized)."""
        return self.lowering.chunk()


class MatrixModelWriter(LoweredWriter):
    """Writes the model function of one matrix-level program in one precision."""

    def __init__(
        self,
        program: MatrixProgram,
        dtype: str,
        names: CodeNames | None = None,
        *,
        function: str = "loss_and_grad",
    ):
        self.program = program
        self.dtype = dtype
        self.function = function
        code = names if names is not None else CodeNames()
        code.taken.add(function)
        self.lowering = BatchLowering(program, dtype, names=code)
        variables = program.derivation.variables
        self.data = [data_argument(v) for v in data_variables(variables)]
        self.shared = ["_theta"] + (
            ["_dir"] if any(v.role == "directions" for v in variables) else []
        )

    def signature(self) -> list[str]:
        """The arguments of the model function."""
        return [*self.shared, "_grad", "_work", "_want", "_lo", "_hi", *self.data]

    def write(self, out: Lines) -> None:
        """The model function (see the module docstring)."""
        lowering = self.lowering
        fixed, per_sample = lowering.workspace()
        out(DECORATOR)
        out(f"def {self.function}({', '.join(self.signature())}):")
        with out.indent():
            out(
                '"""The loss summed over the batch (rows _lo:_hi of the data; returned) and, '
                'when _want, its gradient, written to _grad."""'
            )
            steps = len(self.program.statements)
            out(f"# {steps} matrix statements; workspace {fixed} + {per_sample} per sample")
            out("_nb = _hi - _lo")
            lowering.views(out)
            out("# forward")
            lowering.forward(out)
            out("if _want:")
            with out.indent():
                out("# backward: the adjoints, in sweep order; the gradients summed over the batch")
                lowering.backward(out)
            out("return _total")
