"""Output program -> ``_predict`` at matrix level: the outputs of batches of samples.

The same lowering as the loss (:mod:`symbp.emit.matrix.lower`): each output is assigned, for
a batch of ``_nb`` samples, into its rows of the output array (``np.dot`` writes a layer
straight into them). The signature and storage layout are those of
:mod:`symbp.emit.scalar.predict`.
"""

from __future__ import annotations

from ...simplify.matrix import MatrixProgram
from ...simplify.program import OutputProgram
from ..layout import DECORATOR, write_batch_end, write_workspace
from ..lines import Lines
from ..scalar.predict import output_names
from .kernel import LoweredWriter
from .lower import BATCHED, BatchLowering, Value


class OutputLowering(BatchLowering):
    """The forward code of a model's outputs, written into the output arrays."""

    def __init__(self, outputs: OutputProgram, dtype: str):
        self.outputs = outputs
        program = outputs.program
        assert isinstance(program, MatrixProgram)
        super().__init__(program, dtype, with_grad=False)

    def _lower(self) -> None:
        values = [v[0] for v in self.outputs.values]
        self.segments = self.forward_code
        for target, expr in self.program.needed(values):
            self._statement(target, expr)
        for k, (output, value) in enumerate(zip(self.outputs.outputs, values, strict=True)):
            rows, cols = output.shape if output.shape else (1, 1)
            self.assign(Value(f"_b_o{k}", rows, cols, BATCHED, "data"), value)


class MatrixPredictWriter(LoweredWriter):
    """Writes ``_predict`` for the outputs of a matrix-level model."""

    def __init__(self, outputs: OutputProgram, dtype: str):
        self.outputs = outputs
        self.lowering = OutputLowering(outputs, dtype)

    def write(self, out: Lines) -> None:
        """The ``_predict`` function."""
        lowering = self.lowering
        outs = output_names(len(self.outputs.outputs))
        inputs = [argument for _, argument in lowering.data]
        fixed, per_sample = lowering.workspace()
        out(DECORATOR)
        out(f"def _predict({', '.join(['_theta', '_lo', '_hi', '_batch', *outs, *inputs])}):")
        with out.indent():
            out('"""The outputs of the samples _lo:_hi (see symbp.emit.matrix.predict)."""')
            write_workspace(out, fixed, per_sample, lowering.dtype, "_batch")
            out("for _it in range((_hi - _lo + _batch - 1) // _batch):")
            with out.indent():
                out("_first = _lo + _it * _batch")
                write_batch_end(out, "_batch")
                out("_nb = _last - _first")
                for name in outs:  # "_o0" -> "_b_o0": the batch's rows of the output
                    out(f"_b{name} = {name}[_first:_last]")
                lowering.views(out, "_first", "_last")
                lowering.forward(out)
            out("return _hi - _lo")
