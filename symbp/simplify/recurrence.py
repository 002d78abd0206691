"""Recurrences written as Python loops, rolled into the scans they are; always valid.

A loop over the rows of a sequence, ``h = tanh(X[t, :] Wx + h Wh + b) for t in ...``,
builds one expression per step: the same template applied to the previous step's
node and to the next row of ``X``. :func:`rewrite_recurrences` finds such chains in
the shared graph and replaces them by one :class:`~symbp.nodes.scan.Scan` node, so a
model written as a loop is derived and compiled exactly like ``nn.scan``: the step
once, backpropagation through time as a loop (an 8-unit RNN over 10 steps took 12.2 s
from ``Model()`` to its first gradient as straight matrix code, 110 s over 50; rolled,
4.7 and 5.3 s, as fast as ``nn.scan``).

How a chain is found, for each sequence ``P`` some of whose single rows are read:

* every node gets the set of rows of ``P`` it depends on (a bitmask, one pass);
* a node ``n`` whose newest row is ``r`` is a *step* when exactly one node ``p`` below it
  depends on all its rows but ``r`` and everything older flows through ``p``; its
  *template* is ``n`` with ``p`` replaced by the state placeholder and row ``r`` by the
  row placeholder;
* steps with equal templates over consecutive rows, each the previous one's ``p``, form
  a chain; a chain of at least :data:`MIN_STEPS` becomes a scan from its first ``p``
  over the rows it reads (a slice of ``P``). Chain nodes read outside the chain (a loss
  at every step) become rows of the scan's stacked states (``return_all``).

Several templates can chain the same loop (the state ``h_t``, or ``z_t``); the one whose
last node comes latest (``h_T``, which the loss reads) is rolled first, and the others
disappear with it. A scan's states are rows of a sequence too, so a second layer over
them is rolled in the next round. Steps reading two previous states (an LSTM's ``h`` and
``c``) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..nodes.graph import unique_nodes
from ..nodes.matrix import operands, substitute
from ..nodes.scan import ROW, STATE, Scan

#: Shorter chains are left unrolled (nothing to gain).
MIN_STEPS = 3


def _row_of(node: sp.Basic) -> tuple[sp.Basic, int] | None:
    """``(P, r)`` for a slice ``P[r, :]`` reading one whole row of ``P``."""
    if not isinstance(node, sp.MatrixSlice):
        return None
    (r0, r1, _), (c0, c1, _) = node.rowslice, node.colslice
    parent = node.parent
    if r1 != r0 + 1 or (c0, c1) != (0, parent.shape[1]) or parent.shape[0] < MIN_STEPS:
        return None
    return parent, int(r0)


@dataclass(frozen=True)
class Step:
    """A node ``n`` computed from its predecessor ``p`` and row ``r`` by ``template``."""

    node: sp.Basic
    previous: sp.Basic
    row: int
    template: sp.Basic


def _steps(expr: sp.Basic, parent: sp.Basic, order: list[sp.Basic]) -> list[Step]:
    """Every way a node of ``expr`` is one step of a recurrence over the rows of ``parent``."""
    mask: dict[sp.Basic, int] = {}
    rows: dict[int, sp.Basic] = {}
    for node in order:
        read = _row_of(node)
        if read is not None and read[0] == parent:
            mask[node] = 1 << read[1]
            rows[read[1]] = node
        else:
            mask[node] = 0
            for child in operands(node):
                mask[node] |= mask.get(child, 0)
    row = sp.MatrixSymbol(f"{ROW}0", 1, int(parent.shape[1]))
    steps = []
    for node in order:
        bits = mask[node]
        if not bits or not isinstance(node, sp.MatrixExpr) or node in rows.values():
            continue
        if node.shape[0] != 1:
            continue
        newest = bits.bit_length() - 1
        older = bits & ~(1 << newest)
        if not older or newest not in rows:
            continue
        state = sp.MatrixSymbol(STATE, 1, int(node.shape[1]))
        for previous in _previous(node, older, mask):
            if previous.shape != node.shape:
                continue
            template = substitute(node, {previous: state, rows[newest]: row})
            if any((r := _row_of(n)) and r[0] == parent for n in unique_nodes(template)):
                continue  # an older row read besides the state: not one step
            steps.append(Step(node, previous, newest, template))
    return steps


def _previous(node: sp.Basic, older: int, mask: dict[sp.Basic, int]) -> list[sp.Basic]:
    """The nodes below ``node`` that depend on exactly the rows ``older`` and that every
    path from ``node`` to an older row passes through (a path of them: ``h W``, ``h``,
    ``z``, each a possible state), nearest first."""
    found: set[sp.Basic] = set()
    stack, seen = [node], {node}
    while stack:
        current = stack.pop()
        for child in operands(current):
            bits = mask.get(child, 0)
            if child in seen or not bits & older:
                continue
            seen.add(child)
            if bits == older:
                found.add(child)
            elif bits & older == older:
                stack.append(child)  # still this step's region
            else:
                return []  # reads some older rows but not all: not a simple step
    if len(found) != 1:
        return []
    path = [found.pop()]
    while True:
        below = [c for c in operands(path[-1]) if mask.get(c, 0) & older]
        if len(below) != 1 or mask[below[0]] != older:
            return path
        path.append(below[0])


def _chains(steps: list[Step], order: list[sp.Basic]) -> list[list[Step]]:
    """Maximal chains of steps with one template over consecutive rows, each step's
    predecessor the previous step's node."""
    position = {node: k for k, node in enumerate(order)}
    chain: dict[tuple[sp.Basic, sp.Basic], list[Step]] = {}
    for step in sorted(steps, key=lambda s: position[s.node]):
        before = chain.get((step.previous, step.template))
        if before is not None and before[-1].row + 1 == step.row:
            chain[(step.node, step.template)] = [*before, step]
        else:
            chain[(step.node, step.template)] = [step]
    extended = {(c[-2].node, c[-2].template) for c in chain.values() if len(c) > 1}
    return [c for key, c in chain.items() if key not in extended and len(c) >= MIN_STEPS]


def _roll(expr: sp.Basic, parent: sp.Basic, chain: list[Step]) -> sp.Basic:
    """``expr`` with ``chain`` replaced by one scan over the rows it reads: the last
    state, or every state when a chain node is read elsewhere (a loss at every step)."""
    first, last = chain[0], chain[-1]
    state = sp.MatrixSymbol(STATE, 1, int(last.node.shape[1]))
    row = sp.MatrixSymbol(f"{ROW}0", 1, int(parent.shape[1]))
    sequence = sp.MatrixSlice(parent, (first.row, last.row + 1, 1), (0, parent.shape[1], 1))
    scan = Scan(first.template, state, (row,), first.previous, (sequence,), False)
    rolled = substitute(expr, {last.node: scan})
    inner = {step.node for step in chain[:-1]}
    if not inner & set(unique_nodes(rolled, children=operands)):
        return rolled
    stacked = Scan(first.template, state, (row,), first.previous, (sequence,), True)
    width = int(last.node.shape[1])
    mapping = {
        step.node: sp.MatrixSlice(stacked, (k, k + 1, 1), (0, width, 1))
        for k, step in enumerate(chain)
    }
    return substitute(expr, mapping)


def rewrite_recurrences(expr: sp.Basic) -> sp.Basic:
    """Roll every recurrence over the rows of a sequence into a scan (see the module
    docstring); a loss without one is returned as it is."""
    for _ in range(16):  # a round per recurrence: stacked layers roll one by one
        order = unique_nodes(expr, children=operands)
        parents = sorted(
            {read[0] for node in order if (read := _row_of(node))}, key=sp.default_sort_key
        )
        if not parents:
            return expr
        position = {node: k for k, node in enumerate(order)}
        best = None
        for parent in parents:
            for chain in _chains(_steps(expr, parent, order), order):
                key = (len(chain), position[chain[-1].node])
                if best is None or key > best[0]:
                    best = (key, parent, chain)
        if best is None:
            return expr
        _, parent, chain = best
        expr = _roll(expr, parent, chain)
    return expr


__all__ = ["MIN_STEPS", "rewrite_recurrences"]
