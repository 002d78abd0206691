"""The step of a scan as a program of its own: forward and reverse sweep of one step.

:func:`scan_step` derives ``sum(G o step(h, x_t))`` for a placeholder cotangent ``G``
(``1 x H``) with the matrix sweep, the state and row placeholders and the step's
parameters all differentiated: the forward statements are one step of the recurrence,
the adjoint statements one step of backpropagation through time (``G`` is ``\\bar h_t``;
the gradient for the state is ``\\bar h_{t-1}``, those for the parameters this step's
terms of their sums over ``t``). The kernels run the forward statements in a loop over
``t`` and the adjoint ones in a loop back (:mod:`symbp.emit.matrix.scan`); the LaTeX prints
them once (:mod:`symbp.explain.matrix`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..declare.variables import Variable
from ..derive.matrix import MatrixLevel
from ..derive.sweep import Derivation, sweep
from ..nodes.evaluate import EVALUATORS, evaluate, scan_states
from ..nodes.scan import Scan, ScanGrad
from .matrix import MatrixProgram, build_matrix_program

#: the placeholder of the cotangent of a step's output, ``\\bar h_t``
COTANGENT = "_g"


@dataclass(frozen=True)
class ScanStep:
    """One step of a scan and its adjoint, as a program.

    ``root`` is the program's symbol for the new state (or the expression of it, when
    the step is a bare placeholder); ``gradients`` maps each of the scan's operands
    (:meth:`Scan.operands`) to the symbol its per-step cotangent is written for: the
    state placeholder for ``init``, row placeholders for the sequences, the parameters
    themselves.
    """

    scan: Scan
    derivation: Derivation
    program: MatrixProgram
    cotangent: sp.MatrixSymbol
    root: sp.Basic
    #: placeholder or parameter -> its gradient expression (in the program's symbols)
    gradients: dict[sp.Basic, sp.Basic]


def _variable(symbol: sp.Basic, role: str) -> Variable:
    shape = tuple(int(d) for d in symbol.shape) if isinstance(symbol, sp.MatrixExpr) else ()
    return Variable(str(symbol), role, shape, symbol)


def scan_step(scan: Scan, tag: str, data: frozenset[sp.Basic] = frozenset()) -> ScanStep:
    """The step of ``scan`` derived with step names ``_<tag>V<k>``; ``data`` are the
    model's per-sample symbols (inputs and targets the step reads get no gradient)."""
    cotangent = sp.MatrixSymbol(COTANGENT, 1, scan.width)
    placeholders = [scan.state, *scan.row_symbols]
    variables = [_variable(p, "params") for p in placeholders]
    variables += [_variable(s, "inputs" if s in data else "params") for s in scan.params()]
    variables.append(_variable(cotangent, "inputs"))
    loss = sp.MatMul(scan.body, cotangent.T)
    derivation = sweep(loss, tuple(variables), MatrixLevel(tag))
    root = next((s.target for s in derivation.forward if s.node == scan.body), scan.body)
    per_sample = frozenset(placeholders) | {cotangent} | (frozenset(scan.params()) & data)
    program = build_matrix_program(derivation, frozenset({root}), per_sample)
    by_name = {v.name: v.symbol for v in variables}
    gradients = {by_name[name]: expr for name, _, expr in program.gradients}
    return ScanStep(scan, derivation, program, cotangent, root, gradients)


def evaluate_scan_grad(node: ScanGrad, env: Mapping[sp.Basic, Any]) -> Any:
    """The reference value of a scan's cotangent (NumPy, float64): the step's adjoint
    program evaluated step by step, back from ``T`` (for :mod:`symbp.nodes.evaluate`)."""
    scan = node.scan
    step = scan_step(scan, "r")
    states = scan_states(scan, env)
    sequences = [evaluate(seq, env) for seq in scan.sequences]
    seed = evaluate(node.out_bar, env)
    carry = np.zeros((1, scan.width)) if scan.return_all else seed.reshape(1, -1)
    operand = scan.operands()[node.k]
    slot = scan.state if node.k == 0 else None
    if 1 <= node.k <= len(scan.sequences):
        slot = scan.row_symbols[node.k - 1]
    total = 0.0
    rows = []
    for t in range(scan.steps - 1, -1, -1):
        g = carry + (seed[t : t + 1] if scan.return_all else 0.0)
        local = {**env, scan.state: states[t : t + 1], step.cotangent: g}
        local.update({r: s[t : t + 1] for r, s in zip(scan.row_symbols, sequences, strict=True)})
        for target, expr in step.program.statements:
            local[target] = evaluate(expr, local)
        if slot is None:
            total = total + evaluate(step.gradients[operand], local)
        elif node.k > 0:
            rows.append(evaluate(step.gradients[slot], local))
        carry = np.asarray(evaluate(step.gradients[scan.state], local)).reshape(1, -1)
    if node.k == 0:
        return carry
    if slot is not None:
        return np.vstack(rows[::-1])
    return np.asarray(total).reshape(1, 1) if not isinstance(operand, sp.MatrixExpr) else total


EVALUATORS[ScanGrad] = evaluate_scan_grad
