"""The Jacobian kernel of a scalar-level program: per sample, the entries and their rows.

``_jacobian(_theta, _val, _jac, _want, _lo, _hi, *data)`` writes, for every sample ``s``
of ``_lo:_hi``, its entries (a model's residuals, or an output's entries) into
``_val[s, :]`` and, when ``_want``, each entry's derivative by every parameter element
into ``_jac[s, k, :]`` (laid out as ``_theta``; the elements an entry does not depend on
are left as they are: the runtime passes zeros). One forward pass per sample serves
every row (:mod:`symbp.derive.jacobian`); the statements are named as the Hessian's are
(elements by their LaTeX names, the rest ``_t<k>``), written by the level's model writer.
"""

from __future__ import annotations

from ...simplify.program import JacobianProgram
from ..layout import DECORATOR, flat_index
from ..lines import Lines
from .kernel import SHARED, ScalarModelWriter


class ScalarJacobianWriter(ScalarModelWriter):
    """Writes the Jacobian kernel of one scalar-level :class:`JacobianProgram`."""

    program: JacobianProgram

    def __init__(self, program: JacobianProgram, dtype: str, *, function: str = "_jacobian"):
        super().__init__(program, dtype, None, function=function)

    def signature(self) -> list[str]:
        """The arguments of the Jacobian kernel."""
        return ["_theta", "_val", "_jac", "_want", "_lo", "_hi", *self.data]

    def write(self, out: Lines) -> None:
        """The kernel (see the module docstring)."""
        program = self.program
        params = {v.name: v for v in self.variables if v.role == "params"}
        forward = list(program.needed(program.values))
        done = {t for t, _ in forward}
        backward = [(t, e) for t, e in program.statements if t not in done]
        out(DECORATOR)
        out(f"def {self.function}({', '.join(self.signature())}):")
        with out.indent():
            out(
                '"""Each sample s of _lo:_hi: its entries into _val[s] and, when _want, '
                'their derivatives by the parameters into _jac[s]."""'
            )
            for name, read, leaf in self.leaves:
                if leaf.var.role in SHARED:
                    out(f"{name} = {read}")
            out("for _s in range(_lo, _hi):")
            with out.indent():
                for name, read, leaf in self.leaves:
                    if leaf.var.role not in SHARED:
                        out(f"{name} = {read}")
                for target, expr in forward:
                    self.statement(out, target, expr)
                for k, value in enumerate(program.values):
                    out(f"_val[_s, {k}] = {self.print(value)}")
                rows = [
                    (k, name, index, expr)
                    for k, row in enumerate(program.rows)
                    for name, index, expr in row
                    if expr != 0
                ]
                if not rows:
                    return
                out("if _want:")
                with out.indent():
                    for target, expr in backward:
                        self.statement(out, target, expr)
                    for k, name, index, expr in rows:
                        flat = flat_index(params[name], index, self.layout.offsets[name])
                        out(f"_jac[_s, {k}, {flat}] = {self.print(expr)}")
