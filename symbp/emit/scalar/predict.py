"""Output program -> ``_predict``, the kernel that evaluates a model's outputs (scalar level).

``_predict(_theta, _lo, _hi, _batch, _o0, _o1, ..., *inputs)`` writes, for every sample
``s`` of ``_lo:_hi``, output ``k`` into ``_o<k>[s]`` (``(n,)`` for a scalar, ``(n, k)``
for a row or column vector, ``(n, r, c)`` for a matrix, as the data's storage layout).
It is a function of its own, compiled the first time ``predict`` is called: a model
that is only trained never pays for it. The elements are named as in the model
function (:mod:`symbp.emit.scalar.kernel`). The matrix-level writer is
:mod:`symbp.emit.matrix.predict`.
"""

from __future__ import annotations

from ...simplify.program import OutputProgram
from ..layout import DECORATOR, sample_index
from ..lines import Lines
from .kernel import SHARED, ScalarModelWriter


def output_names(count: int) -> list[str]:
    """The kernel arguments that receive the outputs."""
    return [f"_o{k}" for k in range(count)]


def output_indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every entry of an output, row-major (``[()]`` for a scalar)."""
    if not shape:
        return [()]
    rows, cols = shape
    return [(i, j) for i in range(rows) for j in range(cols)]


class PredictWriter:
    """Writes ``_predict`` for the outputs of a scalar-level model."""

    def __init__(self, outputs: OutputProgram, dtype: str):
        self.outputs = outputs
        # the model writer knows the leaves, their reads and the printer
        self.base = ScalarModelWriter(outputs.program, dtype, function="_predict")

    def chunk(self) -> int:
        """Samples per call when the runtime splits a large prediction."""
        return 256

    def constants(self) -> dict[str, str]:
        """The module-level constant arrays the code reads (none: constants are literals)."""
        return {}

    def helpers(self) -> set[str]:
        """The helper functions the written code calls."""
        return self.base.helpers()

    @property
    def blas(self) -> bool:
        """Straight-line code multiplies no matrices."""
        return False

    def write(self, out: Lines) -> None:
        """The ``_predict`` function."""
        base, outs = self.base, output_names(len(self.outputs.outputs))
        args = ["_theta", "_lo", "_hi", "_batch", *outs, *base.data]
        out(DECORATOR)
        out(f"def _predict({', '.join(args)}):")
        with out.indent():
            out('"""The outputs of the samples _lo:_hi (see symbp.emit.scalar.predict)."""')
            for name, read, leaf in base.leaves:
                if leaf.var.role in SHARED:
                    out(f"{name} = {read}")
            out("for _s in range(_lo, _hi):")
            with out.indent():
                for name, read, leaf in base.leaves:
                    if leaf.var.role not in SHARED:
                        out(f"{name} = {read}")
                for target, expr in base.program.statements:
                    base.statement(out, target, expr)
                for k, (output, values) in enumerate(
                    zip(self.outputs.outputs, self.outputs.values, strict=True)
                ):
                    indices = output_indices(output.shape)
                    for index, value in zip(indices, values, strict=True):
                        place = sample_index(output.shape, index)
                        out(f"{outs[k]}[_s{place}] = {base.print(value)}")
            out("return _hi - _lo")
