"""Scans in batched kernels: the recurrence and backpropagation through time as loops over ``t``.

A :class:`~symbp.nodes.scan.Scan` is lowered to one ``for _t in range(T)`` loop whose body
is the step's forward program (:mod:`symbp.simplify.scan`), lowered like any other
statements (products, fused elementwise loops over the batch); the states are kept in
one step-major array ``S`` (``S[0]`` the initial state, ``S[t]`` the batch's state after
step ``t``), so the backward loop reads them back. The cotangents a scan sends to its
operands (:class:`~symbp.nodes.scan.ScanGrad`) come from one loop back over ``t``: the
step's adjoint program with ``G = \\bar h_t``, the parameters' gradients added up over the
steps (and the batch), each sequence's cotangent written row by row, and
``\\bar h_{t-1}`` carried to the previous step. The loops' code is written once, so
neither the kernel nor its compile time grows with ``T``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sympy as sp

from ...nodes.scan import Scan, ScanGrad
from ...simplify.program import rewrite_dead_code
from ...simplify.scan import ScanStep, scan_step
from .fusion import Segments
from .values import BATCHED, SHARED, SUMMED, Value, loop_index


class ScanLowering:
    """The scan part of :class:`symbp.emit.matrix.lower.BatchLowering` (a mixin)."""

    values: dict[sp.Basic, Value]
    computed: dict[sp.Basic, sp.Basic]
    segments: Segments
    body: Any
    program: Any
    code: Any
    aliases: list[str]
    temps: list[Value]

    def _scan_setup(self) -> None:
        #: a scan's step symbol -> (its step program, its states)
        self.scans: dict[sp.Basic, tuple[ScanStep, Value]] = {}

    # provided by BatchLowering
    def kind_of(self, expr: sp.Basic) -> str: ...  # pragma: no cover
    def materialize(self, expr: sp.Basic) -> sp.Basic: ...  # pragma: no cover
    def assign(self, target: Value, expr: sp.Basic) -> None: ...  # pragma: no cover
    def accumulate(
        self, target: Value, expr: sp.Basic, first: bool = True
    ) -> None: ...  # pragma: no cover
    def zero(self, target: Value) -> None: ...  # pragma: no cover
    def temp(self, rows: int, cols: int, kind: str) -> sp.Basic: ...  # pragma: no cover
    def plain_code(self) -> Any: ...  # pragma: no cover
    def _loops(self, *ranges: Any, reduces: str | None = None) -> Any: ...  # pragma: no cover
    def _statement(
        self, target: sp.Basic, expr: sp.Basic, summed: bool | None = None
    ) -> None: ...  # pragma: no cover
    def _next(self) -> int: ...  # pragma: no cover

    # -- helpers ---------------------------------------------------------------------------
    def _step_program(self, scan: Scan) -> ScanStep:
        variables = self.program.derivation.variables
        data = frozenset(v.symbol for v in variables if v.role in ("inputs", "targets"))
        return scan_step(scan, f"s{len(self.scans)}", data)

    def _scan_kind(self, scan: Scan) -> str:
        return BATCHED if self.kind_of(scan) == BATCHED else SHARED

    def _step_value(self, name: str, cols: int, kind: str) -> Value:
        """A per-step value bound in the loop (a view of a stack entry)."""
        return Value(name, 1, cols, BATCHED if kind == BATCHED else SHARED, "temp")

    @contextmanager
    def _loop_body(self) -> Iterator[Segments]:
        """Lower into a fresh block (the body of a loop over ``t``); what it computes is
        forgotten afterwards (it changes every step)."""
        outer, computed = self.segments, dict(self.computed)
        inner = Segments()
        self.segments = inner
        try:
            yield inner
        finally:
            self.segments = outer
            self.computed = computed

    def _write_loop(self, header: str, views: list[str], inner: Segments, writes: set[str]) -> None:
        """The loop over ``t`` as plain code; ``writes`` names the views of what it
        writes (so no per-sample code reading them moves before it)."""
        with self.plain_code() as lines:
            lines(header)
            with lines.indent():
                lines(*views)
                inner.write(lines)
        self.segments.writes_through(writes)

    def _sources(self, scan: Scan) -> list[Value]:
        """The stored sequences (computed before the loops, if they are expressions)."""
        return [self.values[self.materialize(sequence)] for sequence in scan.sequences]

    def _copy_rows(self, scan: Scan, sources: list[Value]) -> None:
        """Row ``_t`` of each sequence into its placeholder's temporary."""
        for placeholder, source in zip(scan.row_symbols, sources, strict=True):
            cols = source.cols
            key = self.temp(1, cols, BATCHED if source.batched else SHARED)
            value = self.values[key]
            self.values[placeholder] = value
            j = loop_index("_j", cols)
            with self._loops(("_b", "_nb", value.batched), ("_j", cols, cols > 1)):
                self.body(f"{value.access('0', j)} = {source.access('_t', j)}")

    # -- forward ---------------------------------------------------------------------------
    def scan_forward(self, scan: Scan, name: str, symbol: sp.Basic) -> Value:
        """Lower ``scan`` (computed into ``symbol``, named ``name``): its states into a
        stack, the loop over ``t``; returns its value (the stack itself for every state,
        else a view of the last state)."""
        step = self._step_program(scan)
        kind = self._scan_kind(scan)
        steps, width = scan.steps, scan.width
        sources = self._sources(scan)
        stack_name = name if scan.return_all else self.code.claim(f"{name}_steps")
        stack = Value(stack_name, steps, width, kind, "stack")
        self.temps.append(stack)
        first = self.code.claim(f"{stack_name}_0")
        self.aliases.append(f"{first} = {stack_name}[0]")
        self.assign(self._step_value(first, width, kind), scan.init)
        prev = self.code.claim(f"{stack_name}_prev")
        new = self.code.claim(f"{stack_name}_new")
        with self._loop_body() as inner:
            self.values[scan.state] = self._step_value(prev, width, kind)
            self._copy_rows(scan, sources)
            target = self._step_value(new, width, kind)
            statements = step.program.needed([step.root])
            for target_symbol, expr in statements:
                if target_symbol == step.root:
                    self.assign(target, expr)
                    self.values[target_symbol] = target
                else:
                    self._statement(target_symbol, expr, summed=False)
            if not any(target_symbol == step.root for target_symbol, _ in statements):
                self.assign(target, step.root)
        self._write_loop(
            f"for _t in range({steps}):  # the recurrence: state _t + 1 from state _t",
            [f"{prev} = {stack_name}[_t]", f"{new} = {stack_name}[_t + 1]"],
            inner,
            {stack_name, name},
        )
        self.scans[symbol] = (step, stack)
        if scan.return_all:
            return stack
        last = name  # claimed by the caller
        self.aliases.append(f"{last} = {stack_name}[{steps}]")
        return self._step_value(last, width, kind)

    # -- backward --------------------------------------------------------------------------
    def _wanted(self, grad: ScanGrad) -> list[int]:
        """The operands whose cotangents the program reads, for ``grad``'s scan and seed."""
        exprs = [e for _, e in self.program.statements] + [e for *_, e in self.program.gradients]
        found = set()
        for expr in exprs:
            for node in expr.atoms(ScanGrad):
                if node.out == grad.out and node.out_bar == grad.out_bar:
                    found.add(node.k)
        return sorted(found)

    def scan_backward(self, grad: ScanGrad) -> None:
        """The loop back over ``t``: every cotangent the program reads of ``grad``'s scan."""
        scan = grad.scan
        step, stack = self.scans[grad.out]
        steps, width = scan.steps, scan.width
        seed = self.values[self.materialize(grad.out_bar)]
        # per sample; or, for a scan that reads no data, the kind of its cotangent: summed
        # over the batch already (an adjoint the program keeps summed) or the same for all
        kind = BATCHED if seed.batched or stack.batched else seed.kind
        operands = scan.operands()
        wanted = self._wanted(grad)
        # the carried cotangent \bar h_t, starting from the scan's own
        carry = self.values[self.temp(1, width, kind)]
        if scan.return_all:
            self.assign(carry, sp.ZeroMatrix(1, width))
        else:
            self.assign(carry, grad.out_bar)
        results: dict[int, Value] = {}
        for k in wanted:
            operand = operands[k]
            if k == 0:
                results[k] = carry
            elif k <= len(scan.sequences):
                rows, cols = (int(d) for d in operand.shape)
                results[k] = self.values[self.temp(rows, cols, kind)]
            else:
                # a parameter's: summed over the steps and the batch
                shape = operand.shape if isinstance(operand, sp.MatrixExpr) else (1, 1)
                results[k] = self.values[self.temp(*(int(d) for d in shape), SUMMED)]
                self.zero(results[k])
        prev = self.code.claim(f"{stack.name}_prev")
        new = self.code.claim(f"{stack.name}_new")
        slots = {0: scan.state, **{1 + n: p for n, p in enumerate(scan.row_symbols)}}
        sources = self._sources(scan)
        with self._loop_body() as inner:
            self.values[scan.state] = self._step_value(prev, width, stack.kind)
            self.values[step.root] = self._step_value(new, width, stack.kind)
            self._copy_rows(scan, sources)
            cotangent = self.values[self.temp(1, width, kind)]
            self.values[step.cotangent] = cotangent
            gb = sp.MatrixSymbol(carry.name, 1, width)
            self.values[gb] = carry
            if scan.return_all:
                j = loop_index("_j", width)
                with self._loops(("_b", "_nb", kind == BATCHED), ("_j", width, width > 1)):
                    self.body(
                        f"{cotangent.access('0', j)} = {carry.access('0', j)} + "
                        f"{seed.access('_t', j)}"
                    )
            else:
                self.assign(cotangent, gb)
            outputs = {k: step.gradients[slots.get(k, operands[k])] for k in wanted if k != 0}
            carried = step.gradients[scan.state]
            statements = [s for s in step.program.statements if s[0] != step.root]
            needed = rewrite_dead_code(statements, [*outputs.values(), carried])
            summed = step.program.summed
            for symbol, expr in needed:
                self._statement(symbol, expr, summed=symbol in summed)
            for k, expr in outputs.items():
                value = results[k]
                if k <= len(scan.sequences):
                    cols = value.cols
                    j = loop_index("_j", cols)
                    text = self.scalar_text(expr, "0", j)
                    with self._loops(("_b", "_nb", value.batched), ("_j", cols, cols > 1)):
                        self.body(f"{value.access('_t', j)} = {text}")
                else:
                    self.accumulate(value, expr, first=False)
            self.assign(carry, carried)
        self._write_loop(
            f"for _t in range({steps - 1}, -1, -1):  # backpropagation through time",
            [f"{prev} = {stack.name}[_t]", f"{new} = {stack.name}[_t + 1]"],
            inner,
            {value.name for value in results.values()} | {carry.name},
        )
        for k in wanted:
            node = ScanGrad(scan, grad.out, grad.out_bar, k)
            key = sp.MatrixSymbol(results[k].name, *node.shape)
            self.values[key] = results[k]
            self.computed[node] = key

    def scalar_text(self, expr: sp.Basic, i: str, j: str) -> str: ...  # pragma: no cover
