"""The Jacobian kernel of a matrix-level program: per batch, the entries and their rows.

``_jacobian(_theta, _val, _jac, _want, _lo, _hi, *data)`` (the protocol of
:mod:`symbp.emit.scalar.jacobian`) runs ``jacobian_batch`` on batches of the rows
``_lo:_hi``. The batch is lowered as the loss's is (:mod:`symbp.emit.matrix.lower`:
fused elementwise loops, products, the workspace), except that nothing is summed over
the batch: every adjoint, and each entry's derivative by a whole parameter matrix, is
per sample, written straight into that sample's row of ``_jac`` (laid out as
``_theta``). The entries are element reads ``R[i, j]`` of matrix expressions, whose
adjoints are unit matrices: the matrices are never unrolled.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ...explain.code import CodeNames
from ...simplify.program import JacobianProgram
from ..layout import DECORATOR, data_argument, data_variables, write_batch_end, write_workspace
from ..lines import Lines
from .kernel import LoweredWriter
from .lower import BatchLowering
from .values import BATCHED, Value, terms_of


@dataclass(frozen=True)
class Out(Value):
    """Where a kernel writes one value of each sample: ``_val[_lo + _b, k]``, or a
    parameter's block of a row, ``_jac[_lo + _b, k, offset + i * cols + j]``."""

    head: str = ""
    offset: int = 0

    def access(self, i: str, j: str) -> str:
        index = [f"{self.offset}" if self.offset or self.size == 1 else ""]
        if self.rows > 1:
            index.append(f"{i} * {self.cols}" if self.cols > 1 else i)
        if self.cols > 1:
            index.append(j)
        flat = " + ".join(part for part in index if part)
        return f"{self.head}{flat}]"


class JacobianLowering(BatchLowering):
    """Lowers a :class:`JacobianProgram` into the code of one batch (see the module docstring)."""

    program: JacobianProgram

    def _lower(self) -> None:
        program = self.program
        self.gradients: list[tuple[Value, int]] = []
        forward = program.needed(program.values)
        self.segments = self.forward_code
        for target, expr in forward:
            self._statement(target, expr)
        for k, value in enumerate(program.values):
            out = Out("_val", 1, 1, BATCHED, "out", head="_val[_lo + _b, ", offset=k)
            self.elementwise(out, [value], first=True, reduce=False)
        self.segments = self.backward_code
        done = {t for t, _ in forward}
        for target, expr in program.statements:
            if target not in done:
                self._statement(target, expr)
        for k, row in enumerate(program.rows):
            for (param, offset), (_, _, expr) in zip(self.params, row, strict=True):
                if expr == 0 or isinstance(expr, sp.ZeroMatrix):
                    continue
                head = f"_jac[_lo + _b, {k}, "
                name = f"d value{k}/d {param.name}"  # (the comment's left-hand side)
                out = Out(name, param.rows, param.cols, BATCHED, "out", head=head, offset=offset)
                self.comment(out, expr)
                self.elementwise(out, list(terms_of(expr)), first=True, reduce=False)


class MatrixJacobianWriter(LoweredWriter):
    """Writes the Jacobian kernel of one matrix-level :class:`JacobianProgram`."""

    def __init__(self, program: JacobianProgram, dtype: str, *, function: str = "_jacobian"):
        self.program = program
        self.dtype = dtype
        self.function = function
        self.lowering = JacobianLowering(program, dtype, names=CodeNames())  # type: ignore[arg-type]
        self.data = [data_argument(v) for v in data_variables(program.derivation.variables)]

    def write(self, out: Lines) -> None:
        """``jacobian_batch`` (one batch) and the kernel that runs it on every batch."""
        lowering = self.lowering
        fixed, per_sample = lowering.workspace()
        chunk = lowering.chunk()
        batch = ["_theta", "_val", "_jac", "_work", "_want", "_lo", "_hi", *self.data]
        out(DECORATOR)
        out(f"def jacobian_batch({', '.join(batch)}):")
        with out.indent():
            out('"""The rows _lo:_hi as one batch: see _jacobian."""')
            out(f"# {len(self.program.statements)} matrix statements; workspace {fixed} + "
                f"{per_sample} per sample")  # fmt: skip
            out("_nb = _hi - _lo")
            lowering.views(out)
            lowering.forward(out)
            out("if _want:")
            with out.indent():
                lowering.backward(out)
            out("return 0")
        out.blank(2)
        args = ["_theta", "_val", "_jac", "_want", "_lo", "_hi", *self.data]
        out(DECORATOR)
        out(f"def {self.function}({', '.join(args)}):")
        with out.indent():
            out(
                '"""Each sample s of _lo:_hi: its entries into _val[s] and, when _want, '
                'their derivatives by the parameters into _jac[s] (in batches)."""'
            )
            write_workspace(out, fixed, per_sample, self.dtype, str(chunk))
            out(f"for _first in range(_lo, _hi, {chunk}):")
            with out.indent():
                write_batch_end(out, str(chunk))
                call = ["_theta", "_val", "_jac", "_work", "_want", "_first", "_last", *self.data]
                out(f"jacobian_batch({', '.join(call)})")
            out("return 0")
