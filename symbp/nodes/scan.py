"""A recurrence as one node of the graph: ``h_t = step(h_{t-1}, x_t)`` over the rows of a
sequence, and the node its reverse mode (backpropagation through time) hands each operand.

:class:`Scan` holds the step once, as a matrix expression of two kinds of placeholders
(bound like a Lambda's variable): the previous state ``_h`` (``1 x H``) and one row
``_x<k>`` (``1 x D_k``) of each sequence. Its value is the last state (``1 x H``) or, with
``return_all``, every state stacked (``T x H``). The kernels run it as a loop over ``t``,
so neither the derivation nor the compiled code grows with ``T``.

:class:`ScanGrad` is the cotangent a scan sends to its ``k``-th operand (the initial
state, a sequence, a parameter its step reads), given the scan's cotangent: the loop of
backpropagation through time, which the kernels run once for all operands.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from .graph import unique_nodes

#: the placeholder of the previous state in a step's expression
STATE = "_h"
#: the placeholders of the current rows of the sequences: ``_x0``, ``_x1``, ...
ROW = "_x"


class Scan(sp.MatrixExpr):  # type: ignore[misc]
    """``h_t = body(h_{t-1}, x_t)`` for ``t = 1..T`` from ``h_0 = init``.

    ``args``: ``(body, state, rows, init, sequences, return_all)``: the step's expression,
    its state placeholder, a Tuple of its row placeholders, the initial state, a Tuple
    of the ``T x D_k`` sequences, and ``sp.true`` for every state (``T x H``) or
    ``sp.false`` for the last one (``1 x H``).
    """

    def __new__(
        cls,
        body: Any,
        state: sp.MatrixSymbol,
        rows: Any,
        init: Any,
        sequences: Any,
        return_all: Any,
    ) -> Scan:
        args = (sp.sympify(body), state, sp.Tuple(*rows), sp.sympify(init))
        args += (sp.Tuple(*sequences), sp.true if bool(return_all) else sp.false)
        return sp.Basic.__new__(cls, *args)  # type: ignore[no-any-return]

    @property
    def body(self) -> sp.MatrixExpr:
        """The step's expression (in the placeholders)."""
        return self.args[0]

    @property
    def state(self) -> sp.MatrixSymbol:
        """The placeholder of the previous state."""
        return self.args[1]

    @property
    def row_symbols(self) -> tuple[sp.MatrixSymbol, ...]:
        """The placeholders of the sequences' current rows."""
        return tuple(self.args[2])

    @property
    def init(self) -> sp.MatrixExpr:
        """The initial state ``h_0``."""
        return self.args[3]

    @property
    def sequences(self) -> tuple[sp.MatrixExpr, ...]:
        """The ``T x D_k`` sequences, one row per step."""
        return tuple(self.args[4])

    @property
    def return_all(self) -> bool:
        """Whether the value is every state (``T x H``) rather than the last."""
        return bool(self.args[5])

    @property
    def steps(self) -> int:
        """``T``, the number of steps."""
        return int(self.sequences[0].shape[0])

    @property
    def width(self) -> int:
        """``H``, the state's length."""
        return int(self.init.shape[1])

    @property
    def shape(self) -> tuple[Any, Any]:
        return (sp.Integer(self.steps) if self.return_all else sp.S.One, sp.Integer(self.width))

    @property
    def bound(self) -> set[sp.Basic]:
        """The placeholders (bound in the body, not free symbols of the model)."""
        return {self.state, *self.row_symbols}

    def params(self) -> list[sp.Basic]:
        """The free symbols of the step (parameters, inputs), in a fixed order."""
        free = self.body.free_symbols - self.bound
        return sorted(free, key=sp.default_sort_key)

    def operands(self) -> list[sp.Basic]:
        """What the scan is computed from: the initial state, the sequences, then the
        free symbols of the step (the order of :class:`ScanGrad`'s ``k``)."""
        return [self.init, *self.sequences, *self.params()]

    @property
    def free_symbols(self) -> set[sp.Basic]:
        found: set[sp.Basic] = set(self.body.free_symbols - self.bound)
        for operand in (self.init, *self.sequences):
            found |= operand.free_symbols
        return found

    def _entry(self, i: Any, j: Any, **kwargs: Any) -> sp.Expr:
        raise TypeError(
            "a Scan is a loop, not an explicit matrix: it is compiled at matrix level "
            "and never unrolled to its elements"
        )

    def _sympystr(self, printer: Any) -> str:
        which = "all" if self.return_all else "last"
        seqs = ", ".join(printer._print(s) for s in self.sequences)
        return (
            f"scan[{which}]({printer._print(self.state)} -> {printer._print(self.body)}, "
            f"init={printer._print(self.init)}, over=({seqs}))"
        )


class ScanGrad(sp.MatrixExpr):  # type: ignore[misc]
    """The cotangent a scan sends to its ``k``-th operand (:meth:`Scan.operands`).

    ``args``: ``(scan, out, out_bar, k)``: the scan as the sweep wrote it (operands
    replaced by their step symbols), its own step symbol (its states are stored), its
    adjoint and ``k``. The kernels compute every operand's cotangent of one
    ``(scan, out_bar)`` in one backward loop over ``t``.
    """

    def __new__(cls, scan: Scan, out: sp.Basic, out_bar: sp.Basic, k: int) -> ScanGrad:
        return sp.Basic.__new__(cls, scan, out, out_bar, sp.Integer(k))  # type: ignore[no-any-return]

    @property
    def scan(self) -> Scan:
        """The scan."""
        return self.args[0]

    @property
    def out(self) -> sp.Basic:
        """The scan's step symbol (its value)."""
        return self.args[1]

    @property
    def out_bar(self) -> sp.Basic:
        """The scan's adjoint."""
        return self.args[2]

    @property
    def k(self) -> int:
        """Which operand this is the cotangent of."""
        return int(self.args[3])

    @property
    def operand(self) -> sp.Basic:
        """The operand itself."""
        return self.scan.operands()[self.k]

    @property
    def shape(self) -> tuple[Any, Any]:
        operand = self.operand
        return operand.shape if isinstance(operand, sp.MatrixExpr) else (sp.S.One, sp.S.One)

    @property
    def free_symbols(self) -> set[sp.Basic]:
        return self.scan.free_symbols | self.out.free_symbols | self.out_bar.free_symbols

    def _sympystr(self, printer: Any) -> str:
        return f"bptt[{self.k}]({printer._print(self.out)}, {printer._print(self.out_bar)})"


def scans_in(expr: sp.Basic) -> list[Scan]:
    """The scans of ``expr`` (walking the shared graph once)."""
    return [n for n in unique_nodes(expr) if isinstance(n, Scan)]
