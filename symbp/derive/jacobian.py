"""Jacobians: the derivative of every entry of a per-sample vector by every parameter.

The entries (a model's residuals, or the entries of one of its outputs) share one
forward pass over the shared expression graph (:func:`symbp.derive.sweep.forward_pass`
of their tuple); each entry then gets a reverse sweep of its own from that forward pass
(:func:`symbp.derive.sweep.reverse`), which touches only the nodes the entry depends
on: its gradient is one row of the Jacobian. At the matrix level an entry is an element
read ``R[i, j]`` of a matrix expression, a matrix-level node whose adjoint is a unit
matrix: nothing is unrolled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from ..declare.variables import Variable
from .sweep import Derivation, Step, SweepLevel, forward_pass, reverse


@dataclass(frozen=True)
class JacobianDerivation:
    """The sweeps of a Jacobian: ``derivation`` holds the shared forward steps and every
    row's adjoint steps (its ``loss`` and ``gradients`` are unused), ``values`` each entry
    in the steps' symbols, ``rows[k]`` entry ``k``'s gradient: (param name, element
    index) -> expression (index ``()`` for a whole matrix at the matrix level)."""

    derivation: Derivation
    values: tuple[sp.Basic, ...]
    rows: tuple[dict[tuple[str, tuple[int, ...]], sp.Basic], ...]


def jacobian_derivation(
    entries: Sequence[sp.Basic], variables: tuple[Variable, ...], level: SweepLevel
) -> JacobianDerivation:
    """One forward pass over ``entries`` (scalar expressions) and one reverse sweep per entry."""
    fwd = forward_pass(sp.Tuple(*entries), variables, level)
    adjoint: list[Step] = []
    rows = []
    for k, entry in enumerate(entries):
        steps, gradients = reverse(fwd, entry, variables, level, suffix=f"_{k}")
        adjoint += steps
        rows.append(gradients)
    derivation = Derivation(
        variables=variables,
        leaves=fwd.leaves,
        forward=tuple(fwd.steps),
        adjoint=tuple(adjoint),
        loss=sp.S.Zero,
        gradients={},
    )
    values = tuple(fwd.ref.get(entry, entry) for entry in entries)
    return JacobianDerivation(derivation, values, tuple(rows))
